"""Strict value types for option files: each refuses what YAML turns into a different type than meant.

A boolean is ``true``/``false`` (never ``'no'``), an integer is an int (never a bool or text), a number is an int or
a float, and text that reads as a number (YAML loads ``1e-4`` as the string ``'1e-4'``) gets a hint. Each type is a
``ValueCheck`` used as pydantic metadata (``Annotated[Any, Int(ge=1)]``); its refusal carries what was expected, so
the schema's messages read ``<path>: <found>; expected <what>``.
"""
from __future__ import annotations

import difflib
import math
import re
from typing import Any, Callable, Iterable, List, Mapping, Optional, Sequence, Tuple

from pydantic_core import PydanticCustomError, core_schema

# YAML 1.1 needs a dot and a signed exponent for a float: '1e-4' stays text, '1.0e-4' is a float.
_NUMBER_TEXT = re.compile(r'^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$')
YAML_FLOAT_HINT = ' (YAML reads 1e-4 as text: write 1.0e-4)'
ERROR_TYPE = 'option_value'


class Refused(ValueError):
    """A value a ``ValueCheck`` refuses: ``expected`` says what it takes, ``hint`` how to fix a common slip."""

    def __init__(self, expected: str, hint: str = '') -> None:
        super().__init__(expected + hint)
        self.expected, self.hint = expected, hint


def describe(value: Any) -> str:
    """A value as the option file spells it, with its kind where YAML could have read it differently."""
    if value is None:
        return 'null'
    if isinstance(value, bool):
        return 'true' if value else 'false'
    if isinstance(value, str):
        return f'{value!r} (text)'
    if isinstance(value, Mapping):
        return f'a mapping {dict(value)!r}' if len(repr(dict(value))) <= 80 else 'a mapping'
    if isinstance(value, (list, tuple)):
        return repr(list(value))
    return repr(value)


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """`` (did you mean X?)`` for the closest of ``known``, or nothing."""
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f' (did you mean {close[0]}?)' if close else ''


def number_text_hint(value: Any) -> str:
    """The YAML float hint when ``value`` is text that reads as a number."""
    return YAML_FLOAT_HINT if isinstance(value, str) and _NUMBER_TEXT.match(value.strip()) else ''


def _bound_text(ge: Optional[float], gt: Optional[float], le: Optional[float], lt: Optional[float]) -> str:
    low = f'[{ge}' if ge is not None else f'({gt}' if gt is not None else ''
    high = f'{le}]' if le is not None else f'{lt})' if lt is not None else ''
    if low and high:
        return f' in {low}, {high}'
    if low:
        return f' >= {ge}' if ge is not None else f' > {gt}'
    if high:
        return f' <= {le}' if le is not None else f' < {lt}'
    return ''


class ValueCheck:
    """A declared value: ``type_name`` and ``expected`` describe it; ``check`` returns it or raises ``Refused``."""

    type_name = 'any'
    expected = 'any value'

    def __init__(self, null: bool = False) -> None:
        self.null = null

    def check(self, value: Any) -> Any:
        """The value, or ``Refused``."""
        return value

    def expected_text(self) -> str:
        """What this check takes, null included."""
        return self.expected + (' or null' if self.null else '')

    def __call__(self, value: Any) -> Any:
        if value is None and self.null:
            return None
        try:
            return self.check(value)
        except Refused as exc:
            expected = exc.expected + (' or null' if self.null and exc.expected == self.expected else '')
            raise PydanticCustomError(ERROR_TYPE, '{expected}{hint}', {'expected': expected, 'hint': exc.hint})

    def __get_pydantic_core_schema__(self, source: Any, handler: Callable[[Any], Any]) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(self)


class Bool(ValueCheck):
    """``true`` or ``false``; text such as ``'no'`` is refused (Python would read it as true)."""

    type_name = 'bool'
    expected = 'true or false'

    def check(self, value: Any) -> Any:
        if not isinstance(value, bool):
            raise Refused(self.expected)
        return value


