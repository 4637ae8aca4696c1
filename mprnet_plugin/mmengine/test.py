"""Test an MPRNet checkpoint with MMEngine's Runner: ``python -m mprnet_plugin.mmengine.test CONFIG --checkpoint CKPT``.

The checkpoint may be the authors' (``{'state_dict': ...}``), BasicSR's, MMEngine's or a bare state dict. The mean
metrics are logged and written to ``<work_dir>/test_metrics.json``.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from typing import Dict, List, Optional

import torch
from mmengine.logging import print_log

from mprnet_plugin.cli.common import UsageError
from mprnet_plugin.io.atomic import OutputConflictError, atomic_write_text, claim_output_folder
from mprnet_plugin.mmengine.launch import (base_parser, check_config, is_main_process, launch, load_config,
                                           parse_arguments, run)
from mprnet_plugin.runtime.precision import PRECISIONS, check_inference_precision

PROG = 'python -m mprnet_plugin.mmengine.test'


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Command-line options."""
    parser = base_parser('Test an MPRNet checkpoint with MMEngine.', PROG)
    parser.add_argument('--checkpoint', required=True, help='weights to test, in any layout the plugin reads')
    parser.add_argument('--checkpoint-key', default=None,
                        help='where the weights are in the file (default: params_ema, params, state_dict, model)')
    parser.add_argument('--out-dir', default=None,
                        help='also save the restored images here as PNG (a new or empty folder, or one an earlier '
                             'run of the plugin wrote; a folder of your own only with --force)')
    parser.add_argument('--force', action='store_true',
                        help='write into an --out-dir the plugin did not make (images of the same names are replaced)')
    parser.add_argument('--precision', choices=list(PRECISIONS), default=None,
                        help='compute precision of the test (default: the config\'s model.precision, else fp32). '
                             'bf16 runs on CUDA and on the CPU (fast where the CPU computes bf16 natively, slow with '
                             'a warning elsewhere); fp16 on CUDA only')
    parser.add_argument('--compile', action='store_true',
                        help='test through torch.compile (dynamic shapes: one graph for every size over about '
                             '83x83 pixels; the first image takes a while; eager fall-back with a warning if '
                             'compiling fails)')
    return parse_arguments(parser, argv)


def run_test(argv: Optional[List[str]] = None) -> Dict[str, float]:
    """Load the weights through the plugin's checkpoint reader, run the test loop, write the metrics; raises."""
    args = parse_args(argv)
    if not os.path.isfile(args.checkpoint):
        raise UsageError(f'--checkpoint {args.checkpoint!r} does not exist')
    cfg = load_config(args)
    if cfg.get('test_dataloader') is None or cfg.get('test_evaluator') is None:
        raise UsageError(f'config {args.config!r} has no test_dataloader/test_evaluator to test with')
    # The model loads the weights itself (any layout), so the Runner must not try MMEngine's own loader.
    cfg.model.pretrained, cfg.model.pretrained_key = args.checkpoint, args.checkpoint_key
    cfg.load_from, cfg.resume = None, False
    if args.precision:
        cfg.model.precision = args.precision
    if args.compile:
        cfg.model.compile = True
    # MMEngine's Runner puts the model on CUDA when there is one: refuse fp16 on the CPU before any work.
    device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    try:
        warning = check_inference_precision(cfg.model.get('precision', 'fp32'), device,
                                            '--precision' if args.precision else 'model.precision:')
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if warning:
        print_log(warning, logger='current', level=logging.WARNING)
    check_config(cfg, 'test', args.config)
    if args.out_dir:
        try:
            claim_output_folder(args.out_dir, args.force, '--out-dir')
        except OutputConflictError as exc:
            raise UsageError(str(exc)) from None
        cfg.test_evaluator.output_dir = args.out_dir
    metrics = run(cfg, 'test') or {}
    if is_main_process():
        report = dict(checkpoint=os.path.abspath(args.checkpoint), config=os.path.abspath(args.config),
                      metrics={k: float(v) for k, v in metrics.items()})
        atomic_write_text(os.path.join(cfg.work_dir, 'test_metrics.json'), json.dumps(report, indent=2) + '\n')
    return metrics


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point: test under the CLI convention (bad options exit 2, failed work 1); returns the exit status."""
    def body() -> None:
        run_test(argv)

    return launch(PROG, body)


if __name__ == '__main__':
    sys.exit(main())
