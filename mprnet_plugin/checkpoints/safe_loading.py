"""The unpickling policy for checkpoints: what ``torch.load(weights_only=True)`` may admit, and for whom.

Weights a user hands in are read with numpy's data types and inert stand-ins for MMEngine's log buffers; ``getattr``
and MMEngine's real ``HistoryBuffer`` are admitted only for MMEngine's resume of its own run
(``mprnet_plugin.mmengine.runner``).
"""
from __future__ import annotations

import numpy as np


def numpy_checkpoint_safe_globals() -> list:
    """The numpy types MMEngine pickles into checkpoint meta (seeds, arrays): data types, no callable of note."""
    np_multiarray = np._core.multiarray if hasattr(np, '_core') else np.core.multiarray
    safe = [np.ndarray, np.dtype, np_multiarray._reconstruct, np_multiarray.scalar]
    return safe + [type(np.dtype(t)) for t in ('float64', 'float32', 'int64', 'int32', 'bool', 'uint8')]


def mmengine_checkpoint_safe_globals() -> list:
    """Everything MMEngine pickles into its checkpoints (empty when mmengine is not installed).

    Its message hub holds ``HistoryBuffer`` log buffers, whose statistics table pickles as
    ``getattr(HistoryBuffer, name)``. Only for MMEngine's resume of its own run (``mprnet_plugin.mmengine.runner``
    scopes it to that one load): ``getattr`` must never be admitted for weights a user hands in.
    """
    try:  # loaded on use: reading weights must not import mmengine
        from mmengine.logging import HistoryBuffer
    except ImportError:
        return []
    return [HistoryBuffer, getattr] + numpy_checkpoint_safe_globals()


class RefusedGlobal(ValueError):
    """A pickled call that a weights file has no reason to make."""


class UnreadLogBuffer:
    """Stands in for MMEngine's ``HistoryBuffer`` when only weights are read: keeps the pickled state, runs nothing."""

    def __setstate__(self, state: object) -> None:
        self.state = state


def unread_attribute(owner: object, name: str) -> str:
    """Stands in for ``getattr``: names a log buffer's statistic without looking it up; refuses any other use."""
    if owner is not UnreadLogBuffer:
        raise RefusedGlobal(f'it calls getattr({getattr(owner, "__qualname__", type(owner).__name__)}, {name!r}), '
                            'which no weights file needs')
    return f'HistoryBuffer.{name}'


def mmengine_weights_safe_globals() -> list:
    """What reading the weights of any checkpoint (MMEngine's included) may unpickle: numpy's types, and inert
    stand-ins under the names of ``HistoryBuffer`` and ``getattr`` (for ``torch.serialization.safe_globals``)."""
    return numpy_checkpoint_safe_globals() + [
        (UnreadLogBuffer, 'mmengine.logging.history_buffer.HistoryBuffer'),
        (unread_attribute, 'builtins.getattr'),
    ]


