"""``mprnet-convert``: rewrite MPRNet weights in another checkpoint layout, checked bit for bit.

    mprnet-convert model_deblurring.pth model_deblurring.safetensors
    mprnet-convert net_g_latest.pth net_g_latest_authors.pth --to authors --key params_ema
"""
from __future__ import annotations

import argparse
import sys
from typing import List, Optional

from mprnet_plugin.checkpoints.conversion import LAYOUTS, convert_checkpoint, layout_for
from mprnet_plugin.checkpoints.reading import CheckpointError
from mprnet_plugin.cli.common import UsageError, add_version, run_tool
from mprnet_plugin.io.atomic import OutputConflictError


def build_parser() -> argparse.ArgumentParser:
    """The command-line options."""

    parser = argparse.ArgumentParser(
        prog='mprnet-convert',
        description="Convert MPRNet weights between the authors' ({'state_dict'}), BasicSR ({'params'}), MMEngine "
                    "({'state_dict'} with generator. keys), bare state-dict and .safetensors layouts. The output is "
                    'read back and compared with the input before it appears under its name.')
    parser.add_argument('input', help='checkpoint in any layout the plugin reads (.pth or .safetensors)')
    parser.add_argument('output', help='file to write; refused if it exists, unless --force')
    parser.add_argument('--to', choices=LAYOUTS, default=None,
                        help='layout to write (default: safetensors for a .safetensors output, else basicsr)')
    parser.add_argument('--key', default=None,
                        help='read the weights under this key of the input (default: params_ema, params, '
                             'state_dict, model: the first present)')
    parser.add_argument('--force', action='store_true', help='replace an existing output file')
    add_version(parser)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point; exit status 2 for bad arguments or an unreadable input, 1 when writing fails."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        layout_for(args.output, args.to)
    except ValueError as exc:
        parser.error(str(exc))

    def body() -> None:
        try:
            layout, used, count = convert_checkpoint(args.input, args.output, args.to, args.key, args.force)
        except OSError as exc:
            if isinstance(exc, FileExistsError):  # an output in the way (refused, never replaced): bad arguments
                raise UsageError(str(exc)) from None
            raise OSError(f'cannot write {args.output!r}: {exc.strerror or exc}') from None
        print(f'wrote {args.output} ({layout} layout, {count} tensors from {used or "the top level"} of {args.input})')

    return run_tool('mprnet-convert', body, usage_errors=(UsageError, CheckpointError, OutputConflictError))


if __name__ == '__main__':
    sys.exit(main())
