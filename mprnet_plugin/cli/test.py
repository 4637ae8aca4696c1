"""``mprnet-test``: the console script for ``python -m mprnet_plugin.test``."""
from __future__ import annotations

from typing import List, Optional

from mprnet_plugin.test import main as run_test


def main(argv: Optional[List[str]] = None) -> None:
    """Test MPRNet with BasicSR's test pipeline."""
    run_test(argv)


if __name__ == '__main__':
    main()
