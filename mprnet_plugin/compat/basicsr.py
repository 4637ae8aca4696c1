"""BasicSR 1.4.2 (2022) on today's torch, and on machines without a GPU: every change to its behaviour, in one place.

``install_basicsr_fixes()`` applies them all; the mprnet-train / mprnet-test launchers call it before BasicSR's
pipelines run. Each replaces one host function with a version that behaves the same on CUDA and also works on CPU,
or names the file a host error is about:

- ``init_dist``: gloo on CPU, the GPU from torchrun's LOCAL_RANK (``init_dist_any_device``);
- ``BaseModel.model_to_device``: DDP ``device_ids`` only on CUDA (``model_to_device_any_device``);
- ``load_resume_state``: maps states to the CPU without a GPU, skips unreadable ones (``load_resume_state_any_device``);
- ``imfrombytes`` and ``PairedImageDataset.__getitem__``: undecodable images named by their path;
- ``BaseModel.validation``: every model writes its test-set metrics record for mprnet-test's summary.
"""
from __future__ import annotations

import functools
import os
import os.path as osp
import sys
from typing import Any, Callable

import basicsr.data.paired_image_dataset as paired
import basicsr.models.base_model
import basicsr.train
import basicsr.utils.dist_util
import basicsr.utils.options
import cv2
import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from basicsr.models.base_model import BaseModel
from basicsr.utils import check_resume, scandir
from torch.nn.parallel import DataParallel, DistributedDataParallel

from mprnet_plugin.io.images import ImageReadError, decode_image
from mprnet_plugin.reporting.record_hook import record_validation
from mprnet_plugin.runtime.distributed import ddp_device_ids, slurm_environment


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
    if mp.get_start_method(allow_none=True) is None:
        mp.set_start_method('spawn')  # as the host does: forked dataloader workers and CUDA do not mix
    use_cuda = torch.cuda.is_available()
    backend = backend or ('nccl' if use_cuda else 'gloo')
    if backend == 'nccl' and not use_cuda:
        backend = 'gloo'  # option files name nccl (dist_params.backend); without a GPU only gloo can run
    if launcher == 'pytorch':
        local_rank = int(os.environ.get('LOCAL_RANK', os.environ.get('RANK', '0')))
    elif launcher == 'slurm':
        local_rank = slurm_environment(kwargs.pop('port', None))
    else:
        raise ValueError(f'--launcher {launcher!r} is not a distributed launcher; expected pytorch or slurm')
    if use_cuda:
        torch.cuda.set_device(local_rank % torch.cuda.device_count())
    dist.init_process_group(backend=backend, **kwargs)


def model_to_device_any_device(self: object, net: object) -> object:
    """BasicSR's ``BaseModel.model_to_device`` with DDP ``device_ids`` only on CUDA (see ``ddp_device_ids``).

    The host's version passes ``[torch.cuda.current_device()]``, so every BasicSR model (SRModel, ours, a lab's)
    fails under ``--launcher pytorch`` on CPU; patching the base class gives all of them the fix.
    """
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


def imfrombytes_checked(content: bytes, flag: str = 'color', float32: bool = False) -> object:
    """BasicSR's ``imfrombytes``, raising ``ImageReadError`` where the host's returns None (and then fails on
    ``None.astype`` with a message that names nothing)."""
    flags = {'color': cv2.IMREAD_COLOR, 'grayscale': cv2.IMREAD_GRAYSCALE, 'unchanged': cv2.IMREAD_UNCHANGED}
    img = decode_image(content, f'an image of {len(content or b"")} bytes', flags[flag])
    return img.astype(np.float32) / 255. if float32 else img


def _paired_getitem_naming_files(getitem):
    """Wrap ``PairedImageDataset.__getitem__`` so that an undecodable image is named by its path."""
    @functools.wraps(getitem)
    def wrapper(self, index):
        try:
            return getitem(self, index)
        except ImageReadError:
            paths = self.paths[index]
            bad = []
            for key in ('gt', 'lq'):
                try:
                    imfrombytes_checked(self.file_client.get(paths[f'{key}_path'], key))
                except Exception:  # noqa: BLE001 (any failure to read it names it)
                    bad.append(f'{key} {paths[f"{key}_path"]!r}')
            raise ImageReadError(f'dataset {self.opt.get("name")!r}: cannot decode '
                                   f'{" and ".join(bad) or "an image of the pair"}: corrupt or not an image') from None
    wrapper.__mprnet_fix__ = True
    return wrapper


def _validation_recording_metrics(validation: Callable) -> Callable:
    """``BaseModel.validation`` that also writes the tested set's metrics record (``reporting.record_hook``)."""
    @functools.wraps(validation)
    def wrapper(self: Any, dataloader: Any, current_iter: Any, tb_logger: Any, save_img: bool = False) -> None:
        self.recorded_test_set = None
        validation(self, dataloader, current_iter, tb_logger, save_img)
        record_validation(self, dataloader)

    wrapper.records_metrics = True  # type: ignore[attr-defined]
    return wrapper


def install_basicsr_fixes() -> None:
    """Replace BasicSR's ``init_dist``, ``load_resume_state``, ``BaseModel.model_to_device`` and the paired dataset's
    image decoding with the versions above, and make every model record its test-set metrics for the summary
    (idempotent)."""
    basicsr.utils.options.init_dist = init_dist_any_device
    basicsr.utils.dist_util.init_dist = init_dist_any_device
    basicsr.train.load_resume_state = load_resume_state_any_device
    basicsr.models.base_model.BaseModel.model_to_device = model_to_device_any_device
    paired.imfrombytes = imfrombytes_checked
    if not getattr(paired.PairedImageDataset.__getitem__, '__mprnet_fix__', False):
        paired.PairedImageDataset.__getitem__ = _paired_getitem_naming_files(paired.PairedImageDataset.__getitem__)
    # BasicSR's own models keep each test set's means in memory only; mprnet-test's summary reads them from disk.
    if not getattr(BaseModel.validation, 'records_metrics', False):
        BaseModel.validation = _validation_recording_metrics(BaseModel.validation)
