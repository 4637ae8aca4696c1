"""The Markdown option reference, generated from the schema so that it cannot drift from what is checked."""
from __future__ import annotations

from typing import Any, List, Type

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from mprnet_plugin.config.basicsr_sections import MODEL, PACKAGE, BasicSROptions
from mprnet_plugin.config.option_types import split_number_range, value_checks
from mprnet_plugin.config.schema_walk import iter_sections, sub_section

REGENERATE = ('PYTHONPATH=. python -c "from mprnet_plugin.config.reference import option_reference_markdown as m; '
              'open(\'docs/option-reference.md\', \'w\').write(m())"')
OWNERS = {PACKAGE: 'mprnet_plugin (unknown keys refused)', MODEL: 'the model (MPRNetModel: unknown keys refused; '
          'BasicSR\'s models: warnings)'}


def _cell(text: Any) -> str:
    return str(text).replace('|', '\\|').replace('\n', ' ')


def _type_and_range(field: FieldInfo) -> List[str]:
    held = sub_section(field)
    if held is not None:
        how, model = held
        return [{'section': 'section', 'named': 'sections by name', 'listed': 'list of sections'}[how], '']
    checks = value_checks(field.metadata)
    if not checks:
        return ['any', '']
    return list(split_number_range(checks[0]))


def _default(field: FieldInfo) -> str:
    extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
    if 'default' not in extra:
        return ''
    value = extra['default']
    if value is None:
        return 'null'
    if isinstance(value, bool):
        return 'true' if value else 'false'
    return f'{value:.4g}' if isinstance(value, float) else str(value)


def _section_markdown(path: str, model: Type[BaseModel]) -> List[str]:
    owner = getattr(model, 'owner', 'basicsr')
    lines = [f'## `{path}`', '', (model.__doc__ or '').strip().splitlines()[0], '',
             f'Read by: {OWNERS.get(owner, "BasicSR (unknown keys are warnings)")}.']
    if getattr(model, 'open_arguments', False):
        lines.append('Other keys are the arguments of the named type, checked against its signature.')
    lines += ['', '| key | type | range / choices | default | description |', '|---|---|---|---|---|']
    for name, field in model.model_fields.items():
        kind, bounds = _type_and_range(field)
        lines.append(f'| `{name}` | {_cell(kind)} | {_cell(bounds)} | {_cell(_default(field))} | '
                     f'{_cell(field.description or "")} |')
    return lines + ['']


def option_reference_markdown() -> str:
    """The option reference of BasicSR option files, one table per section, as Markdown."""
    lines = ['<!-- Generated from mprnet_plugin/config/basicsr_sections.py; do not edit. Regenerate with:',
             f'     {REGENERATE} -->', '',
             '# BasicSR option file reference', '',
             'Every key BasicSR 1.4.2 or mprnet_plugin reads in a BasicSR option file, as '
             '`mprnet_plugin.config.basicsr_schema.validate_basicsr_options` checks it. Values are strict: a boolean '
             'is `true`/`false`, an integer is not text, and YAML reads `1e-4` as text (write `1.0e-4`). '
             '`<phase>` is `train`, `val`, `val_N` or `test_N`; `<name>` is any name.', '']
    for path, model in iter_sections(BasicSROptions):
        lines += _section_markdown('.'.join(path) or '(top level)', model)
    return '\n'.join(lines).rstrip('\n') + '\n'
