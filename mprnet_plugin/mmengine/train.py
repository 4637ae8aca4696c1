"""Train MPRNet with MMEngine's Runner: ``python -m mprnet_plugin.mmengine.train CONFIG [options]``.

Multi-GPU: ``torchrun --nproc_per_node=4 -m mprnet_plugin.mmengine.train CONFIG --launcher pytorch``; the same
command runs several CPU processes with gloo. Checkpoints (``<work_dir>/iter_<n>.pth``) load in ``mprnet-infer``
and the BasicSR side as they are.
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import List, Optional

import torch
from mmengine.config import Config

from mprnet_plugin.cli.common import UsageError
from mprnet_plugin.mmengine.launch import base_parser, check_config, launch, load_config, parse_arguments, run
from mprnet_plugin.runtime.precision import AMP_DTYPES, dtype_name

PROG = 'python -m mprnet_plugin.mmengine.train'


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Command-line options."""
    parser = base_parser('Train MPRNet with MMEngine.', PROG)
    parser.add_argument('--resume', nargs='?', const='auto', default=None, metavar='CHECKPOINT',
                        help='continue training: from the latest checkpoint in the work dir, or from CHECKPOINT')
    parser.add_argument('--amp', choices=sorted(AMP_DTYPES), default=None,
                        help='mixed precision on CUDA (MMEngine AmpOptimWrapper); the losses stay in float32')
    return parse_arguments(parser, argv)


def use_amp(cfg: Config, amp: str) -> None:
    """Switch ``cfg.optim_wrapper`` to MMEngine's AmpOptimWrapper with the ``amp`` dtype; CUDA only."""
    if amp == 'fp16' and not torch.cuda.is_available():
        # float16 autocast on the CPU is not what MMEngine's AmpOptimWrapper supports: refuse before building.
        raise UsageError('--amp fp16 needs a CUDA device, and torch sees none; drop --amp to train in float32 on '
                         'the CPU')
    if not torch.cuda.is_available():
        # AmpOptimWrapper itself only asserts; say what to do instead.
        raise ValueError(f'--amp {amp} needs a CUDA device, and torch sees none; drop --amp to train in float32 on '
                         'the CPU')
    cfg.optim_wrapper.type = 'AmpOptimWrapper'
    cfg.optim_wrapper.dtype = dtype_name(AMP_DTYPES[amp])


def train(argv: Optional[List[str]] = None) -> None:
    """Check the config, build the Runner from it and train (validating as the config says); raises on errors."""
    args = parse_args(argv)
    cfg = load_config(args)
    if args.resume == 'auto':
        cfg.resume, cfg.load_from = True, None
    elif args.resume:
        if not os.path.isfile(args.resume):
            raise UsageError(f'--resume {args.resume!r} is not a file (give a checkpoint, or --resume alone for the '
                             'latest one in the work dir)')
        cfg.resume, cfg.load_from = True, args.resume
    if args.amp:  # a flag: checked before the config's own parts
        use_amp(cfg, args.amp)
    check_config(cfg, 'train', args.config)
    run(cfg, 'train')


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point: train under the CLI convention (bad options exit 2, failed work 1); returns the exit status."""
    return launch(PROG, lambda: train(argv))


if __name__ == '__main__':
    sys.exit(main())
