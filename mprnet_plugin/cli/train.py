"""``mprnet-train -opt FILE.yml [--launcher none|pytorch|slurm] [--auto_resume] [--debug] [--force_yml k:k=v ...]``.

Runs BasicSR's own ``train_pipeline`` with MPRNet registered and the host fixes installed (``python -m
mprnet_plugin.train`` is the same command). ``--debug`` keeps BasicSR's meaning (a ``debug_`` run); full tracebacks
are printed with ``MPRNET_TRACEBACK=1``.
"""
from __future__ import annotations

import sys
from typing import List, Optional

from mprnet_plugin.cli.basicsr_launcher import launch, run_pipeline

PROG = 'mprnet-train'


def train(argv: Optional[List[str]] = None) -> None:
    """Run BasicSR's training pipeline with ``argv``."""
    run_pipeline('train', argv)


def main(argv: Optional[List[str]] = None) -> int:
    """Train MPRNet with BasicSR's launcher; returns the exit status."""
    return launch(PROG, lambda: train(argv), argv)


if __name__ == '__main__':
    sys.exit(main())
