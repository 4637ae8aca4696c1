"""What every command-line tool shares: ``--version``, the error line, exit statuses and the traceback switch.

The convention (README, "Bad input"): an error is one line on stderr, ``<tool>: error: <what>``; the exit status is 2
for bad arguments or options (the command line, an option file, a file it names), 1 for work that failed, 0 on
success. A traceback is printed only when the environment variable ``MPRNET_TRACEBACK`` is set to a non-empty value
other than ``0``.
"""
from __future__ import annotations

import argparse
import os
import sys
import traceback
from typing import Callable, Optional, Tuple, Type

from mprnet_plugin.errors import OptionError
from mprnet_plugin.version import __version__

TRACEBACK_VARIABLE = 'MPRNET_TRACEBACK'
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


# A bad argument or option (exit status 2); the message names the argument, option or file.
UsageError = OptionError


def add_version(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add ``--version`` (prints ``<tool> (mprnet_plugin) <version>``) to ``parser``; returns it."""
    parser.add_argument('--version', action='version', version=f'{parser.prog} (mprnet_plugin) {__version__}')
    return parser


def traceback_wanted() -> bool:
    """True when ``MPRNET_TRACEBACK`` asks for full tracebacks."""
    return os.environ.get(TRACEBACK_VARIABLE, '') not in ('', '0')


def one_line(exc: BaseException) -> str:
    """An exception as one line: its message (the last line of a worker's re-raised traceback), else its type."""
    text = str(exc).strip()
    if 'Original Traceback' in text:  # torch DataLoader workers re-raise with the worker's whole traceback
        text = text.splitlines()[-1].strip()
    text = ' '.join(text.split())
    if isinstance(exc, KeyError) and text.startswith(("'", '"')):
        text = f'missing key {text}'
    if not text or isinstance(exc, (AssertionError, AttributeError, TypeError, KeyError, IndexError, EOFError)):
        text = f'{type(exc).__name__}: {text}' if text else type(exc).__name__
    return text


def report_error(prog: str, message: str) -> None:
    """Print ``<prog>: error: <message>`` on stderr."""
    print(f'{prog}: error: {message}', file=sys.stderr, flush=True)


def fail(prog: str, exc: BaseException, status: int) -> int:
    """Report ``exc`` in one line (with its traceback when asked for); returns ``status``."""
    if traceback_wanted():
        traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
    report_error(prog, one_line(exc))
    return status


def run_tool(prog: str, body: Callable[[], Optional[int]],
             usage_errors: Tuple[Type[BaseException], ...] = (UsageError,)) -> int:
    """Run a tool's work and apply the convention: ``usage_errors`` and any ``OptionError`` exit 2, any other
    exception 1, one line each."""
    try:
        status = body()
    except KeyboardInterrupt:
        report_error(prog, 'interrupted')
        return 130
    except SystemExit:
        raise
    except (*usage_errors, OptionError) as exc:
        return fail(prog, exc, EXIT_USAGE)
    except Exception as exc:  # noqa: BLE001 (the convention: one line, the traceback on request)
        return fail(prog, exc, EXIT_FAILED)
    return EXIT_OK if status is None else int(status)


__all__ = ['EXIT_FAILED', 'EXIT_OK', 'EXIT_USAGE', 'TRACEBACK_VARIABLE', 'UsageError', 'add_version', 'fail',
           'one_line', 'report_error', 'run_tool', 'traceback_wanted']

