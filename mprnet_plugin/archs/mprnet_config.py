"""MPRNet's width presets (the three published checkpoints), the check of its constructor arguments, and those
arguments read off a state dict."""
from __future__ import annotations

from typing import Any, Dict, Mapping, Optional, Tuple

from torch import Tensor

from .grad_checkpointing import parse_grad_checkpointing

# Presets are data: the width settings of the three published checkpoints.
MPRNET_PRESETS: Dict[str, Dict[str, int]] = {
    'deblurring': dict(n_feat=96, scale_unetfeats=48, scale_orsnetfeats=32),
    'denoising': dict(n_feat=80, scale_unetfeats=48, scale_orsnetfeats=32),
    'deraining': dict(n_feat=40, scale_unetfeats=20, scale_orsnetfeats=16),
}


class MPRNetArgumentError(ValueError):
    """A bad MPRNet constructor argument: ``argument`` names it, ``found`` is its value, ``expected`` the rule."""

    def __init__(self, argument: str, found: Any, expected: str, message: Optional[str] = None) -> None:
        self.argument, self.found, self.expected = argument, found, expected
        super().__init__(message or f'MPRNet: {argument} must be {expected}; got {found!r}')


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_mprnet_arguments(in_c: Any = 3, out_c: Any = 3, n_feat: Any = None, scale_unetfeats: Any = None,
                           scale_orsnetfeats: Any = None, num_cab: Any = 8, kernel_size: Any = 3, reduction: Any = 4,
                           bias: Any = False, preset: Any = 'deblurring', channels_last: Any = True,
                           grad_checkpointing: Any = False, fused_ops: Any = True) -> Dict[str, int]:
    """Refuse MPRNet arguments that would fail at forward (or silently misbehave); returns the resolved widths.

    Raises ``MPRNetArgumentError`` (a ValueError) naming the first bad argument. The defaults are MPRNet's.
    """
    try:
        parse_grad_checkpointing(grad_checkpointing, 'MPRNet: grad_checkpointing')
    except ValueError as exc:
        raise MPRNetArgumentError('grad_checkpointing', grad_checkpointing, "false, true, 'cab' or 'stage'",
                                  str(exc)) from exc
    if not isinstance(preset, str) or preset not in MPRNET_PRESETS:
        raise MPRNetArgumentError('preset', preset, f'one of {sorted(MPRNET_PRESETS)}',
                                  f'MPRNet: unknown preset {preset!r}; expected one of {sorted(MPRNET_PRESETS)}')
    widths = dict(MPRNET_PRESETS[preset])
    given: Dict[str, Optional[Any]] = dict(n_feat=n_feat, scale_unetfeats=scale_unetfeats,
                                           scale_orsnetfeats=scale_orsnetfeats)
    widths.update({key: value for key, value in given.items() if value is not None})
    sizes = (('in_c', in_c), ('out_c', out_c), *widths.items(), ('num_cab', num_cab), ('kernel_size', kernel_size),
             ('reduction', reduction))
    for key, value in sizes:
        if not _is_int(value) or value < 1:
            raise MPRNetArgumentError(key, value, 'a positive integer')
    if in_c != out_c:
        raise MPRNetArgumentError('out_c', out_c, f'equal to in_c ({in_c}): every stage adds its input image')
    # Convolutions pad by kernel_size // 2, which keeps the size only for odd kernels; the residuals then mismatch.
    if kernel_size % 2 == 0:
        raise MPRNetArgumentError('kernel_size', kernel_size, 'an odd positive integer (3, 5, ...)')
    # Channel attention squeezes n_feat channels (the narrowest width) to n_feat // reduction: at least one.
    if widths['n_feat'] // reduction < 1:
        raise MPRNetArgumentError('reduction', reduction, f'at most n_feat ({widths["n_feat"]}): channel attention '
                                  'squeezes n_feat // reduction channels')
    for key, value in (('bias', bias), ('channels_last', channels_last), ('fused_ops', fused_ops)):
        if not isinstance(value, bool):
            raise MPRNetArgumentError(key, value, 'true or false')
    return widths


def infer_mprnet_config(state_dict: Mapping[str, Tensor]) -> Dict[str, object]:
    """Constructor arguments of the MPRNet that ``state_dict`` came from, worked out from its shapes."""
    def shape(key: str) -> Tuple[int, ...]:
        if key not in state_dict:
            raise KeyError(f'not an MPRNet state dict: key {key!r} is missing')
        return tuple(state_dict[key].shape)

    first = shape('shallow_feat1.0.weight')
    n = first[0]
    s = shape('stage1_encoder.encoder_level2.0.body.0.weight')[0] - n
    o = shape('stage3_orsnet.orb1.body.0.body.0.weight')[0] - n
    cab_indices = {int(key.split('.')[3]) for key in state_dict if key.startswith('stage3_orsnet.orb1.body.')}
    reduced = shape('shallow_feat1.1.CA.conv_du.0.weight')[0]
    return dict(in_c=first[1], out_c=shape('tail.weight')[0], n_feat=n, scale_unetfeats=s, scale_orsnetfeats=o,
                num_cab=max(cab_indices), kernel_size=first[2], reduction=n // reduced,
                bias='shallow_feat1.0.bias' in state_dict)
