"""docs/option-reference.md is the generated reference: regenerate it when the schema changes."""
from pathlib import Path

from mprnet_plugin.config.reference import REGENERATE, option_reference_markdown

DOC = Path(__file__).resolve().parents[2] / 'docs' / 'option-reference.md'


def test_reference_matches_the_schema():
    text = option_reference_markdown()
    assert DOC.read_text(encoding='utf-8') == text, f'docs/option-reference.md is stale; run: {REGENERATE}'


def test_reference_names_every_section_and_the_regenerate_command():
    text = option_reference_markdown()
    assert REGENERATE in text.splitlines()[1]
    for section in ('`(top level)`', '`datasets.<phase>`', '`train.scheduler`', '`val.metrics.<name>`', '`logger`'):
        assert f'## {section}' in text
    assert '| `ema_decay` | number | in [0, 1) | 0 |' in text
