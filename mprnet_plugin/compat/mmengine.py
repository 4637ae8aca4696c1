"""MMEngine 0.10.7 on machines without a GPU: every change to its behaviour, in one place.

``apply_mmengine_fixes(cfg)`` is the one call; the MMEngine launchers make it before the Runner is built.
MMEngine's ``_init_dist_pytorch`` and ``_init_dist_slurm`` always call ``torch.cuda.set_device``, and its Runner
passes ``device_ids=[LOCAL_RANK]`` to DDP, which refuses ids for a CPU module. The process group is started here
(the Runner skips its own start-up when one is up) and the model wrapper is ``AnyDeviceDistributedDataParallel``.
The checkpoint side (MMEngine's pickled log buffers) is ``mprnet_plugin.checkpoints.safe_loading``'s.
"""
from __future__ import annotations

import datetime
import os
from typing import Any

import torch
import torch.distributed as dist

from mprnet_plugin.runtime.distributed import slurm_environment


def init_mmengine_cpu_distributed(launcher: str, backend: str = 'gloo', timeout_s: int = 1800) -> bool:
    """Start ``torch.distributed`` with ``backend`` for MMEngine's ``pytorch``/``slurm`` launchers when there is no GPU.

    MMEngine 0.10.7's ``_init_dist_pytorch`` and ``_init_dist_slurm`` always call ``torch.cuda.set_device``, so a
    CPU-only multi-process run dies before the process group exists. The Runner skips its own initialisation when a
    group is already up, so starting it here (from torchrun's or SLURM's environment) is enough. Returns True when
    this call created the group; False on CUDA machines, for ``launcher='none'``, or when a group already exists.
    """
    if launcher == 'none' or torch.cuda.is_available() or dist.is_initialized():
        return False
    if launcher == 'slurm':
        slurm_environment()
    elif launcher != 'pytorch':
        raise ValueError(f'--launcher {launcher!r} cannot run on CPU; expected one of none, pytorch, slurm')
    missing = [k for k in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT') if k not in os.environ]
    if missing:
        raise RuntimeError(f'--launcher {launcher} needs the environment variables {missing}; start the job with '
                           'torchrun (--launcher pytorch) or srun (--launcher slurm)')
    os.environ.setdefault('LOCAL_RANK', os.environ['RANK'])
    dist.init_process_group(backend, timeout=datetime.timedelta(seconds=timeout_s))
    return True


def apply_mmengine_fixes(cfg: Any) -> None:
    """Before the Runner is built: start a CPU process group (gloo) and use the any-device DDP wrapper."""
    if cfg.launcher == 'none':
        return
    backend = cfg.get('env_cfg', {}).get('dist_cfg', {}).get('backend')
    init_mmengine_cpu_distributed(cfg.launcher, 'gloo' if backend in (None, 'nccl') else backend)
    if cfg.get('model_wrapper_cfg') is None:
        cfg.model_wrapper_cfg = dict(type='AnyDeviceDistributedDataParallel')
