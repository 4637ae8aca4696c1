"""``python -m mprnet_plugin.train -opt FILE.yml [--launcher none|pytorch|slurm] [--auto_resume] [--debug]``.

Runs BasicSR's own ``train_pipeline`` with MPRNet registered and the host fixes installed. The current directory is
the root: ``experiments/``, ``tb_logger/`` and auto-resume's search all happen there.
"""
from __future__ import annotations

import os
import sys
from typing import List, Optional

import mprnet_plugin  # noqa: F401  (registers the architecture, loss, model and datasets)
from mprnet_plugin.compat import install_basicsr_fixes, normalize_local_rank_argv
from mprnet_plugin.recipes import resolve_opt_argument


def run(pipeline_name: str, argv: Optional[List[str]] = None) -> None:
    """Run BasicSR's ``train_pipeline`` or ``test_pipeline`` with ``argv`` (default: this process's arguments)."""
    install_basicsr_fixes()
    # BasicSR's parse_options reads sys.argv itself; -opt may name a packaged recipe (mprnet_plugin.recipes).
    argv = resolve_opt_argument(sys.argv[1:] if argv is None else argv, pipeline_name, f'mprnet-{pipeline_name}')
    sys.argv = [sys.argv[0]] + normalize_local_rank_argv(argv)
    if pipeline_name == 'train':
        from basicsr.train import train_pipeline as pipeline
    elif pipeline_name == 'test':
        from basicsr.test import test_pipeline as pipeline
    else:
        raise ValueError(f'unknown pipeline {pipeline_name!r}; expected train or test')
    pipeline(os.getcwd())


def main(argv: Optional[List[str]] = None) -> None:
    """Train MPRNet with BasicSR's launcher."""
    run('train', argv)


if __name__ == '__main__':
    main()
