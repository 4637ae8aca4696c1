"""Every fix to the host frameworks' behaviour on today's stack, in one place.

basicsr 1.4.2 (2022) and mmengine 0.10.7 predate torch >= 2.6 and torchvision >= 0.17. Each fix below says why it
exists. Fixes that change host behaviour at run time are applied by small functions the host layers call; the one
that must happen before ``import basicsr`` runs at import of this module.
"""
from __future__ import annotations

import importlib
import importlib.util
import sys


def install_torchvision_functional_tensor_alias() -> bool:
    """Alias ``torchvision.transforms.functional_tensor`` to ``functional`` when torchvision no longer ships it.

    basicsr/data/degradations.py imports the old module name, which torchvision removed in 0.17; without the alias
    ``import basicsr`` fails. Returns True when the alias was installed.
    """
    name = 'torchvision.transforms.functional_tensor'
    if name in sys.modules:
        return False
    try:
        if importlib.util.find_spec(name) is not None:
            return False
    except ModuleNotFoundError:  # torchvision itself is missing: nothing to alias, basicsr will say so
        return False
    sys.modules[name] = importlib.import_module('torchvision.transforms.functional')
    return True


install_torchvision_functional_tensor_alias()


def mmengine_checkpoint_safe_globals() -> list:
    """The non-tensor types MMEngine pickles into its checkpoints (empty when mmengine is not installed).

    Its message hub holds ``HistoryBuffer`` log buffers, whose statistics table pickles as
    ``getattr(HistoryBuffer, name)``, and its meta holds numpy scalars and arrays.
    """
    try:
        import numpy as np
        from mmengine.logging import HistoryBuffer
    except ImportError:
        return []
    np_multiarray = np._core.multiarray if hasattr(np, '_core') else np.core.multiarray
    safe = [HistoryBuffer, getattr, np.ndarray, np.dtype, np_multiarray._reconstruct, np_multiarray.scalar]
    safe += [type(np.dtype(t)) for t in ('float64', 'float32', 'int64', 'int32', 'bool', 'uint8')]
    return safe


def allow_mmengine_checkpoint_globals() -> bool:
    """Let every ``torch.load(weights_only=True)`` read MMEngine checkpoints (torch >= 2.6 refuses them by default).

    Needed where MMEngine itself calls ``torch.load`` (Runner resume and ``load_from``). Returns False when mmengine
    is not installed.
    """
    import torch.serialization
    safe = mmengine_checkpoint_safe_globals()
    if safe:
        torch.serialization.add_safe_globals(safe)
    return bool(safe)


# --- BasicSR 1.4.2 launch, distributed and resume fixes -----------------------------------------------------------
# Applied by ``install_basicsr_fixes()``, which the mprnet-train / mprnet-test launchers call before BasicSR's
# pipelines run. Each replaces one host function with a version that behaves the same on CUDA and also works on CPU.

def normalize_local_rank_argv(argv: list) -> list:
    """Rewrite ``--local-rank[=N]`` (what ``torch.distributed.launch`` passes on torch 2.x) as ``--local_rank``.

    BasicSR's ``parse_options`` declares only ``--local_rank`` and exits on the dashed spelling.
    """
    out = []
    for arg in argv:
        if arg == '--local-rank' or arg.startswith('--local-rank='):
            arg = '--local_rank' + arg[len('--local-rank'):]
        out.append(arg)
    return out


def init_dist_any_device(launcher: str, backend: str | None = None, **kwargs: object) -> None:
    """BasicSR's ``init_dist`` without its CUDA assumptions: NCCL with one GPU per process, else gloo on CPU.

    The host's version hard-codes NCCL and ``torch.cuda.set_device``, so ``--launcher pytorch`` fails on CPU, and it
    picks the GPU as ``RANK % gpus``, which is wrong across nodes with unequal GPU counts; torchrun's LOCAL_RANK is not.
    """
    import os

    import torch
    import torch.distributed as dist
    import torch.multiprocessing as mp

    if mp.get_start_method(allow_none=True) is None:
        mp.set_start_method('spawn')  # as the host does: forked dataloader workers and CUDA do not mix
    use_cuda = torch.cuda.is_available()
    backend = backend or ('nccl' if use_cuda else 'gloo')
    if backend == 'nccl' and not use_cuda:
        backend = 'gloo'  # option files name nccl (dist_params.backend); without a GPU only gloo can run
    if launcher == 'pytorch':
        local_rank = int(os.environ.get('LOCAL_RANK', os.environ.get('RANK', '0')))
    elif launcher == 'slurm':
        local_rank = _slurm_environment(kwargs.pop('port', None))
    else:
        raise ValueError(f'--launcher {launcher!r} is not a distributed launcher; expected pytorch or slurm')
    if use_cuda:
        torch.cuda.set_device(local_rank % torch.cuda.device_count())
    dist.init_process_group(backend=backend, **kwargs)


