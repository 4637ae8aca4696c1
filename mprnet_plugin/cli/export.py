"""``mprnet-export``: write an MPRNet checkpoint as ONNX or TorchScript, checked against PyTorch.

    mprnet-export --weights model_deblurring.pth --format onnx --output mprnet_deblurring.onnx --dynamic
"""
from __future__ import annotations

import argparse
import sys
import time
import math
import os
from typing import Optional, Sequence

from mprnet_plugin.archs.descriptor import network_size_multiple
from mprnet_plugin.archs.mprnet_local_arch import to_local
from mprnet_plugin.checkpoints import CheckpointError, build_mprnet_from_checkpoint
from mprnet_plugin.cli.common import UsageError, add_version, run_tool
from mprnet_plugin.cli.local_args import add_local_arguments, local_options
from mprnet_plugin.inference.export import DEFAULT_OPSET, EXPORT_FORMATS, check_size, export, supported_opsets
from mprnet_plugin.io.atomic import OutputConflictError, check_writable_location, refuse_existing_file

PROG = 'mprnet-export'
# Exports that differ from PyTorch by more than this fail the command (float32 reordering stays far below it).
DEFAULT_TOLERANCE = 1e-4


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """The command line of ``mprnet-export``."""
    parser = argparse.ArgumentParser(
        prog=PROG, description='Export an MPRNet checkpoint to ONNX or TorchScript. The graph takes an '
                                          '(N, 3, H, W) RGB float batch in [0, 1], H and W multiples of 8, and '
                                          'returns the final restored image.')
    parser.add_argument('--weights', required=True, help='checkpoint file (authors\', BasicSR, MMEngine or bare)')
    parser.add_argument('--format', required=True, choices=EXPORT_FORMATS, help='onnx or torchscript')
    parser.add_argument('--output', required=True, help='file to write (.onnx / .pt)')
    parser.add_argument('--dynamic', action='store_true',
                        help='ONNX: free batch, height and width (multiples of 8); without it the graph is fixed to '
                             '--height x --width and batch 1. TorchScript is always size-free.')
    parser.add_argument('--height', type=int, default=256, help='example input height (default 256)')
    parser.add_argument('--width', type=int, default=256, help='example input width (default 256)')
    parser.add_argument('--opset', type=int, default=DEFAULT_OPSET, help=f'ONNX opset (default {DEFAULT_OPSET})')
    parser.add_argument('--checkpoint-key', default=None, help='read the weights under this key')
    parser.add_argument('--tolerance', type=float, default=DEFAULT_TOLERANCE,
                        help=f'largest accepted max abs difference from PyTorch (default {DEFAULT_TOLERANCE:g})')
    parser.add_argument('--no-verify', action='store_true', help='skip the comparison with PyTorch')
    parser.add_argument('--force', action='store_true', help='replace an existing --output file')
    add_version(parser)
    add_local_arguments(parser)
    args = parser.parse_args(argv)
    args.local_options = local_options(parser, args)
    if args.local_options and args.local_options['fast_imp']:
        parser.error('--fast-local cannot be exported: its sub-sampling depends on the input size; '
                     'export the exact local network (--local without --fast-local)')
    if args.height <= 0 or args.width <= 0:
        parser.error(f'--height and --width must be positive; got {args.height}x{args.width}')
    if not math.isfinite(args.tolerance) or args.tolerance < 0:
        parser.error(f'--tolerance must be a finite number >= 0; got {args.tolerance}')
    low, high = supported_opsets()
    if args.format == 'onnx' and not low <= args.opset <= high:
        parser.error(f'--opset must be in {low}-{high} (what this torch exports); got {args.opset}')
    return args


def check_output(output: str, weights: str, force: bool = False) -> None:
    """Refuse an ``--output`` that is the checkpoint, a folder, an existing file (without ``force``), or that
    cannot be made (under a file, in a folder that cannot be written)."""
    if os.path.abspath(output) == os.path.abspath(weights):
        raise UsageError(f'--output {output!r} is the --weights file; choose another name')
    try:
        refuse_existing_file(output, force, '--output')
        check_writable_location(output)
    except OutputConflictError as exc:
        raise UsageError(str(exc) if str(exc).startswith('--output') else f'--output: {exc}') from None


def run(args: argparse.Namespace) -> int:
    """Export and check; an export beyond the tolerance raises (and leaves no file)."""
    check_output(args.output, args.weights, args.force)
    net = build_mprnet_from_checkpoint(args.weights, args.checkpoint_key)
    if args.local_options:
        to_local(net, **args.local_options)
    multiple = network_size_multiple(net)
    if args.height % multiple or args.width % multiple:
        raise UsageError(f'--height and --width must be multiples of {multiple} (the network\'s size multiple); '
                         f'got {args.height}x{args.width}')
    start = time.perf_counter()
    diff = export(net, args.output, args.format, args.height, args.width, args.dynamic, args.opset,
                  verify=not args.no_verify, tolerance=args.tolerance)
    print(f'wrote {args.format} model {args.output} ({time.perf_counter() - start:.1f} s, '
          f'{"dynamic batch/height/width" if args.dynamic or args.format == "torchscript" else "fixed size"})')
    if diff is not None:
        h, w = check_size(args.height, args.width, args.dynamic or args.format == 'torchscript', multiple)
        print(f'checked against PyTorch on a random 1x3x{h}x{w} input: max abs difference {diff:.3g}')
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of ``mprnet-export``; exit status 1 when the export fails or differs from PyTorch beyond the
    tolerance (nothing is written then), 2 for bad arguments or checkpoints."""
    args = parse_args(argv)
    return run_tool(PROG, lambda: run(args), usage_errors=(UsageError, CheckpointError))


if __name__ == '__main__':
    sys.exit(main())
