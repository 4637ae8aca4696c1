"""Train MPRNet with MMEngine's Runner: ``python -m mprnet_plugin.mmengine.train CONFIG [options]``.

Multi-GPU: ``torchrun --nproc_per_node=4 -m mprnet_plugin.mmengine.train CONFIG --launcher pytorch``; the same
command runs several CPU processes with gloo. Checkpoints (``<work_dir>/iter_<n>.pth``) load in ``mprnet-infer``
and the BasicSR side as they are.
"""
from __future__ import annotations

import argparse
import logging
from typing import List, Optional

import torch
from mmengine.config import Config
from mmengine.logging import print_log

from mprnet_plugin.mmengine.launch import base_parser, load_config, run
from mprnet_plugin.runtime.precision import (AMP_DTYPES, CPU_AMP_PRECISIONS, EMULATED_BF16_WARNING,
                                             cpu_has_native_bf16, dtype_name)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Command-line options."""
    parser = base_parser('Train MPRNet with MMEngine.')
    parser.add_argument('--resume', nargs='?', const='auto', default=None, metavar='CHECKPOINT',
                        help='continue training: from the latest checkpoint in the work dir, or from CHECKPOINT')
    parser.add_argument('--amp', choices=sorted(AMP_DTYPES), default=None,
                        help='mixed precision: bf16 or fp16 on CUDA (MMEngine AmpOptimWrapper), bf16 on the CPU '
                        '(CPUAutocastOptimWrapper, no loss scaling); the losses stay in float32')
    return parser.parse_args(argv)


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
        raise ValueError(f'--amp {amp} needs a CUDA device, and torch sees none; use --amp bf16 (or no --amp) on '
                         'the CPU')
    cfg.optim_wrapper.dtype = dtype_name(AMP_DTYPES[amp])


def main(argv: Optional[List[str]] = None) -> None:
    """Build the Runner from the config and train (validating as the config says)."""
    args = parse_args(argv)
    cfg = load_config(args)
    if args.resume == 'auto':
        cfg.resume, cfg.load_from = True, None
    elif args.resume:
        cfg.resume, cfg.load_from = True, args.resume
    if args.amp:
        use_amp(cfg, args.amp)
    run(cfg, 'train')


if __name__ == '__main__':
    main()
