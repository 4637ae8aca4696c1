"""MPRNet's training losses: Charbonnier, the Laplacian edge loss, and their sum over the stage outputs."""
from __future__ import annotations

from typing import Dict, List, Sequence, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from basicsr.utils.registry import LOSS_REGISTRY

# 1-D binomial-like taps of the authors' Gaussian pyramid kernel.
_GAUSS_TAPS = (0.05, 0.25, 0.4, 0.25, 0.05)


def charbonnier(pred: Tensor, target: Tensor, eps: float = 1e-3) -> Tensor:
    """``mean(sqrt((pred - target)^2 + eps^2))``, the smooth L1 MPRNet trains with."""
    diff = pred - target
    return torch.sqrt(diff * diff + eps * eps).mean()


@LOSS_REGISTRY.register()
class EdgeLoss(nn.Module):
    """Charbonnier distance between the Laplacians (Gaussian-pyramid band-pass) of a prediction and its target."""

    def __init__(self, eps: float = 1e-3, loss_weight: float = 1.0) -> None:
        super().__init__()
        self.eps, self.loss_weight = eps, loss_weight
        taps = torch.tensor(_GAUSS_TAPS)
        # Not persistent: the kernel is a constant, and wrapper models' checkpoints should not carry it.
        self.register_buffer('kernel', torch.outer(taps, taps)[None, None], persistent=False)

    def _gauss(self, img: Tensor) -> Tensor:
        channels = img.shape[1]
        kernel = self.kernel.to(dtype=img.dtype).expand(channels, 1, 5, 5)
        return F.conv2d(F.pad(img, (2, 2, 2, 2), mode='replicate'), kernel, groups=channels)

    def laplacian(self, img: Tensor) -> Tensor:
        """``img - gauss(upsampled(downsampled(gauss(img))))``, the band-pass the loss compares."""
        filtered = self._gauss(img)
        sparse = torch.zeros_like(filtered)
        sparse[..., ::2, ::2] = 4 * filtered[..., ::2, ::2]
        return img - self._gauss(sparse)

    def forward(self, pred: Tensor, target: Tensor) -> Tensor:
        return self.loss_weight * charbonnier(self.laplacian(pred), self.laplacian(target), self.eps)


@LOSS_REGISTRY.register()
class MPRNetLoss(nn.Module):
    """The multi-stage loss: ``sum_i charbonnier(out_i, gt) + edge_weight * sum_i edge(out_i, gt)``.

    ``edge_weight=0, clamp_outputs=True`` gives the denoising loss (Charbonnier on outputs clamped to [0, 1]).
    """

    def __init__(self, charbonnier_eps: float = 1e-3, edge_weight: float = 0.05, clamp_outputs: bool = False,
                 loss_weight: float = 1.0) -> None:
        super().__init__()
        self.charbonnier_eps, self.edge_weight = charbonnier_eps, edge_weight
        self.clamp_outputs, self.loss_weight = clamp_outputs, loss_weight
        self.edge = EdgeLoss(eps=charbonnier_eps)

    def terms(self, preds: Union[Tensor, Sequence[Tensor]], target: Tensor) -> Dict[str, Tensor]:
        """Each stage's weighted terms, named ``l_char_<i>`` and ``l_edge_<i>`` (stage 0 is the final output)."""
        outputs: List[Tensor] = [preds] if isinstance(preds, Tensor) else list(preds)
        if not outputs:
            raise ValueError('MPRNetLoss: got an empty list of predictions')
        terms: Dict[str, Tensor] = {}
        for i, out in enumerate(outputs):
            if out.shape != target.shape:
                raise ValueError(f'MPRNetLoss: prediction {i} has shape {tuple(out.shape)}, '
                                 f'target has {tuple(target.shape)}')
            if self.clamp_outputs:
                out = out.clamp(0, 1)
            terms[f'l_char_{i}'] = self.loss_weight * charbonnier(out, target, self.charbonnier_eps)
            if self.edge_weight:
                terms[f'l_edge_{i}'] = self.loss_weight * self.edge_weight * self.edge(out, target)
        return terms

    def forward(self, preds: Union[Tensor, Sequence[Tensor]], target: Tensor) -> Tensor:
        return torch.stack(list(self.terms(preds, target).values())).sum()
