"""Train MPRNet with MMEngine's Runner: ``python -m mprnet_plugin.mmengine.train CONFIG [options]``.

Multi-GPU: ``torchrun --nproc_per_node=4 -m mprnet_plugin.mmengine.train CONFIG --launcher pytorch``; the same
command runs several CPU processes with gloo. Checkpoints (``<work_dir>/iter_<n>.pth``) load in ``mprnet-infer``
and the BasicSR side as they are.
"""
from __future__ import annotations

import argparse
from typing import List, Optional

from mprnet_plugin.mmengine.launch import base_parser, load_config, run


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Command-line options."""
    parser = base_parser('Train MPRNet with MMEngine.')
    parser.add_argument('--resume', nargs='?', const='auto', default=None, metavar='CHECKPOINT',
                        help='continue training: from the latest checkpoint in the work dir, or from CHECKPOINT')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> None:
    """Build the Runner from the config and train (validating as the config says)."""
    args = parse_args(argv)
    cfg = load_config(args)
    if args.resume == 'auto':
        cfg.resume, cfg.load_from = True, None
    elif args.resume:
        cfg.resume, cfg.load_from = True, args.resume
    run(cfg, 'train')


if __name__ == '__main__':
    main()
