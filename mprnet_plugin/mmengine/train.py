"""Train MPRNet with MMEngine's Runner: ``python -m mprnet_plugin.mmengine.train CONFIG [options]``.

Multi-GPU: ``torchrun --nproc_per_node=4 -m mprnet_plugin.mmengine.train CONFIG --launcher pytorch``; the same
command runs several CPU processes with gloo. Checkpoints (``<work_dir>/iter_<n>.pth``) load in ``mprnet-infer``
and the BasicSR side as they are.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import List, Optional

import torch
from mmengine.config import Config
from mmengine.logging import print_log

from mprnet_plugin.cli.common import UsageError
from mprnet_plugin.mmengine.launch import base_parser, check_config, launch, load_config, parse_arguments, run
from mprnet_plugin.runtime.precision import (AMP_DTYPES, CPU_AMP_PRECISIONS, EMULATED_BF16_WARNING,
                                             cpu_has_native_bf16, dtype_name)

PROG = 'python -m mprnet_plugin.mmengine.train'


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Command-line options."""
    parser = base_parser('Train MPRNet with MMEngine.', PROG)
    parser.add_argument('--resume', nargs='?', const='auto', default=None, metavar='CHECKPOINT',
                        help='continue training: from the latest checkpoint in the work dir, or from CHECKPOINT')
    parser.add_argument('--amp', choices=sorted(AMP_DTYPES), default=None,
                        help='mixed precision: bf16 or fp16 on CUDA (MMEngine AmpOptimWrapper), bf16 on the CPU '
                        '(CPUAutocastOptimWrapper, no loss scaling); the losses stay in float32')
    return parse_arguments(parser, argv)


def use_amp(cfg: Config, amp: str) -> None:
    """Switch ``cfg.optim_wrapper`` to mixed precision: AmpOptimWrapper on CUDA, CPUAutocastOptimWrapper (bf16)."""
    if torch.cuda.is_available():
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
    elif amp in CPU_AMP_PRECISIONS:
        # AmpOptimWrapper asserts a GPU and always scales the loss; bf16 needs no scaling, so the CPU gets its own.
        cfg.optim_wrapper.type = 'CPUAutocastOptimWrapper'
        if not cpu_has_native_bf16():
            print_log(f'--amp {amp}: {EMULATED_BF16_WARNING}', logger='current', level=logging.WARNING)
    else:
        raise UsageError(f'--amp {amp} needs a CUDA device, and torch sees none; use --amp bf16 (or no --amp) on '
                         'the CPU')
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
