"""The one error type of the option schemas."""
from __future__ import annotations


class OptionError(ValueError):
    """A bad option value: the message names the option path, what was found and what was expected; exit 2."""
