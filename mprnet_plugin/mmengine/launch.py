"""What ``python -m mprnet_plugin.mmengine.train`` and ``.test`` share: options, config, distributed set-up."""
from __future__ import annotations

import argparse
import gc
import os
from typing import Any, Callable, Dict, List, Optional

import torch
from mmengine.config import Config, DictAction

from mprnet_plugin.checkpoints.reading import CheckpointError
from mprnet_plugin.cli.common import UsageError, add_version, one_line, run_tool
from mprnet_plugin.compat.mmengine import apply_mmengine_fixes
from mprnet_plugin.config.custom_imports import CustomImportError
from mprnet_plugin.config.mmengine_checks import check_mmengine_config
from mprnet_plugin.config.recipes import RecipeError, resolve_option_file
from mprnet_plugin.runtime.cpu_heap import keep_cpu_heap, parse_keep_cpu_heap
from mprnet_plugin.mmengine.runner import MPRNetRunner

LAUNCHERS = ('none', 'pytorch', 'slurm')
# The exceptions that mean a bad command line, config or file named by them (exit 2).
LAUNCH_USAGE_ERRORS = (UsageError, RecipeError, CheckpointError, CustomImportError)


def base_parser(description: str, prog: str) -> argparse.ArgumentParser:
    """The options both launchers take."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    add_version(parser)
    parser.add_argument('config', help='MMEngine config file, or a packaged name such as mmengine/mprnet_gopro')
    parser.add_argument('--work-dir', help='where logs and checkpoints go (default: ./work_dirs/<config name>)')
    parser.add_argument('--launcher', choices=LAUNCHERS, default='none',
                        help='none: one process; pytorch: started by torchrun; slurm: started by srun')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                        help='override config entries, e.g. train_cfg.max_iters=1000 train_dataloader.batch_size=4')
    # torch.distributed.launch passes --local-rank (torch 2.x) or --local_rank; torchrun sets LOCAL_RANK instead.
    parser.add_argument('--local-rank', '--local_rank', type=int, default=None, help=argparse.SUPPRESS)
    return parser


def parse_arguments(parser: argparse.ArgumentParser, argv: Optional[List[str]]) -> argparse.Namespace:
    """``parser.parse_args``; a ``--cfg-options`` item MMEngine's DictAction cannot read is an argparse error."""
    try:
        return parser.parse_args(argv)
    except ValueError as exc:  # DictAction raises a bare ValueError for an item without '=' (argparse passes it on)
        parser.error(f'--cfg-options: {one_line(exc)}; expected KEY=VALUE items')
        raise  # not reached: parser.error exits


def read_config(path: str) -> Config:
    """``Config.fromfile``, any failure one line naming the file (a syntax error: with its line)."""
    try:
        return Config.fromfile(path)
    except SyntaxError as exc:
        raise UsageError(f'config {path!r}: syntax error at line {exc.lineno}: {exc.msg}') from None
    except Exception as exc:  # noqa: BLE001 (the file runs as Python: anything it raises means a bad config)
        raise UsageError(f'config {path!r} cannot be read: {one_line(exc)}') from None


def load_config(args: argparse.Namespace) -> Config:
    """The config file with ``--cfg-options``, ``--work-dir`` and ``--launcher`` applied."""
    args.config = resolve_option_file(args.config, 'mmengine')  # a path, or a packaged name (config.recipes)
    if args.local_rank is not None:
        os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    cfg = read_config(args.config)
    if args.cfg_options:
        try:
            cfg.merge_from_dict(args.cfg_options)
        except Exception as exc:  # noqa: BLE001 (MMEngine raises KeyError/TypeError/AttributeError for bad paths)
            items = ' '.join(f'{k}={v}' for k, v in args.cfg_options.items())
            raise UsageError(f'--cfg-options {items}: {one_line(exc)}') from None
    if args.work_dir:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = os.path.join('work_dirs', os.path.splitext(os.path.basename(args.config))[0])
    cfg.launcher = args.launcher
    return cfg


def check_config(cfg: Config, loop: str, source: str) -> None:
    """The parts of ``cfg`` this package defines, checked before the Runner builds anything (``OptionError``)."""
    check_mmengine_config(cfg, loop, source)


def launch(prog: str, body: Callable[[], Optional[int]]) -> int:
    """Run a launcher's ``body`` under the CLI convention: bad options exit 2, failed work 1, one line each."""
    return run_tool(prog, body, usage_errors=LAUNCH_USAGE_ERRORS)


def build_runner(cfg: Config) -> MPRNetRunner:
    """A Runner for ``cfg``, after the fixes MMEngine 0.10.7 needs on today's torch and on CPU-only machines."""
    # Before the Runner starts: on CPU its own distributed start-up would call torch.cuda.set_device.
    apply_mmengine_fixes(cfg)
    # CPU runs: keep freed activations in the heap instead of page-faulting them back every step (cpu_heap.py).
    if parse_keep_cpu_heap(cfg.get('keep_cpu_heap', True), 'keep_cpu_heap') and not torch.cuda.is_available():
        keep_cpu_heap()
    # Its resume alone admits MMEngine's pickled types; load_from reads any layout safely (runner.py).
    return MPRNetRunner.from_cfg(cfg)


def is_main_process() -> bool:
    """True on rank 0, or when not distributed."""
    from mmengine.dist import get_rank
    return get_rank() == 0


def run(cfg: Config, loop: str) -> Optional[Dict[str, Any]]:
    """Build the Runner and run ``loop``: ``'train'`` (returns None) or ``'test'`` (returns the mean metrics)."""
    if loop not in ('train', 'test'):
        raise ValueError(f'loop must be train or test; got {loop!r}')
    runner = build_runner(cfg)
    try:
        if loop == 'train':
            runner.train()
            return None
        return runner.test()
    finally:
        # Free the datasets' LMDB handles now: LMDB opens a path once per process, and the Runner's reference
        # cycles would keep them open until some later garbage collection (a second run in-process would fail).
        del runner
        gc.collect()
