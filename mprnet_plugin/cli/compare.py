"""``mprnet-compare -opt compare.yml``: train, evaluate and profile several registered restorers side by side."""
from __future__ import annotations

import argparse
import logging
import sys
from typing import List, Optional

import yaml

import mprnet_plugin  # noqa: F401  (compatibility fixes and registration first)
from mprnet_plugin.cli.common import add_version, run_tool
from mprnet_plugin.tools.compare import CompareOptionError, load_compare_options, run_comparison
from mprnet_plugin.config.recipes import RecipeError, resolve_option_file

PROG = 'mprnet-compare'


def build_parser() -> argparse.ArgumentParser:
    """The command-line options of ``mprnet-compare``."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description='Train (or load), evaluate and profile every architecture of a comparison file on the same data; '
                    'write comparison.md/.csv/.json, tradeoff.png and crops.png to its output_dir. '
                    'evaluation.precision (--set evaluation.precision=bf16) evaluates in bf16 on CUDA or on the CPU '
                    '(fast where the CPU computes bf16 natively); fp16 is CUDA only; fp32 is the default.')
    parser.add_argument('-opt', '--opt', required=True, help='the comparison file (YAML)')
    parser.add_argument('--output-dir', help='override output_dir')
    parser.add_argument('--iters', type=int,
                        help='override the iteration budget of every architecture (0: evaluate without training)')
    parser.add_argument('--device', help='override device: auto, cpu, cuda or cuda:N')
    parser.add_argument('--only', nargs='+', metavar='NAME', help='run only these architectures (by name)')
    parser.add_argument('--force', action='store_true',
                        help='retrain and re-evaluate even when results are up to date, and write into an '
                             'output_dir this package did not make')
    parser.add_argument('--set', nargs='+', default=[], metavar='KEY=VALUE',
                        help='override any option, e.g. --set profile.input_size=[128,128] seed=1')
    add_version(parser)
    return parser


def parse_overrides(items: List[str]) -> dict:
    """``--set KEY=VALUE`` items as ``{key: value}``, each value read as YAML; errors name the item."""
    overrides = {}
    for item in items:
        key, sep, value = item.partition('=')
        if not sep or not key:
            raise CompareOptionError(f'--set expects KEY=VALUE, got {item!r}')
        try:
            overrides[key] = yaml.safe_load(value)
        except yaml.YAMLError as exc:
            reason = ' '.join(str(getattr(exc, 'problem', None) or exc).split())
            raise CompareOptionError(f'--set {item!r}: the value is not valid YAML ({reason})') from None
    return overrides


def run(args: argparse.Namespace) -> None:
    """Check every option, run the comparison and print where its results are."""
    overrides = parse_overrides(args.set)
    for key, value in (('output_dir', args.output_dir), ('device', args.device)):
        if value is not None:
            overrides[key] = value
    if args.iters is not None and args.iters < 0:
        raise CompareOptionError(f'--iters must be 0 or more, got {args.iters}')
    # -opt: a file, or a packaged recipe name such as compare/demo (mprnet_plugin.config.recipes)
    opt = load_compare_options(resolve_option_file(args.opt, 'compare'), overrides, total_iter=args.iters)
    paths = run_comparison(opt, force=args.force, only=args.only)
    for kind, path in paths.items():
        print(f'{kind}: {path}')
    print((paths['markdown']).read_text(encoding='utf-8'))


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point of the ``mprnet-compare`` console script: 0 done, 2 bad arguments or options, 1 failed work."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format='%(asctime)s %(levelname)s %(message)s')
    return run_tool(PROG, lambda: run(args), usage_errors=(CompareOptionError, RecipeError))


if __name__ == '__main__':
    sys.exit(main())
