"""``mprnet-eval``: score a folder of saved outputs against a folder of targets with any benchmark's metrics.

For results produced elsewhere (another framework, the authors' scripts, ``mprnet-infer``). Outputs are paired with
targets by file name (``--suffix`` is the text outputs add to the target's stem, like BasicSR's ``val.suffix``).
Outputs may be image files or float32 RGB ``.npy`` arrays in [0, 1] (``val.save_npy``); the float metrics score
``.npy`` outputs unrounded, and 8-bit metrics round them first as BasicSR's ``tensor2img`` does (half to even).
Targets may be a folder of images or ``.npy`` files, or a BasicSR LMDB (``mprnet-prep``'s ``target.lmdb``), whose
keys are the names. Both sides are compared on one scale: uint8 means 0-255, uint16 0-65535, floats [0, 1]; a pair
of different types (16-bit outputs against 8-bit targets) is compared in [0, 1]. A ``.npy`` with values beyond
[-0.5, 1.5] (0-255 floats) is refused naming the file.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import List, Optional

import mprnet_plugin  # noqa: F401  (the package's import installs the host fixes, registers metrics)
from mprnet_plugin.cli.common import add_version, run_tool
from mprnet_plugin.data.lmdb_reader import is_lmdb
from mprnet_plugin.io.atomic import OutputConflictError, check_writable_location, refuse_existing_file
from mprnet_plugin.metrics.benchmarks import BENCHMARK_METRICS, PAPER_RESULTS
from mprnet_plugin.reporting.folders import EvaluationError, evaluate_folders, metric_options
from mprnet_plugin.reporting.summary import SummaryRow
from mprnet_plugin.reporting.tables import format_console, write_per_image_csv, write_summary

PROG = 'mprnet-eval'
# What a run writes into its save folder (--save-dir, default --output).
SAVED_FILES = ('summary.csv', 'summary.md', 'per_image.csv')


class ArgumentError(EvaluationError):
    """An option of the command line that cannot work (exit status 2)."""


def build_parser() -> argparse.ArgumentParser:
    """The command-line options of ``mprnet-eval``."""
    parser = argparse.ArgumentParser(prog='mprnet-eval', description=__doc__.split('\n\n')[0])
    parser.add_argument('--output', required=True, help='folder of restored images or float32 RGB .npy outputs')
    parser.add_argument('--target', required=True,
                        help="folder of ground-truth images (or .npy), or a BasicSR LMDB (mprnet-prep's target.lmdb)")
    parser.add_argument('--benchmark', choices=sorted(BENCHMARK_METRICS),
                        help="the benchmark whose protocol to follow (its 'psnr' and 'ssim', see the README)")
    parser.add_argument('--metric', action='append', default=[], metavar='TYPE',
                        help='any metric registered in BasicSR (e.g. calculate_psnr); repeat for several')
    parser.add_argument('--suffix', default='', help="text outputs add to the target's name, e.g. '_MPRNet'")
    parser.add_argument('--name', default=None, help='the row name in the table (default: the output folder name)')
    parser.add_argument('--paper', default=None, choices=sorted(PAPER_RESULTS),
                        help="a row of the paper's table to show beside the scores, e.g. 'RealBlur-J'")
    parser.add_argument('--save-dir', default=None,
                        help='write summary.csv, summary.md and per_image.csv here (default: the output folder)')
    parser.add_argument('--workers', type=int, default=1, help='processes scoring images in parallel (default 1)')
    parser.add_argument('--force', action='store_true',
                        help='replace summary.csv, summary.md and per_image.csv if they exist in the save folder')
    add_version(parser)
    return parser


def check_save_dir(save_dir: Path, force: bool) -> None:
    """Refuse, before scoring, a save folder that cannot be made or whose result files exist (unless ``force``)."""
    if save_dir.exists() and not save_dir.is_dir():
        raise ArgumentError(f'--save-dir {str(save_dir)!r} is a file; expected a folder')
    try:
        check_writable_location(save_dir / SAVED_FILES[0])
        for file_name in SAVED_FILES:
            refuse_existing_file(save_dir / file_name, force)
    except OutputConflictError as exc:
        raise ArgumentError(str(exc)) from None


def run(argv: Optional[List[str]] = None) -> SummaryRow:
    """Score a folder of outputs, print the table and write it as CSV and Markdown; returns the summary row."""
    args = build_parser().parse_args(argv)
    if args.workers < 1:
        raise ArgumentError(f'--workers must be at least 1, got {args.workers}')
    for option, folder in (('--output', args.output), ('--target', args.target)):
        if not Path(folder).exists() and not is_lmdb(folder):  # an LMDB's own check says what it lacks
            raise ArgumentError(f'{option} folder {folder!r} does not exist')
        if Path(folder).exists() and not Path(folder).is_dir():
            raise ArgumentError(f'{option} {folder!r} is a file; expected a folder')
    try:
        metric_opts = metric_options(args.benchmark, args.metric)
    except EvaluationError as exc:
        raise ArgumentError(str(exc)) from None
    save_dir = Path(args.save_dir or args.output)
    check_save_dir(save_dir, args.force)
    name = args.name or Path(args.output).resolve().name
    row = evaluate_folders(args.output, args.target, metric_opts, args.suffix, args.workers, name)
    row.paper = args.paper
    csv_path, md_path = write_summary([row], save_dir)
    write_per_image_csv(row, save_dir / 'per_image.csv')
    print(f'{format_console([row])}\nWritten to {csv_path}, {md_path} and {save_dir / "per_image.csv"}', flush=True)
    return row


def main(argv: Optional[List[str]] = None) -> int:
    """``mprnet-eval``: 0 on success; 2 for bad arguments, 1 for files that cannot be scored, with a one-line reason."""
    def body() -> None:
        run(argv)

    # Any other error (an EvaluationError, an unreadable image, a failed write) means files that cannot be scored.
    return run_tool(PROG, body, usage_errors=(ArgumentError,))


if __name__ == '__main__':
    sys.exit(main())
