"""``mprnet-options``: the packaged recipes (option files), from any folder.

    mprnet-options list                          # names and one-line descriptions
    mprnet-options path train/GoPro              # where the file is
    mprnet-options copy train/GoPro my_gopro.yml # your own copy to edit (refuses to overwrite without --force)
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path
from typing import List, Optional

from mprnet_plugin.cli.common import add_version, run_tool
from mprnet_plugin.config.recipes import GROUPS, RecipeError, description, find_recipe, recipes
from mprnet_plugin.io.atomic import atomic_output


def build_parser() -> argparse.ArgumentParser:
    """The command-line options."""

    parser = argparse.ArgumentParser(prog='mprnet-options', description=__doc__.split('\n\n')[0].strip('`'),
                                     epilog='Names: group/file (e.g. train/MPRNet_GoPro); the MPRNet_ prefix, the '
                                            'group and case may be left out when one file still matches.')
    add_version(parser)
    sub = parser.add_subparsers(dest='command', required=True, metavar='{list,path,copy}')
    listing = sub.add_parser('list', help='names and one-line descriptions of the packaged recipes')
    listing.add_argument('--group', choices=GROUPS, help='only this group')
    path = sub.add_parser('path', help='print the path of a packaged recipe')
    path.add_argument('name')
    copy = sub.add_parser('copy', help='copy a packaged recipe to a file of yours')
    copy.add_argument('name')
    copy.add_argument('dest', help='file (or existing folder) to copy to')
    copy.add_argument('--force', action='store_true', help='replace an existing file')
    return parser


def list_recipes(group: Optional[str]) -> None:
    """Print ``name  description`` for every recipe."""
    table = {k: v for k, v in recipes().items() if group is None or k.startswith(f'{group}/')}
    width = max((len(k) for k in table), default=0)
    for name, path in table.items():
        print(f'{name:<{width}}  {description(path)}'.rstrip())


def copy_recipe(name: str, dest: str, force: bool) -> Path:
    """Copy the recipe ``name`` to ``dest`` (a file, or a folder to put it in); returns the file written."""
    source = find_recipe(name)
    target = Path(dest)
    if target.is_dir():
        target = target / source.name
        if target.is_dir():
            raise FileExistsError(f'{target} is a directory; expected a file name to copy {source.name} to')
    if target.exists() and not force:
        raise FileExistsError(f'{target} already exists; pass --force to replace it')
    with atomic_output(target) as tmp:
        shutil.copyfile(source, tmp)
    return target


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point; exit status 2 for a bad name or a file in the way."""
    args = build_parser().parse_args(argv)

    def body() -> None:
        try:
            if args.command == 'list':
                list_recipes(args.group)
            elif args.command == 'path':
                print(find_recipe(args.name))
            else:
                target = copy_recipe(args.name, args.dest, args.force)
                print(f'copied {find_recipe(args.name)} to {target}; relative data paths in it are read from the '
                      'folder you run the command in')
        except BrokenPipeError:  # `mprnet-options list | head`: the reader has all it wanted
            sys.stdout = open(os.devnull, 'w')
        except OSError as exc:
            if isinstance(exc, FileExistsError):
                raise
            what = f'copy to {args.dest!r}' if args.command == 'copy' else args.command
            raise OSError(f'cannot {what}: {exc.strerror or exc}') from None

    return run_tool('mprnet-options', body, usage_errors=(RecipeError, FileExistsError))


if __name__ == '__main__':
    sys.exit(main())
