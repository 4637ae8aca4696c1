"""``python -m mprnet_plugin.test -opt FILE.yml [--launcher ...]``: BasicSR's ``test_pipeline`` with MPRNet.

Results land in ``./results/<name>/`` (current directory as root), with each test set's metrics in
``results/<name>/metrics/<dataset>.json``.
"""
from __future__ import annotations

import sys
from typing import List, Optional

from mprnet_plugin.metrics.report import summarize_from_argv
from mprnet_plugin.train import run


def main(argv: Optional[List[str]] = None) -> None:
    """Test MPRNet with BasicSR's launcher, then print and write the summary table of every test set."""
    run('test', argv)
    summarize_from_argv(sys.argv[1:])  # run() left the (normalised) arguments in sys.argv


if __name__ == '__main__':
    main()
