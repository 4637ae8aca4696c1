"""Distributed start-up facts both hosts' fixes share: SLURM's environment, and DDP's device ids on any device."""
from __future__ import annotations

import os
import subprocess
from typing import List, Optional

import torch


def slurm_environment(port: Optional[int] = None) -> int:
    """Set the torch.distributed variables from SLURM's; returns the local rank."""
    proc_id, ntasks = int(os.environ['SLURM_PROCID']), int(os.environ['SLURM_NTASKS'])
    local_rank = int(os.environ.get('SLURM_LOCALID', proc_id % max(torch.cuda.device_count(), 1)))
    node_list = os.environ['SLURM_NODELIST']
    os.environ['MASTER_ADDR'] = subprocess.getoutput(f'scontrol show hostname {node_list} | head -n1')
    if port is not None:
        os.environ['MASTER_PORT'] = str(port)
    os.environ.setdefault('MASTER_PORT', '29500')  # torch.distributed's default port
    os.environ.update(WORLD_SIZE=str(ntasks), RANK=str(proc_id), LOCAL_RANK=str(local_rank))
    return local_rank


def ddp_device_ids(device: object) -> Optional[List[int]]:
    """``device_ids`` for DistributedDataParallel: the current GPU on CUDA, None on CPU (where DDP refuses ids)."""
    return [torch.cuda.current_device()] if torch.device(device).type == 'cuda' else None
