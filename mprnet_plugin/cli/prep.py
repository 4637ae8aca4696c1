"""``mprnet-prep <dataset> --src RAW --dst OUT``: turn a dataset archive, as distributed, into BasicSR LMDBs."""
from __future__ import annotations

import argparse
import logging
import os
import sys
import warnings
from typing import List, Optional

from mprnet_plugin.cli.common import UsageError, add_version, one_line, run_tool
from mprnet_plugin.data.pairing import CountMismatchWarning
from mprnet_plugin.data.prep import PrepOptions, prepare_dataset

DATASET_HELP = {
    'gopro': 'GOPRO_Large: train/{input,target}_crops.lmdb (crop 512, step 256) and test/{input,target}.lmdb',
    'hide': 'HIDE_dataset: test/{input,target}.lmdb and test/subsets.json (close-up / long-shot keys)',
    'realblur-j': 'RealBlur-J from the official lists: {train,test}/{input,target}.lmdb',
    'realblur-r': 'RealBlur-R from the official lists: {train,test}/{input,target}.lmdb',
    'rain13k': 'Rain13K: train/{input,target}.lmdb and test/<Set>/{input,target}.lmdb for the five test sets',
    'sidd': 'SIDD sRGB: train/{input,target}_crops.lmdb (SIDD-Medium, crop 512, step 384), val/{input,target}.lmdb',
    'dnd': 'DND sRGB: checks info.mat and images_srgb/*.mat (read directly by DNDDataset; nothing is written)',
}


def build_parser(dataset: Optional[str] = None) -> argparse.ArgumentParser:
    """The argument parser; with ``dataset`` fixed (the per-dataset scripts) the positional argument is dropped."""
    parser = argparse.ArgumentParser(
        prog='mprnet-prep' if dataset is None else f'datasets_prep/{dataset.replace("-", "_")}.py',
        description='Prepare a restoration dataset, as its authors distribute it, for training and testing: '
                    'BasicSR LMDBs (PNG, BGR, meta_info.txt) written atomically; complete outputs are skipped.',
        epilog='\n'.join(f'  {k:<11} {v}' for k, v in DATASET_HELP.items()),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    if dataset is None:
        parser.add_argument('dataset', choices=list(DATASET_HELP), help='which dataset (see below)')
    parser.add_argument('--src', required=True, help='the unpacked archive (e.g. the folder holding GOPRO_Large)')
    parser.add_argument('--dst', help='output root; required except for dnd')
    parser.add_argument('--workers', type=int, default=min(8, os.cpu_count() or 1),
                        help='encoding processes (default: min(8, CPU count))')
    parser.add_argument('--crop-size', type=int, help='training crop size (default: the published 512)')
    parser.add_argument('--step', type=int, help='training crop step (default: 256 for GoPro, 384 for SIDD)')
    parser.add_argument('--splits', nargs='+', metavar='SPLIT',
                        help='only these splits (gopro: train test; realblur: train test; rain13k: train test; '
                             'sidd: train val; hide, dnd: test)')
    parser.add_argument('--blur-gamma', action='store_true', help='gopro: use blur_gamma instead of blur as input')
    parser.add_argument('--compress-level', type=int, default=1, choices=range(10), metavar='0-9',
                        help='PNG compression level in the LMDBs (default 1, as BasicSR)')
    parser.add_argument('--overwrite', action='store_true', help='rewrite outputs that are already complete')
    parser.add_argument('--strict', action='store_true', help='a count different from the published one is an error')
    return add_version(parser)


def main(argv: Optional[List[str]] = None, dataset: Optional[str] = None) -> int:
    """Run the preparation; returns 0 on success, 1 on bad input, 2 on bad arguments, 130 on Ctrl-C (one line)."""
    parser = build_parser(dataset)
    args = parser.parse_args(argv)
    dataset = dataset or args.dataset
    logging.basicConfig(level=logging.INFO, format='%(levelname)s %(message)s', stream=sys.stderr)
    return run_tool(parser.prog, lambda: prepare(args, dataset))


def prepare(args: argparse.Namespace, dataset: str) -> None:
    """Check the arguments (``UsageError``), prepare ``dataset`` and print what was written."""
    if args.dst is None and dataset != 'dnd':
        raise UsageError(f'{dataset}: --dst is required')
    if (args.crop_size is not None or args.step is not None) and dataset not in ('gopro', 'sidd'):
        raise UsageError(f'{dataset}: --crop-size and --step apply to the training crops of gopro and sidd only')
    if args.workers < 1:
        raise UsageError(f'{dataset}: --workers must be at least 1, got {args.workers}')
    try:
        opts = PrepOptions(src=args.src, dst=args.dst, workers=args.workers, crop_size=args.crop_size, step=args.step,
                           overwrite=args.overwrite, strict=args.strict, compress_level=args.compress_level,
                           splits=args.splits, blur_gamma=args.blur_gamma)
    except ValueError as err:
        raise UsageError(f'{dataset}: {err}') from err
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', CountMismatchWarning)  # already logged as a WARNING line
        try:
            result = prepare_dataset(dataset, opts)
        except (OSError, ValueError) as err:  # bad input data: exit 1, the message names the dataset
            raise PrepError(f'{dataset}: {one_line(err)}') from err
    for path, count in result.outputs.items():
        print(f'{count:>8}  {path}')
    for path in result.files:
        print(f'{"":>8}  {path}')
    if not result.counts_ok:
        print(f'mprnet-prep {dataset}: done, but some counts differ from the published ones (see the warnings)',
              file=sys.stderr)


class PrepError(RuntimeError):
    """A dataset that cannot be prepared as it is (exit status 1); the message names the dataset."""


if __name__ == '__main__':
    sys.exit(main())
