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


def numpy_checkpoint_safe_globals() -> list:
    """The numpy types MMEngine pickles into checkpoint meta (seeds, arrays): data types, no callable of note."""
    import numpy as np

    np_multiarray = np._core.multiarray if hasattr(np, '_core') else np.core.multiarray
    safe = [np.ndarray, np.dtype, np_multiarray._reconstruct, np_multiarray.scalar]
    return safe + [type(np.dtype(t)) for t in ('float64', 'float32', 'int64', 'int32', 'bool', 'uint8')]


def mmengine_checkpoint_safe_globals() -> list:
    """Everything MMEngine pickles into its checkpoints (empty when mmengine is not installed).

    Its message hub holds ``HistoryBuffer`` log buffers, whose statistics table pickles as
    ``getattr(HistoryBuffer, name)``. Only for MMEngine's resume of its own run (``mprnet_plugin.mmengine.runner``
    scopes it to that one load): ``getattr`` must never be admitted for weights a user hands in.
    """
    try:
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


def model_to_device_any_device(self: object, net: object) -> object:
    """BasicSR's ``BaseModel.model_to_device`` with DDP ``device_ids`` only on CUDA (see ``ddp_device_ids``).

    The host's version passes ``[torch.cuda.current_device()]``, so every BasicSR model (SRModel, ours, a lab's)
    fails under ``--launcher pytorch`` on CPU; patching the base class gives all of them the fix.
    """
    from torch.nn.parallel import DataParallel, DistributedDataParallel

    opt = self.opt  # type: ignore[attr-defined]
    net = net.to(self.device)  # type: ignore[attr-defined]
    if opt['dist']:
        net = DistributedDataParallel(net, device_ids=ddp_device_ids(self.device),  # type: ignore[attr-defined]
                                      find_unused_parameters=opt.get('find_unused_parameters', False))
    elif opt['num_gpu'] > 1:
        net = DataParallel(net)
    return net


class ResumeStateError(RuntimeError):
    """A training state to resume from that cannot be read; names the file."""


def _read_state(path: str, location: object) -> dict:
    """One training state file, or ``ResumeStateError`` naming it and what was wrong."""
    import os

    import torch

    size = os.path.getsize(path) if os.path.isfile(path) else None
    if size is None:
        raise ResumeStateError(f'training state {path!r} does not exist')
    try:
        state = torch.load(path, map_location=location, weights_only=True)
    except Exception as exc:  # noqa: BLE001 (truncated, empty or garbage files fail in many ways)
        detail = 'an empty file' if size == 0 else f'{size} bytes, {type(exc).__name__}: {" ".join(str(exc).split())}'
        raise ResumeStateError(f'training state {path!r} cannot be read ({detail[:200]})') from None
    if not isinstance(state, dict) or not isinstance(state.get('iter'), int):
        raise ResumeStateError(f'training state {path!r} is not a BasicSR training state (no "iter")')
    return state


def load_resume_state_any_device(opt: dict) -> dict | None:
    """BasicSR's ``load_resume_state`` that maps the state to the current GPU, or to the CPU when there is none.

    The host's version calls ``torch.cuda.current_device()``, so ``--auto_resume`` and ``resume_state`` fail on CPU.
    Training states hold only tensors, numbers and containers, so they load with ``weights_only=True``. With
    ``--auto_resume`` an unreadable state (an interrupted copy, a full disk) is skipped with a warning naming it, and
    the newest state that loads is used; an unreadable ``path.resume_state`` is an error naming the file.
    """
    import os.path as osp

    import torch
    from basicsr.utils import check_resume, scandir

    use_cuda = opt.get('num_gpu', 0) != 0 and torch.cuda.is_available()
    location = torch.device('cuda', torch.cuda.current_device()) if use_cuda else torch.device('cpu')
    if opt['auto_resume']:
        state_dir = osp.join('experiments', opt['name'], 'training_states')
        iters = []
        if osp.isdir(state_dir):
            iters = sorted((int(v.split('.state')[0]) for v in scandir(state_dir, suffix='.state', recursive=False)
                            if v.split('.state')[0].isdigit()), reverse=True)
        state, path = None, None
        for it in iters:
            path = osp.join(state_dir, f'{it}.state')
            try:
                state = _read_state(path, location)
                break
            except ResumeStateError as exc:
                print(f'warning: skipped: {exc}; trying an older state', file=sys.stderr, flush=True)
        if state is None:
            if iters:
                raise ResumeStateError(f'--auto_resume: none of the {len(iters)} training state(s) in {state_dir!r} '
                                       'can be read; remove them to start afresh, or set path.resume_state')
            return None
        opt['path']['resume_state'] = path
    elif opt['path'].get('resume_state'):
        state = _read_state(opt['path']['resume_state'], location)
    else:
        return None
    check_resume(opt, state['iter'])
    return state


