"""MPRNet's width presets (the three published checkpoints) and its constructor arguments read off a state dict."""
from __future__ import annotations

from typing import Dict, Mapping, Tuple

from torch import Tensor

# Presets are data: the width settings of the three published checkpoints.
MPRNET_PRESETS: Dict[str, Dict[str, int]] = {
    'deblurring': dict(n_feat=96, scale_unetfeats=48, scale_orsnetfeats=32),
    'denoising': dict(n_feat=80, scale_unetfeats=48, scale_orsnetfeats=32),
    'deraining': dict(n_feat=40, scale_unetfeats=20, scale_orsnetfeats=16),
}


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
