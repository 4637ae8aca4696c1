"""The declared schema of a BasicSR option file, and its one entry point: ``validate_basicsr_options``.

The sections are pydantic models (``basicsr_sections``), the values strict (``option_types``), the rules between
keys and the registered types in ``basicsr_rules`` / ``registered_types``. Validation stops at the first problem,
raised as ``OptionError`` in one line: ``<option path>: <what was found>; expected <what>``.
"""
from __future__ import annotations

from typing import Any, List, Mapping, Tuple, Type

from pydantic import BaseModel, ValidationError

from mprnet_plugin.config import basicsr_rules
from mprnet_plugin.config.basicsr_sections import MODEL, PACKAGE, BasicSROptions
from mprnet_plugin.errors import OptionError
from mprnet_plugin.config.option_types import ERROR_TYPE, describe, did_you_mean
from mprnet_plugin.config.registered_types import is_package_model
from mprnet_plugin.config.schema_walk import LISTED, NAMED, SECTION, sub_section

__all__ = ['BasicSROptions', 'OptionError', 'validate_basicsr_options', 'unknown_key_warnings']


def _dotted(loc: Tuple[Any, ...]) -> str:
    return '.'.join(str(part) for part in loc) or '<top level>'


def _owned(model: Type[BaseModel], package_model: bool) -> bool:
    owner = getattr(model, 'owner', None)
    return owner == PACKAGE or (owner == MODEL and package_model)


def unknown_key_warnings(opt: Mapping[str, Any], package_model: bool) -> List[str]:
    """Warnings for keys no section declares where BasicSR reads the section; ``OptionError`` for the first such key
    where this package reads it (with the closest declared key)."""
    warnings: List[str] = []
    _walk(BasicSROptions, opt, (), package_model, warnings)
    return warnings


def _walk(model: Type[BaseModel], data: Any, loc: Tuple[str, ...], package_model: bool, warnings: List[str]) -> None:
    if not isinstance(data, Mapping) or getattr(model, 'open_arguments', False):
        return  # a wrong type is the value check's to report; arguments are the constructor's
    fields = model.model_fields
    for key, value in data.items():
        field = fields.get(key)
        path = _dotted(loc + (str(key),))
        if field is None:
            hint = did_you_mean(str(key), fields)
            if _owned(model, package_model):
                reader = 'MPRNetModel' if getattr(model, 'owner', None) == MODEL else 'mprnet_plugin'
                raise OptionError(f'{path}: unknown key{hint}; expected one of the keys {reader} reads in '
                                  f'{_dotted(loc)}: {", ".join(fields)}')
            warnings.append(f'{path}: unknown key, not read by BasicSR or mprnet_plugin{hint}')
            continue
        held = sub_section(field)
        if held is None:
            continue
        how, sub = held
        if how == SECTION:
            _walk(sub, value, loc + (str(key),), package_model, warnings)
        elif how == NAMED and isinstance(value, Mapping):
            for name, item in value.items():
                _walk(sub, item, loc + (str(key), str(name)), package_model, warnings)
        elif how == LISTED and isinstance(value, list):
            for index, item in enumerate(value):
                _walk(sub, item, loc + (str(key), str(index)), package_model, warnings)


def _first_value_error(exc: ValidationError) -> OptionError:
    error = exc.errors(include_url=False)[0]
    path = _dotted(tuple(error['loc']))
    found = describe(error.get('input'))
    if error['type'] == ERROR_TYPE:
        ctx = error.get('ctx') or {}
        return OptionError(f'{path}: {found}; expected {ctx.get("expected")}{ctx.get("hint", "")}')
    if error['type'] in ('model_type', 'dict_type', 'model_attributes_type'):
        return OptionError(f'{path}: {found}; expected a mapping (a section of keys)')
    if error['type'] == 'list_type':
        return OptionError(f'{path}: {found}; expected a list')
    if error['type'] == 'extra_forbidden':
        return OptionError(f'{path}: unknown key; expected a declared key')
    return OptionError(f'{path}: {found}; expected {error["msg"]}')


def validate_basicsr_options(opt: Mapping[str, Any], *, testing: bool, source: str) -> List[str]:
    """Check a BasicSR option dict (``--force_yml`` applied) before any work; returns warnings, raises the first
    problem as ``OptionError``.

    ``testing`` selects the test pipeline's needs (weights, ``val``) over training's (``train``, ``logger``, a train
    set); ``source`` (the option file) is named in the error when the options are not a mapping at all.
    """
    if not isinstance(opt, Mapping):
        raise OptionError(f'{source}: {describe(opt)}; expected a mapping of options (name, model_type, datasets, '
                          'network_g, path, ...)')
    package_model = is_package_model(opt.get('model_type'))
    warnings = unknown_key_warnings(opt, package_model)
    try:
        BasicSROptions.model_validate(dict(opt))
    except ValidationError as exc:
        raise _first_value_error(exc) from None
    warnings += basicsr_rules.run_rules(opt, testing, package_model)
    return warnings
