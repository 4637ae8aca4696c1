"""The error every option check raises (from any layer); the commands answer it with one line and exit status 2."""
from __future__ import annotations


class OptionError(ValueError):
    """A bad option value: the message names the option path, what was found and what was expected; exit 2."""