class ImageDecodeError(ValueError):
    """Image bytes that OpenCV cannot decode; names the file where it is known."""


def check_decoded(img: object, what: str) -> object:
    """``img`` from ``cv2.imdecode``, or ``ImageDecodeError`` naming ``what`` when decoding failed (None)."""
    if img is None:
        raise ImageDecodeError(f'cannot decode {what}: corrupt or not an image')
    return img


def imfrombytes_checked(content: bytes, flag: str = 'color', float32: bool = False) -> object:
    """BasicSR's ``imfrombytes``, raising ``ImageDecodeError`` where the host's returns None (and then fails on
    ``None.astype`` with a message that names nothing)."""
    import cv2
    import numpy as np

    flags = {'color': cv2.IMREAD_COLOR, 'grayscale': cv2.IMREAD_GRAYSCALE, 'unchanged': cv2.IMREAD_UNCHANGED}
    img = check_decoded(cv2.imdecode(np.frombuffer(content, np.uint8), flags[flag]) if content else None,
                        f'an image of {len(content or b"")} bytes')
    return img.astype(np.float32) / 255. if float32 else img


def _paired_getitem_naming_files(getitem):
    """Wrap ``PairedImageDataset.__getitem__`` so that an undecodable image is named by its path."""
    import functools

    @functools.wraps(getitem)
    def wrapper(self, index):
        try:
            return getitem(self, index)
        except ImageDecodeError:
            paths = self.paths[index]
            bad = []
            for key in ('gt', 'lq'):
                try:
                    imfrombytes_checked(self.file_client.get(paths[f'{key}_path'], key))
                except Exception:  # noqa: BLE001 (any failure to read it names it)
                    bad.append(f'{key} {paths[f"{key}_path"]!r}')
            raise ImageDecodeError(f'dataset {self.opt.get("name")!r}: cannot decode '
                                   f'{" and ".join(bad) or "an image of the pair"}: corrupt or not an image') from None
    wrapper.__mprnet_fix__ = True
    return wrapper


def install_basicsr_fixes() -> None:
    """Replace BasicSR's ``init_dist``, ``load_resume_state``, ``BaseModel.model_to_device`` and the paired dataset's
    image decoding with the versions above, and make every model record its test-set metrics for the summary
    (idempotent)."""
    import basicsr.data.paired_image_dataset as paired
    import basicsr.models.base_model
    import basicsr.train
    import basicsr.utils.dist_util
    import basicsr.utils.options

    from mprnet_plugin.metrics.record_hook import install_metric_recording

    basicsr.utils.options.init_dist = init_dist_any_device
    basicsr.utils.dist_util.init_dist = init_dist_any_device
    basicsr.train.load_resume_state = load_resume_state_any_device
    basicsr.models.base_model.BaseModel.model_to_device = model_to_device_any_device
    paired.imfrombytes = imfrombytes_checked
    if not getattr(paired.PairedImageDataset.__getitem__, '__mprnet_fix__', False):
        paired.PairedImageDataset.__getitem__ = _paired_getitem_naming_files(paired.PairedImageDataset.__getitem__)
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
