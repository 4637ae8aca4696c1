"""``python -m mprnet_plugin.test -opt FILE.yml [--launcher ...]``: BasicSR's ``test_pipeline`` with MPRNet.

Results land in ``./results/<name>/`` (current directory as root), with each test set's metrics in
``results/<name>/metrics/<dataset>.json``.
"""
from __future__ import annotations

from typing import List, Optional

from mprnet_plugin.train import run


def main(argv: Optional[List[str]] = None) -> None:
    """Test MPRNet with BasicSR's launcher."""
    run('test', argv)


if __name__ == '__main__':
    main()