class Number(ValueCheck):
    """An int or a float (not a bool, not text), optionally bounded."""

    type_name = 'number'

    def __init__(self, ge: Optional[float] = None, gt: Optional[float] = None, le: Optional[float] = None,
                 lt: Optional[float] = None, null: bool = False) -> None:
        super().__init__(null)
        self.ge, self.gt, self.le, self.lt = ge, gt, le, lt
        self.range = _bound_text(ge, gt, le, lt)
        self.expected = f'a number{self.range}'

    def in_range(self, value: float) -> bool:
        """Whether ``value`` lies within the bounds."""
        return not ((self.ge is not None and value < self.ge) or (self.gt is not None and value <= self.gt)
                    or (self.le is not None and value > self.le) or (self.lt is not None and value >= self.lt))

    def check(self, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or \
                (isinstance(value, float) and math.isnan(value)):
            raise Refused(self.expected, number_text_hint(value))
        if not self.in_range(value):
            raise Refused(self.expected)
        return value


class Int(Number):
    """An int (not a bool, not text), optionally bounded; ``whole`` also takes floats such as ``!!float 5e3``."""

    type_name = 'int'

    def __init__(self, ge: Optional[int] = None, gt: Optional[int] = None, le: Optional[int] = None,
                 lt: Optional[int] = None, whole: bool = False, null: bool = False) -> None:
        super().__init__(ge, gt, le, lt, null)
        self.whole = whole
        self.expected = f'{"a whole number" if whole else "an integer"}{self.range}'

    def check(self, value: Any) -> Any:
        # BasicSR's own files write iteration counts as !!float 5e3; those are whole numbers, kept as written.
        whole_float = self.whole and isinstance(value, float) and value.is_integer()
        if isinstance(value, bool) or not (isinstance(value, int) or whole_float):
            raise Refused(self.expected, number_text_hint(value))
        if not self.in_range(value):
            raise Refused(self.expected)
        return value


class Text(ValueCheck):
    """A string (a number or a bool is refused: YAML reads ``name: 1`` as an int)."""

    type_name = 'text'
    expected = 'text'

    def check(self, value: Any) -> Any:
        if not isinstance(value, str):
            raise Refused(self.expected)
        return value


class OneOf(ValueCheck):
    """One of the listed values (compared with their types: ``'true'`` is not ``true``)."""

    type_name = 'choice'

    def __init__(self, *choices: Any, null: bool = False) -> None:
        super().__init__(null)
        self.choices = choices
        self.expected = 'one of ' + ', '.join(describe(c).replace(' (text)', '') for c in choices)

    def check(self, value: Any) -> Any:
        if not any(value == c and type(value) is type(c) for c in self.choices):
            raise Refused(self.expected)
        return value


class ListOf(ValueCheck):
    """A list (YAML sequence) whose items all pass ``item``; ``length`` fixes how many."""

    type_name = 'list'

    def __init__(self, item: ValueCheck, length: Optional[int] = None, min_length: int = 0,
                 null: bool = False) -> None:
        super().__init__(null)
        self.item, self.length, self.min_length = item, length, min_length
        count = f'{length} ' if length is not None else ''
        self.expected = f'a list of {count}items, each {item.expected}'

    def check(self, value: Any) -> Any:
        if not isinstance(value, (list, tuple)) or (self.length is not None and len(value) != self.length) \
                or len(value) < self.min_length:
            raise Refused(self.expected)
        for item in value:
            try:
                self.item.check(item)
            except Refused as exc:
                raise Refused(self.expected, exc.hint) from None
        return value


class AnyOf(ValueCheck):
    """A value that passes one of ``checks`` (the first that takes it)."""

    def __init__(self, *checks: ValueCheck, null: bool = False) -> None:
        super().__init__(null)
        self.checks = checks
        self.type_name = ' | '.join(c.type_name for c in checks)
        self.expected = ' or '.join(c.expected for c in checks)

    def check(self, value: Any) -> Any:
        hints = []
        for option in self.checks:
            try:
                return option.check(value)
            except Refused as exc:
                hints.append(exc.hint)
        raise Refused(self.expected, next((h for h in hints if h), ''))


class MappingValue(ValueCheck):
    """A mapping passed on whole (e.g. a loss's ``layer_weights``), optionally with ``values`` checked."""

    type_name = 'mapping'

    def __init__(self, values: Optional[ValueCheck] = None, null: bool = False) -> None:
        super().__init__(null)
        self.values = values
        self.expected = 'a mapping' + (f' of {values.expected}' if values is not None else '')

    def check(self, value: Any) -> Any:
        if not isinstance(value, Mapping):
            raise Refused(self.expected)
        if self.values is not None:
            for item in value.values():
                self.values.check(item)
        return value


def value_checks(metadata: Sequence[Any]) -> List[ValueCheck]:
    """The ``ValueCheck`` objects in a field's metadata."""
    return [m for m in metadata if isinstance(m, ValueCheck)]


def split_number_range(check: ValueCheck) -> Tuple[str, str]:
    """``(type, range)`` of a check for the option reference."""
    if isinstance(check, Number) and check.range:
        return check.type_name, check.range.strip()
    if isinstance(check, (OneOf, AnyOf, ListOf, MappingValue)):
        return check.type_name, check.expected_text()
    return check.type_name, 'or null' if check.null else ''
