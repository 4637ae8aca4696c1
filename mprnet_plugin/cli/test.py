"""``mprnet-test -opt FILE.yml [--launcher ...] [--force_yml k:k=v ...]``: BasicSR's ``test_pipeline`` with MPRNet.

Results land in ``./results/<name>/`` (current directory as root), with each test set's metrics in
``results/<name>/metrics/<dataset>.json`` and the summary table of every set in ``summary.{csv,md}``
(``python -m mprnet_plugin.test`` is the same command). Testing refuses ``path.pretrain_network_g: ~`` unless
``path.allow_random_weights: true`` says random weights are meant.

``val.precision: bf16`` tests in bf16 autocast on CUDA or on the CPU (fast where the CPU computes bf16 natively;
fp16 is CUDA only; fp32 is the default), ``val.compile: true`` through ``torch.compile``, e.g.
``mprnet-test -opt FILE.yml --force_yml val:precision=bf16 val:compile=true``.
"""
from __future__ import annotations

import sys
from typing import List, Optional

from mprnet_plugin.cli.basicsr_launcher import launch, run_pipeline
from mprnet_plugin.reporting.summary import summarize_test_run

PROG = 'mprnet-test'


def run_and_summarize(argv: Optional[List[str]] = None) -> None:
    """Test, then (on rank 0) print and write the summary table of the parsed options' test sets."""
    opt = run_pipeline('test', argv)
    if opt['rank'] == 0:
        summarize_test_run(opt)


def main(argv: Optional[List[str]] = None) -> int:
    """Test MPRNet with BasicSR's test pipeline, then write the summary; returns the exit status."""
    return launch(PROG, lambda: run_and_summarize(argv), argv)


if __name__ == '__main__':
    sys.exit(main())
