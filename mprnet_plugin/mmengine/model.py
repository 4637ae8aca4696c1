"""MPRNet as an MMEngine model: the same network and loss as the BasicSR side, in MMEngine's three modes."""
from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional, Sequence, Union

import torch
from mmengine.logging import print_log
from mmengine.model import BaseModel
from mmengine.registry import MODELS
from torch import Tensor

from basicsr.utils.registry import ARCH_REGISTRY, LOSS_REGISTRY
from mprnet_plugin.checkpoints.fitting import fit_checkpoint
from mprnet_plugin.losses.stage_outputs import stage_loss_terms
from mprnet_plugin.archs.descriptor import network_size_multiple
from mprnet_plugin.inference.compiled import CompiledNetwork
from mprnet_plugin.inference.tiling import restore
from mprnet_plugin.runtime.precision import autocast, check_inference_precision
from mprnet_plugin.training.batch_augment import parse_saturation_option, saturation_jitter
from mprnet_plugin.training.identity_init import zero_residual_outputs

ForwardResult = Union[Dict[str, Tensor], List[Dict[str, Any]], List[Tensor]]


def build_from_basicsr(registry: Any, cfg: Dict[str, Any], what: str) -> torch.nn.Module:
    """Build ``cfg['type']`` from a BasicSR registry with the remaining keys as arguments."""
    cfg = dict(cfg)
    if 'type' not in cfg:
        raise KeyError(f'MPRNetRestorer: the {what} config needs a "type"; got keys {sorted(cfg)}')
    return registry.get(cfg.pop('type'))(**cfg)


