"""The command-line options of MPRNet-Local (TLC's test-time local converter), shared by mprnet-infer and -export."""
from __future__ import annotations

import argparse
from typing import Any, Dict, Optional

from mprnet_plugin.archs.mprnet_local_arch import resolve_sizes


def add_local_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--local``, ``--train-size``, ``--base-size`` and ``--fast-local`` to ``parser``."""
    group = parser.add_argument_group('MPRNet-Local (test-time local converter, TLC)')
    group.add_argument('--local', action='store_true',
                       help='pool channel attention over windows sized from the training patch instead of the whole '
                            'image (same weights; better on images larger than the training patches)')
    group.add_argument('--train-size', type=int, nargs='+', default=[256], metavar='N',
                       help='training patch: N or H W, multiples of 8 (default 256, the authors\' patches)')
    group.add_argument('--base-size', type=int, nargs='+', default=None, metavar='N',
                       help='window at the input scale: N or H W (default 1.5 x --train-size, 384 for 256)')
    group.add_argument('--fast-local', action='store_true',
                       help='TLC\'s faster, approximate local pooling (sub-sampled); not exportable with free sizes')


def local_options(parser: argparse.ArgumentParser, args: argparse.Namespace) -> Optional[Dict[str, Any]]:
    """``to_local``'s arguments from the command line (None without ``--local``); bad sizes stop the parser."""
    given = args.base_size is not None or args.fast_local or args.train_size != [256]
    if not args.local:
        if given:
            parser.error('--train-size, --base-size and --fast-local need --local')
        return None
    for name, value in (('--train-size', args.train_size), ('--base-size', args.base_size)):
        if value is not None and len(value) not in (1, 2):
            parser.error(f'{name} takes N or H W; got {len(value)} numbers')
    train = args.train_size if len(args.train_size) == 2 else args.train_size[0]
    base = None if args.base_size is None else (args.base_size if len(args.base_size) == 2 else args.base_size[0])
    try:
        resolve_sizes(train, base)
    except ValueError as exc:
        parser.error(str(exc).replace('MPRNetLocal: train_size', '--train-size')
                     .replace('MPRNetLocal: base_size', '--base-size'))
    return dict(train_size=train, base_size=base, fast_imp=args.fast_local)
