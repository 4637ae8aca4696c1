"""Running BasicSR's own ``train_pipeline`` / ``test_pipeline`` for ``mprnet-train`` and ``mprnet-test``.

The pipelines run unchanged, with the host fixes installed and BasicSR's ``parse_options`` wrapped so that the option
file and ``--force_yml`` are checked first (one line naming the option, exit 2) and the parsed options are kept for
the caller (``mprnet-test``'s summary step). Any other failure is one line too, exit 1 (``cli.common``'s convention).
The current directory is the root: ``experiments/``, ``results/``, ``tb_logger/`` and auto-resume's search are there.
"""
from __future__ import annotations

import os
import sys
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import basicsr.test
import basicsr.train

from mprnet_plugin.checkpoints.reading import CheckpointError
from mprnet_plugin.cli.common import UsageError, run_tool
from mprnet_plugin.compat.basicsr import ResumeStateError, install_basicsr_fixes, normalize_local_rank_argv
from mprnet_plugin.config.basicsr_checks import check_option_file
from mprnet_plugin.config.custom_imports import CustomImportError
from mprnet_plugin.config.recipes import RecipeError, resolve_opt_argument
from mprnet_plugin.runtime.run_lock import RunLock
from mprnet_plugin.version import __version__

# The exceptions that mean bad options or files named by them (exit 2).
LAUNCHER_USAGE_ERRORS = (UsageError, CheckpointError, ResumeStateError, RecipeError, CustomImportError)


class _ParsedOptions:
    """BasicSR's ``parse_options``, checked before and after, remembering the options it returned."""

    def __init__(self, original: Callable, argv: Sequence[str], prog: str) -> None:
        self.original, self.argv, self.prog = original, list(argv), prog
        self.opt: Optional[Dict[str, Any]] = None
        self.lock: Optional[RunLock] = None

    def __call__(self, root_path: str, is_train: bool = True) -> Any:
        # Every option is checked before BasicSR parses the file (which may start a process group).
        for line in check_option_file(self.argv, testing=not is_train):
            if int(os.environ.get('RANK', '0')) == 0:
                print(f'{self.prog}: warning: {line}', file=sys.stderr, flush=True)
        opt, args = self.original(root_path, is_train=is_train)
        # BasicSR makes a folder of every path.* entry it does not know; this one is a switch, read above.
        opt['path'].pop('allow_random_weights', None)
        self.opt = opt
        if opt['rank'] == 0:  # one process of a distributed run makes the folders, and that one holds the lock
            self.lock = RunLock(*run_folder(opt)).acquire()
        return opt, args

    def release(self) -> None:
        """Let the run's lock go (the pipeline has finished; the OS lets it go anyway when the process ends)."""
        if self.lock is not None:
            self.lock.release()
            self.lock = None


def run_folder(opt: Dict[str, Any]) -> Tuple[str, str]:
    """The folder a run owns (``experiments/<name>``, or ``results/<name>`` when testing) and how to name it.

    Locked before BasicSR's ``make_exp_dirs``, whose ``mkdir_and_rename`` would rename a live run's folder aside;
    ``tb_logger/<name>`` follows the same name, so the one lock covers it too.
    """
    if opt['is_train']:
        folder = opt['path']['experiments_root']
        return folder, f"{folder} (and tb_logger/{opt['name']})"
    folder = opt['path']['results_root']
    return folder, folder


def run_pipeline(pipeline_name: str, argv: Optional[List[str]] = None) -> Dict[str, Any]:
    """Run BasicSR's ``train_pipeline`` or ``test_pipeline`` with ``argv`` (default: this process's arguments);
    returns the options it parsed."""
    install_basicsr_fixes()
    # -opt may name a packaged recipe (mprnet_plugin.config.recipes) as well as a file.
    args = resolve_opt_argument(list(sys.argv[1:] if argv is None else argv), pipeline_name, f'mprnet-{pipeline_name}')
    args = normalize_local_rank_argv(args)
    # BasicSR's parse_options reads sys.argv itself; its argparse errors then start with the command's name.
    sys.argv = [f'mprnet-{pipeline_name}'] + args
    if pipeline_name == 'train':
        module, pipeline = basicsr.train, basicsr.train.train_pipeline
    elif pipeline_name == 'test':
        module, pipeline = basicsr.test, basicsr.test.test_pipeline
    else:
        raise ValueError(f'unknown pipeline {pipeline_name!r}; expected train or test')
    parsed = _ParsedOptions(module.parse_options, args, f'mprnet-{pipeline_name}')
    module.parse_options = parsed
    try:
        pipeline(os.getcwd())
    finally:
        module.parse_options = parsed.original
        parsed.release()
    assert parsed.opt is not None  # the pipeline's first step
    return parsed.opt


def launch(prog: str, body: Callable[[], None], argv: Optional[Sequence[str]]) -> int:
    """``--version`` / ``--help`` answered here, then ``body`` under the error convention of ``cli.common``."""
    args = list(sys.argv[1:] if argv is None else argv)
    if '--version' in args:
        print(f'{prog} (mprnet_plugin) {__version__}')
        return 0
    return run_tool(prog, body, usage_errors=LAUNCHER_USAGE_ERRORS)
