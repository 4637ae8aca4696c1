"""Every dotted key of the shipped recipes and of BasicSR v1.4.2's example option files is declared.

Keys below a network, loss, optimizer or scheduler section are that type's constructor arguments: they count as
declared when some registered class of that kind takes them.
"""
import re
from pathlib import Path
from typing import Any, Dict, Iterator, Set

import pytest

from mprnet_plugin.config.loader import load_option_file
from mprnet_plugin.config import registered_types as types
from mprnet_plugin.config.basicsr_sections import BasicSROptions
from mprnet_plugin.config.schema_walk import declared_path, iter_sections

REPO = Path(__file__).resolve().parents[2]
BASICSR_KEYS = REPO / 'tests' / 'data' / 'basicsr_option_keys.txt'
RECIPES = sorted([*REPO.glob('options/train/*.yml'), *REPO.glob('options/test/*.yml'),
                  *REPO.glob('options/demo/*.yml')])
# BasicSR's own mistakes, refused by the schema as BasicSR itself would fail on them: the EDVR-L training files pass
# ema_decay to EDVR's constructor (a TypeError when the network is built).
UPSTREAM_MISTAKES = {'network_g.ema_decay'}


def _dotted_keys(opt: Dict[str, Any], prefix: str = '') -> Iterator[str]:
    for key, value in opt.items():
        path = f'{prefix}.{key}' if prefix else str(key)
        path = re.sub(r'^datasets\.[^.]+', 'datasets.<phase>', path)
        path = re.sub(r'^val\.metrics\.[^.]+', 'val.metrics.<name>', path)
        yield path
        if isinstance(value, dict) and not re.match(r'^train\.[^.]+_opt\.[^.]+$', path):
            yield from _dotted_keys(value, path)


def _argument_names(kind: str) -> Set[str]:
    if kind in ('network', 'loss'):
        classes = [obj for _, obj in types._registry(kind)]
    elif kind == 'optimizer':
        classes = list(types.accepted_optimizers(True).values())
    else:
        classes = list(types.accepted_schedulers(True).values())
    names: Set[str] = set()
    for cls in classes:
        params, _ = types.parameters(cls)
        names.update(params)
    return names


def _argument_kind(dotted: str) -> str:
    section = dotted.split('.')[0] if dotted.startswith('network_') else dotted.split('.')[1]
    if section.startswith('network_'):
        return 'network'
    if section.startswith('optim_'):
        return 'optimizer'
    return 'scheduler' if section == 'scheduler' else 'loss'


def assert_declared(dotted: str) -> None:
    declared, why = declared_path(BasicSROptions, dotted)
    assert declared, why
    if why == 'arguments':
        kind = _argument_kind(dotted)
        assert dotted.split('.')[-1] in _argument_names(kind), f'{dotted}: no registered {kind} takes it'


def basicsr_keys():
    lines = BASICSR_KEYS.read_text(encoding='utf-8').splitlines()
    return [line for line in lines if line and not line.startswith('#')]


def test_basicsr_key_list_is_there():
    assert len(basicsr_keys()) > 200


@pytest.mark.parametrize('dotted', sorted({k for p in RECIPES for k in _dotted_keys(load_option_file(str(p)))}))
def test_recipe_key_is_declared(dotted):
    assert_declared(dotted)


@pytest.mark.parametrize('dotted', [k for k in basicsr_keys() if k not in UPSTREAM_MISTAKES])
def test_basicsr_example_key_is_declared(dotted):
    assert_declared(dotted)


def test_upstream_mistakes_are_no_network_arguments():
    assert not {dotted.split('.')[-1] for dotted in UPSTREAM_MISTAKES} & _argument_names('network')


def test_undeclared_keys_are_found():
    assert not declared_path(BasicSROptions, 'train.total_iters')[0]
    with pytest.raises(AssertionError, match='no registered loss takes it'):
        assert_declared('train.pixel_opt.loss_wieght')


def test_every_section_has_documented_fields():
    for path, model in iter_sections(BasicSROptions):
        for name, field in model.model_fields.items():
            assert field.description, f'{".".join(path + (name,))} has no description'
