"""A DistributedDataParallel wrapper for MMEngine that also runs on CPU (gloo)."""
from __future__ import annotations

from typing import Any, Optional, Sequence

from mmengine.model import MMDistributedDataParallel
from mmengine.registry import MODEL_WRAPPERS
from torch import nn

from mprnet_plugin.runtime.distributed import ddp_device_ids


@MODEL_WRAPPERS.register_module()
class AnyDeviceDistributedDataParallel(MMDistributedDataParallel):
    """``MMDistributedDataParallel`` that drops ``device_ids`` when the model lives on the CPU.

    MMEngine's Runner always passes ``device_ids=[LOCAL_RANK]``, which DistributedDataParallel rejects for a CPU
    module; on a GPU the ids are kept as given.
    """

    def __init__(self, module: nn.Module, device_ids: Optional[Sequence[int]] = None, **kwargs: Any) -> None:
        device = next(module.parameters()).device
        if ddp_device_ids(device) is None:
            device_ids = None
        super().__init__(module=module, device_ids=device_ids, **kwargs)
