"""Inference: padding and tiling (``tiling``), the ``Restorer`` (``restorer``), ONNX/TorchScript export (``export``).

``Restorer`` and the rest of the image API are loaded on first use, so importing the tiling functions stays light.
"""
from mprnet_plugin.inference.tiling import pad_to_multiple, restore, restore_tiled, restore_with_fallback

__all__ = ['pad_to_multiple', 'restore', 'restore_tiled', 'restore_with_fallback', 'Restorer', 'NonFiniteError',
           'OutOfRangeError']


def __getattr__(name: str):
    # mprnet_plugin.inference.Restorer and .NonFiniteError, the paths 0.1 documented.
    if name in ('Restorer', 'NonFiniteError', 'OutOfRangeError'):
        from mprnet_plugin.inference import restorer
        return getattr(restorer, name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
