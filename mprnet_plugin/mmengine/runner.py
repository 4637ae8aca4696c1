"""MMEngine's Runner with every checkpoint load scoped to what it needs.

torch >= 2.6 loads with ``weights_only=True``, which refuses MMEngine's own checkpoints (their log buffers pickle
``getattr``). Only the resume of a run needs those types, so only ``resume`` admits them, for that one load; weights
handed in through ``load_from`` go through the plugin's reader (any layout, ``.safetensors`` too, never ``getattr``).
"""
from __future__ import annotations

from typing import Any, Callable, Union

import torch
from mmengine.model import is_model_wrapper
from mmengine.registry import RUNNERS
from mmengine.runner import Runner
from mmengine.runner.checkpoint import _load_checkpoint_to_model
from torch import nn

from mprnet_plugin.checkpoints import load_mprnet_checkpoint, read_checkpoint
from mprnet_plugin.checkpoints.safe_loading import mmengine_checkpoint_safe_globals


@RUNNERS.register_module()
class MPRNetRunner(Runner):
    """A Runner whose ``resume`` alone admits MMEngine's pickled types and whose ``load_from`` reads any layout."""

    _resuming = False

    def resume(self, filename: str, *args: Any, **kwargs: Any) -> None:
        """MMEngine's resume, with its checkpoint types allowed for this load only."""
        self._resuming = True
        try:
            with torch.serialization.safe_globals(mmengine_checkpoint_safe_globals()):
                super().resume(filename, *args, **kwargs)
        finally:
            self._resuming = False

    def load_checkpoint(self, filename: str, map_location: Union[str, Callable] = 'cpu', strict: bool = False,
                        revise_keys: list = [(r'^module.', '')]) -> dict:  # noqa: B006  (MMEngine's signature)
        """Resume: MMEngine's loader. ``load_from``: the plugin's reader; an MPRNet generator loads strictly."""
        if self._resuming:
            return super().load_checkpoint(filename, map_location, strict, revise_keys)
        checkpoint = read_checkpoint(filename)
        self.call_hook('after_load_checkpoint', checkpoint=checkpoint)
        model = self.model.module if is_model_wrapper(self.model) else self.model
        generator = getattr(model, 'generator', None)
        if isinstance(generator, nn.Module):
            # Any layout (authors', BasicSR, MMEngine, bare, safetensors) maps onto the network, checked key by key.
            load_mprnet_checkpoint(generator, filename)
        else:
            _load_checkpoint_to_model(model, checkpoint, strict, revise_keys=revise_keys)
        self._has_loaded = True
        self.logger.info(f'Load checkpoint from {filename}')
        return checkpoint
