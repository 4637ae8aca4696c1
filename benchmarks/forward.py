"""Forward time of mprnet_plugin.MPRNet against the straightforward per-patch implementation, same weights, one run.

    .venv/bin/python benchmarks/forward.py                      # reduced width, 256x256, CPU, fp32
    .venv/bin/python benchmarks/forward.py --preset deblurring --device cuda --size 256

The forward section of speed.py on its own (it takes speed.py's options): each variant in its own process, timed
round-robin, outputs checked to agree first.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))

import speed  # noqa: E402


def main(argv: Optional[List[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    return speed.main(['--skip', 'train', 'reference', 'data', *argv])


if __name__ == '__main__':
    sys.exit(main())
