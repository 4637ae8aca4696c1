"""Test an MPRNet checkpoint with MMEngine's Runner: ``python -m mprnet_plugin.mmengine.test CONFIG --checkpoint CKPT``.

The checkpoint may be the authors' (``{'state_dict': ...}``), BasicSR's, MMEngine's or a bare state dict. The mean
metrics are logged and written to ``<work_dir>/test_metrics.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Dict, List, Optional

from mprnet_plugin.cli.common import UsageError
from mprnet_plugin.io.atomic import atomic_write_text
from mprnet_plugin.mmengine.launch import (base_parser, check_config, is_main_process, launch, load_config,
                                           parse_arguments, run)

PROG = 'python -m mprnet_plugin.mmengine.test'


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Command-line options."""
    parser = base_parser('Test an MPRNet checkpoint with MMEngine.', PROG)
    parser.add_argument('--checkpoint', required=True, help='weights to test, in any layout the plugin reads')
    parser.add_argument('--checkpoint-key', default=None,
                        help='where the weights are in the file (default: params_ema, params, state_dict, model)')
    parser.add_argument('--out-dir', default=None, help='also save the restored images here as PNG')
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
    check_config(cfg, 'test', args.config)
    if args.out_dir:
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