@MODELS.register_module()
class MPRNetRestorer(BaseModel):
    """MPRNet (or any network in BasicSR's ARCH_REGISTRY) trained with ``MPRNetLoss``, for MMEngine's Runner.

    Training uses the same core pieces as the BasicSR ``MPRNetModel``: stage outputs and their loss terms (a network
    with one output is one stage), saturation jitter, identity init and the checkpoint-fitting policy. Gradient
    accumulation is MMEngine's own: ``optim_wrapper=dict(..., accumulative_counts=N)``.

    The network is kept in the attribute ``generator``: MMEngine checkpoints then hold ``generator.*`` keys, which
    ``mprnet_plugin.checkpoints.reading`` strips, so ``mprnet-infer`` and the BasicSR side load them directly.

    Args:
        generator: network config, e.g. ``dict(type='MPRNet', preset='deblurring')``.
        loss: loss config, e.g. ``dict(type='MPRNetLoss', edge_weight=0.05)``; a loss with ``.terms()`` is logged
            per term and stage, any other loss per stage (``loss_pix_<i>``).
        data_preprocessor: default ``RestorationDataPreprocessor``.
        tile / tile_overlap / tile_batch: restore validation images in tiles (None: whole images, padded to 8).
        pretrained / pretrained_key: weights to start from, in any layout ``mprnet_plugin.checkpoints.reading`` reads;
            ``pretrained_strict=False`` loads the weights that fit and warns about the rest.
        identity_init: without ``pretrained``, zero the layers that add each stage's residual to its input image, so
            training starts from the identity (as the BasicSR side's ``train.identity_init``; for short schedules).
        saturation_jitter: ``dict(prob=0.333, range=(0.8, 1.2))``: the authors' GoPro augmentation on each training
            batch, the same factor on input and target (as the BasicSR side's ``train.saturation_jitter``).
        precision: ``'fp32'``, ``'bf16'`` (CUDA or the CPU) or ``'fp16'`` (CUDA only): autocast of validation and
            testing (``--precision`` of the test launcher); outputs are float32.
        compile: validate and test through ``torch.compile`` (``inference.compiled``: dynamic shapes, eager
            fall-back; ``--compile`` of the test launcher).
    """

    def __init__(self, generator: Dict[str, Any], loss: Optional[Dict[str, Any]] = None,
                 data_preprocessor: Optional[Dict[str, Any]] = None, tile: Optional[int] = None,
                 tile_overlap: int = 32, tile_batch: int = 1, pretrained: Optional[str] = None,
                 pretrained_key: Optional[str] = None, identity_init: bool = False, pretrained_strict: bool = True,
                 saturation_jitter: Optional[Dict[str, Any]] = None, init_cfg: Optional[Dict[str, Any]] = None,
                 precision: str = 'fp32', compile: bool = False) -> None:
        super().__init__(data_preprocessor=data_preprocessor or dict(type='RestorationDataPreprocessor'),
                         init_cfg=init_cfg)
        self.generator = build_from_basicsr(ARCH_REGISTRY, generator, 'generator')
        self.loss = build_from_basicsr(LOSS_REGISTRY, loss or dict(type='MPRNetLoss'), 'loss')
        self.tile, self.tile_overlap, self.tile_batch = tile, tile_overlap, tile_batch
        self.saturation = parse_saturation_option(saturation_jitter, 'model.saturation_jitter')
        check_inference_precision(precision, torch.device('cuda'), 'model.precision:')  # the device is checked later
        self.precision, self.compile = precision, bool(compile)
        self.compiled: Optional[CompiledNetwork] = None
        if pretrained:
            fit_checkpoint(self.generator, pretrained, strict=pretrained_strict, key=pretrained_key,
                           warn=lambda text: print_log(text, logger='current', level=logging.WARNING))
        elif identity_init:
            zero_residual_outputs(self.generator)

    def forward(self, inputs: Tensor, data_samples: Optional[Sequence[Dict[str, Any]]] = None,
                mode: str = 'tensor') -> ForwardResult:
        """``'loss'``: named loss terms; ``'predict'``: one result dict per sample; ``'tensor'``: raw outputs."""
        if mode == 'loss':
            target = stack_targets(data_samples, 'loss')
            if self.training and self.saturation is not None:
                # Here rather than in train_step: MMEngine's DDP wrapper runs its own train_step, then this forward.
                inputs, target = saturation_jitter(inputs, target, *self.saturation)
            return self.loss_terms(self.generator(inputs), target)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            return self.generator(inputs)
        raise ValueError(f'MPRNetRestorer: mode must be loss, predict or tensor; got {mode!r}')

    def loss_terms(self, outputs: Union[Tensor, Sequence[Tensor]], target: Tensor) -> Dict[str, Tensor]:
        """Each stage's weighted terms (float32), named so that MMEngine sums them (its keys must contain ``loss``)."""
        return {f'loss_{name[2:] if name.startswith("l_") else name}': value
                for name, value in stage_loss_terms(self.loss, outputs, target).items()}

    def prediction_forward(self) -> Any:
        """The generator, or with ``compile`` its compiled form (built on first use; not a sub-module)."""
        if not self.compile:
            return self.generator
        if self.compiled is None:
            self.compiled = CompiledNetwork(
                self.generator, notify=lambda text: print_log(text, logger='current', level=logging.WARNING),
                inform=lambda text: print_log(text, logger='current'))
        return self.compiled

    @torch.no_grad()
    def predict(self, inputs: Tensor, data_samples: Optional[Sequence[Dict[str, Any]]] = None) -> List[Dict[str, Any]]:
        """Restore ``inputs`` of any size (padded to 8 and cropped back, tiled if set), in ``precision``, compiled if
        set; outputs float32, clamped to [0, 1]."""
        check_inference_precision(self.precision, inputs.device, 'model.precision:')
        with autocast(inputs.device, self.precision):
            preds = restore(self.prediction_forward(), inputs, tile=self.tile, overlap=self.tile_overlap,
                            multiple=network_size_multiple(self.generator), tile_batch=self.tile_batch)
        preds = preds.float().clamp_(0, 1)
        samples = list(data_samples) if data_samples is not None else [dict() for _ in range(len(preds))]
        return [dict(sample, pred=pred) for sample, pred in zip(samples, preds)]


def stack_targets(data_samples: Optional[Sequence[Dict[str, Any]]], mode: str) -> Tensor:
    """The samples' ``gt`` images as one (N, C, H, W) tensor; a clear error when any is missing."""
    if not data_samples or any(not isinstance(s.get('gt'), Tensor) for s in data_samples):
        raise ValueError(f'MPRNetRestorer: mode={mode!r} needs a "gt" image in every data sample')
    return torch.stack([s['gt'] for s in data_samples])
