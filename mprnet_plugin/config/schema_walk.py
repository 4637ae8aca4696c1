"""Walking the section models: which sub-sections a field holds, and whether a dotted option path is declared."""
from __future__ import annotations

import typing
from typing import Any, Iterator, List, Optional, Tuple, Type

from pydantic import BaseModel
from pydantic.fields import FieldInfo

# How a field holds a sub-section: directly, as a mapping of named sections, or as a list of them.
SECTION, NAMED, LISTED = 'section', 'named', 'listed'
PLACEHOLDERS = {('datasets',): '<phase>', ('val', 'metrics'): '<name>'}


def _strip_optional(annotation: Any) -> Any:
    if typing.get_origin(annotation) is typing.Union:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def sub_section(field: FieldInfo) -> Optional[Tuple[str, Type[BaseModel]]]:
    """``(how, model)`` when ``field`` holds sections (``SECTION``, ``NAMED`` or ``LISTED``), else None."""
    annotation = _strip_optional(field.annotation)
    if _is_model(annotation):
        return SECTION, annotation
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is dict and len(args) == 2 and _is_model(args[1]):
        return NAMED, args[1]
    if origin is list and len(args) == 1 and _is_model(args[0]):
        return LISTED, args[0]
    return None


def placeholder(parent: Tuple[str, ...], how: str) -> str:
    """The placeholder of a variable key below ``parent`` (``<phase>``, ``<name>``, ``<i>``)."""
    if how == LISTED:
        return '<i>'
    return PLACEHOLDERS.get(parent, '<name>')


def iter_sections(model: Type[BaseModel], path: Tuple[str, ...] = ()) -> Iterator[Tuple[Tuple[str, ...],
                                                                                          Type[BaseModel]]]:
    """Every section model below ``model`` (itself first) with its dotted path, placeholders for variable keys."""
    yield path, model
    for name, field in model.model_fields.items():
        held = sub_section(field)
        if held is None:
            continue
        how, sub = held
        sub_path = path + (name,) if how == SECTION else path + (name, placeholder(path + (name,), how))
        yield from iter_sections(sub, sub_path)


def declared_path(model: Type[BaseModel], dotted: str) -> Tuple[bool, str]:
    """Whether ``dotted`` (placeholders allowed) is a key of ``model``'s schema; ``(False, why)`` when not.

    Keys below a section with ``open_arguments`` (a network's or loss's arguments) are declared by the registered
    class, not here: they answer ``(True, 'arguments')``.
    """
    keys: List[str] = dotted.split('.')
    current: Type[BaseModel] = model
    index = 0
    while index < len(keys):
        key = keys[index]
        field = current.model_fields.get(key)
        if field is None:
            if getattr(current, 'open_arguments', False):
                return True, 'arguments'
            return False, f'{".".join(keys[:index + 1])} is not declared'
        held = sub_section(field)
        index += 1
        if held is None:
            return (True, 'value') if index == len(keys) else (False, f'{".".join(keys[:index])} is a value')
        how, current = held
        if how != SECTION and index < len(keys):
            index += 1  # the variable key: a phase, a metric's name, a list index
    return True, 'section'
