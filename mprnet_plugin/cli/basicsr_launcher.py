"""Running BasicSR's own ``train_pipeline`` / ``test_pipeline`` for ``mprnet-train`` and ``mprnet-test``.

The pipelines run unchanged, with the host fixes installed and BasicSR's ``parse_options`` wrapped so that the option
file and ``--force_yml`` are checked first (one line naming the option, exit 2) and the parsed options are kept for
the caller (``mprnet-test``'s summary step). Any other failure is one line too, exit 1 (``cli.common``'s convention).
The current directory is the root: ``experiments/``, ``results/``, ``tb_logger/`` and auto-resume's search are there.
"""
from __future__ import annotations

import os
import sys
from typing import Any, Callable, Dict, List, Optional, Sequence

from mprnet_plugin.cli.common import UsageError, run_tool


class _ParsedOptions:
    """BasicSR's ``parse_options``, checked before and after, remembering the options it returned."""

    def __init__(self, original: Callable, argv: Sequence[str]) -> None:
        self.original, self.argv = original, list(argv)
        self.opt: Optional[Dict[str, Any]] = None

    def __call__(self, root_path: str, is_train: bool = True) -> Any:
        from mprnet_plugin.cli.option_checks import check_parsed_options, check_raw_options
        check_raw_options(self.argv)
        from mprnet_plugin.registry_imports import import_custom_modules
        opt, args = self.original(root_path, is_train=is_train)
        # A lab's own networks, losses and models register on import: before anything is checked or built.
        import_custom_modules(opt.get('custom_imports'), 'option custom_imports')
        check_parsed_options(opt, testing=not is_train)
        # BasicSR makes a folder of every path.* entry it does not know; this one is a switch, read above.
        opt['path'].pop('allow_random_weights', None)
        self.opt = opt
        return opt, args


def run_pipeline(pipeline_name: str, argv: Optional[List[str]] = None) -> Dict[str, Any]:
    """Run BasicSR's ``train_pipeline`` or ``test_pipeline`` with ``argv`` (default: this process's arguments);
    returns the options it parsed."""
    import mprnet_plugin  # noqa: F401  (registers the architecture, loss, model and datasets)
    from mprnet_plugin.compat import install_basicsr_fixes, normalize_local_rank_argv
    from mprnet_plugin.recipes import resolve_opt_argument

    install_basicsr_fixes()
    # -opt may name a packaged recipe (mprnet_plugin.recipes) as well as a file.
    args = resolve_opt_argument(list(sys.argv[1:] if argv is None else argv), pipeline_name, f'mprnet-{pipeline_name}')
    args = normalize_local_rank_argv(args)
    # BasicSR's parse_options reads sys.argv itself; its argparse errors then start with the command's name.
    sys.argv = [f'mprnet-{pipeline_name}'] + args
    if pipeline_name == 'train':
        import basicsr.train as module
        pipeline = module.train_pipeline
    elif pipeline_name == 'test':
        import basicsr.test as module
        pipeline = module.test_pipeline
    else:
        raise ValueError(f'unknown pipeline {pipeline_name!r}; expected train or test')
    parsed = _ParsedOptions(module.parse_options, args)
    module.parse_options = parsed
    try:
        pipeline(os.getcwd())
    finally:
        module.parse_options = parsed.original
    assert parsed.opt is not None  # the pipeline's first step
    return parsed.opt


def launcher_usage_errors() -> tuple:
    """The exceptions that mean bad options or files named by them (exit 2)."""
    from mprnet_plugin.checkpoint import CheckpointError
    from mprnet_plugin.compat import ResumeStateError
    from mprnet_plugin.recipes import RecipeError
    from mprnet_plugin.registry_imports import CustomImportError
    return (UsageError, CheckpointError, ResumeStateError, RecipeError, CustomImportError)


def launch(prog: str, body: Callable[[], None], argv: Optional[Sequence[str]]) -> int:
    """``--version`` / ``--help`` answered here, then ``body`` under the error convention of ``cli.common``."""
    args = list(sys.argv[1:] if argv is None else argv)
    if '--version' in args:
        from mprnet_plugin.cli.common import package_version
        print(f'{prog} (mprnet_plugin) {package_version()}')
        return 0
    return run_tool(prog, body, usage_errors=launcher_usage_errors())
