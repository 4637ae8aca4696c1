"""The ``train`` section of a comparison file: BasicSR's key names, the earlier names, and merging an entry's own.

The section is BasicSR's ``train`` section as ``MPRNetModel`` reads it. The comparison file's earlier names still
work and mean the same: ``lr``/``betas``/``weight_decay`` are ``optim_g``'s, ``eta_min`` is ``scheduler``'s, ``loss``
is ``pixel_opt``; an entry's ``pretrain_network``/``param_key``/``strict_load`` are ``path.*_g``; the training set's
``batch_size``/``num_worker`` are ``*_per_gpu``. Giving an earlier name and its BasicSR name together is an error.
"""
from __future__ import annotations

import copy
from typing import Any, Dict, Optional

from mprnet_plugin.errors import OptionError


class CompareOptionError(OptionError):
    """A comparison file with a missing or invalid option."""


# Earlier names of the comparison file -> BasicSR's names for the same options (both are accepted; not both at once).
LEGACY_TRAIN_KEYS = {'lr': ('optim_g', 'lr'), 'betas': ('optim_g', 'betas'),
                     'weight_decay': ('optim_g', 'weight_decay'), 'eta_min': ('scheduler', 'eta_min'),
                     'loss': ('pixel_opt',)}
LEGACY_ARCH_KEYS = {'pretrain_network': ('path', 'pretrain_network_g'), 'param_key': ('path', 'param_key_g'),
                    'strict_load': ('path', 'strict_load_g'), 'loss': ('train', 'pixel_opt')}
LEGACY_LOADER_KEYS = {'batch_size': ('batch_size_per_gpu',), 'num_worker': ('num_worker_per_gpu',)}
NUMERIC_LEGACY_KEYS = ('lr', 'eta_min', 'weight_decay')


def option_float(value: Any, where: str) -> float:
    """``value`` as a float; errors name the option ``where``."""
    # YAML 1.1 reads 2e-4 (no dot) as a string; accept it, as people write it that way.
    try:
        return float(value)
    except (TypeError, ValueError):
        raise CompareOptionError(f'{where}: expected a number, found {value!r}') from None


def rename_legacy_keys(section: Dict[str, Any], names: Dict[str, tuple], where: str) -> Dict[str, Any]:
    """``section`` with each earlier key moved to its BasicSR name; giving both is an error naming the two."""
    out = copy.deepcopy(section)
    for old, new in names.items():
        if old not in out:
            continue
        value = out.pop(old)
        if old in NUMERIC_LEGACY_KEYS:
            value = option_float(value, f'{where}.{old}')
        target = out
        for key in new[:-1]:
            if target.get(key) is None:
                target[key] = {}
            if not isinstance(target[key], dict):
                raise CompareOptionError(f'{where}.{".".join(new[:-1])}: expected a mapping, found {target[key]!r}')
            target = target[key]
        if new[-1] in target:
            raise CompareOptionError(f'{where}: {old} and {".".join(new)} name the same option; keep '
                                     f'{".".join(new)} (BasicSR\'s name) only')
        target[new[-1]] = value
    return out


def merge_train(base: Dict[str, Any], given: Optional[Dict[str, Any]], where: str) -> Dict[str, Any]:
    """A train section over ``base``: ``optim_g``/``scheduler`` keep base's other keys only for the same type."""
    if given is None:
        return copy.deepcopy(base)
    if not isinstance(given, dict):
        raise CompareOptionError(f'{where}: expected a mapping, found {type(given).__name__} ({given!r})')
    given = rename_legacy_keys(given, LEGACY_TRAIN_KEYS, where)
    merged = copy.deepcopy(base)
    for key, value in given.items():
        old = merged.get(key)
        if key in ('optim_g', 'scheduler') and isinstance(value, dict) and isinstance(old, dict) \
                and value.get('type', old.get('type')) == old.get('type'):
            merged[key] = {**old, **copy.deepcopy(value)}
        else:
            merged[key] = copy.deepcopy(value)
    return merged