def _slurm_environment(port: int | None = None) -> int:
    """Set the torch.distributed variables from SLURM's; returns the local rank (the host's logic, CPU-safe)."""
    import os
    import subprocess

    import torch

    proc_id, ntasks = int(os.environ['SLURM_PROCID']), int(os.environ['SLURM_NTASKS'])
    local_rank = int(os.environ.get('SLURM_LOCALID', proc_id % max(torch.cuda.device_count(), 1)))
    node_list = os.environ['SLURM_NODELIST']
    os.environ['MASTER_ADDR'] = subprocess.getoutput(f'scontrol show hostname {node_list} | head -n1')
    if port is not None:
        os.environ['MASTER_PORT'] = str(port)
    os.environ.setdefault('MASTER_PORT', '29500')  # torch.distributed's default port
    os.environ.update(WORLD_SIZE=str(ntasks), RANK=str(proc_id), LOCAL_RANK=str(local_rank))
    return local_rank


def ddp_device_ids(device: object) -> list[int] | None:
    """``device_ids`` for DistributedDataParallel: the current GPU on CUDA, None on CPU.

    BasicSR's ``model_to_device`` always passes ``[torch.cuda.current_device()]``, which fails without a GPU.
    """
    import torch

    return [torch.cuda.current_device()] if torch.device(device).type == 'cuda' else None


def load_resume_state_any_device(opt: dict) -> dict | None:
    """BasicSR's ``load_resume_state`` that maps the state to the current GPU, or to the CPU when there is none.

    The host's version calls ``torch.cuda.current_device()``, so ``--auto_resume`` and ``resume_state`` fail on CPU.
    Training states hold only tensors, numbers and containers, so they load with ``weights_only=True``.
    """
    import os.path as osp

    import torch
    from basicsr.utils import check_resume, scandir

    path = None
    if opt['auto_resume']:
        state_dir = osp.join('experiments', opt['name'], 'training_states')
        if osp.isdir(state_dir):
            iters = [int(v.split('.state')[0]) for v in scandir(state_dir, suffix='.state', recursive=False)
                     if v.split('.state')[0].isdigit()]
            if iters:
                path = osp.join(state_dir, f'{max(iters)}.state')
                opt['path']['resume_state'] = path
    elif opt['path'].get('resume_state'):
        path = opt['path']['resume_state']
    if path is None:
        return None
    use_cuda = opt.get('num_gpu', 0) != 0 and torch.cuda.is_available()
    location = torch.device('cuda', torch.cuda.current_device()) if use_cuda else torch.device('cpu')
    state = torch.load(path, map_location=location, weights_only=True)
    check_resume(opt, state['iter'])
    return state


def install_basicsr_fixes() -> None:
    """Replace BasicSR's ``init_dist`` and ``load_resume_state`` with the CPU-safe versions above, and make every
    model record its test-set metrics for the summary (idempotent)."""
    import basicsr.train
    import basicsr.utils.dist_util
    import basicsr.utils.options

    from mprnet_plugin.metrics.record_hook import install_metric_recording

    basicsr.utils.options.init_dist = init_dist_any_device
    basicsr.utils.dist_util.init_dist = init_dist_any_device
    basicsr.train.load_resume_state = load_resume_state_any_device
    # BasicSR's own models keep each test set's means in memory only; mprnet-test's summary reads them from disk.
    install_metric_recording()


def init_mmengine_cpu_distributed(launcher: str, backend: str = 'gloo', timeout_s: int = 1800) -> bool:
    """Start ``torch.distributed`` with ``backend`` for MMEngine's ``pytorch``/``slurm`` launchers when there is no GPU.

    MMEngine 0.10.7's ``_init_dist_pytorch`` and ``_init_dist_slurm`` always call ``torch.cuda.set_device``, so a
    CPU-only multi-process run dies before the process group exists. The Runner skips its own initialisation when a
    group is already up, so starting it here (from torchrun's or SLURM's environment) is enough. Returns True when
    this call created the group; False on CUDA machines, for ``launcher='none'``, or when a group already exists.
    """
    import datetime
    import os

    import torch
    import torch.distributed as dist

    if launcher == 'none' or torch.cuda.is_available() or dist.is_initialized():
        return False
    if launcher == 'slurm':
        _slurm_environment()
    elif launcher != 'pytorch':
        raise ValueError(f'--launcher {launcher!r} cannot run on CPU; expected one of none, pytorch, slurm')
    missing = [k for k in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT') if k not in os.environ]
    if missing:
        raise RuntimeError(f'--launcher {launcher} needs the environment variables {missing}; start the job with '
                           'torchrun (--launcher pytorch) or srun (--launcher slurm)')
    os.environ.setdefault('LOCAL_RANK', os.environ['RANK'])
    dist.init_process_group(backend, timeout=datetime.timedelta(seconds=timeout_s))
    return True
