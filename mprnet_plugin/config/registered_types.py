"""Checks of every ``type:`` an option file names, and of the arguments passed on to that type's constructor.

Registries are BasicSR's (filled by ``import basicsr`` and ``import mprnet_plugin``); optimizers and schedulers are
the names the model accepts (``MPRNetModel``: this package's builders; BasicSR's models: ``base_model``'s). Arguments
are checked against the signature only: nothing is built.
"""
from __future__ import annotations

import inspect
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Tuple

import basicsr.utils.registry as registries
import torch
from basicsr.models.lr_scheduler import CosineAnnealingRestartLR, MultiStepRestartLR

from mprnet_plugin.archs.mprnet_arch import MPRNet
from mprnet_plugin.archs.mprnet_config import MPRNetArgumentError, check_mprnet_arguments
from mprnet_plugin.archs.mprnet_local_arch import MPRNetLocal, parse_size, resolve_sizes
from mprnet_plugin.errors import OptionError
from mprnet_plugin.config.option_types import describe, did_you_mean
from mprnet_plugin.training.lr_scheduler import SCHEDULER_ALIASES, SCHEDULER_REGISTRY
from mprnet_plugin.training.optimizers import OPTIMIZERS

PACKAGE_MODEL = 'MPRNetModel'

# kind -> (registry name in basicsr.utils.registry, what the kind is called in messages)
REGISTRIES = {
    'network': ('ARCH_REGISTRY', 'network'),
    'loss': ('LOSS_REGISTRY', 'loss'),
    'dataset': ('DATASET_REGISTRY', 'dataset'),
    'model': ('MODEL_REGISTRY', 'model'),
    'metric': ('METRIC_REGISTRY', 'metric'),
}
# Registry.get falls back to ``<name>_basicsr`` (Real-ESRGAN's datasets are registered with that suffix).
REGISTRY_SUFFIX = '_basicsr'
# Constructor parameters the host fills in itself, never from the option file.
HOST_FILLED = ('self', 'params', 'optimizer')


def _registry(kind: str) -> Any:
    # Filled by ``import basicsr`` and by this package's registrations (mprnet_plugin/__init__.py).
    return getattr(registries, REGISTRIES[kind][0])


def registered_names(kind: str) -> List[str]:
    """The names registered for ``kind`` (network, loss, dataset, model, metric), sorted."""
    return sorted(name for name, _ in _registry(kind))


def refuse_unknown_name(path: str, name: Any, known: Iterable[str], what: str) -> OptionError:
    """The error for a name that is not one of ``known``: the closest name and the list."""
    known = sorted(known)
    closest = did_you_mean(name, known) if isinstance(name, str) else ''
    return OptionError(f'{path}: {describe(name)} is not a registered {what}{closest}; expected one of '
                       f'{", ".join(known)}')


def registered(kind: str, name: Any, path: str) -> Any:
    """The class or function registered as ``name`` for ``kind``; ``OptionError`` naming ``path`` when none is."""
    registry = _registry(kind)
    if isinstance(name, str):
        for candidate in (name, name + REGISTRY_SUFFIX):
            if candidate in registry:
                return registry.get(candidate)
    raise refuse_unknown_name(path, name, registered_names(kind), REGISTRIES[kind][1])


def is_package_model(model_type: Any) -> bool:
    """Whether ``model_type`` names this package's model (or a subclass), which reads ``train`` and ``val``."""
    if not isinstance(model_type, str) or model_type not in _registry('model'):
        return False
    model = _registry('model').get(model_type)
    # By name: the model class sits in a layer above the option checks, which must not import it.
    return isinstance(model, type) and any(cls.__name__ == PACKAGE_MODEL and cls.__module__.startswith('mprnet_plugin.')
                                           for cls in model.__mro__)


def accepted_optimizers(package_model: bool) -> Dict[str, Callable[..., Any]]:
    """``optim_g.type`` names and their classes: this package's list for MPRNetModel, only Adam for BasicSR's."""
    return dict(OPTIMIZERS) if package_model else {'Adam': torch.optim.Adam}


def accepted_schedulers(package_model: bool) -> Dict[str, Callable[..., Any]]:
    """``scheduler.type`` names and their classes, as the model's ``setup_schedulers`` accepts them."""
    if not package_model:  # basicsr/models/base_model.py setup_schedulers
        return {'MultiStepLR': MultiStepRestartLR, 'MultiStepRestartLR': MultiStepRestartLR,
                'CosineAnnealingRestartLR': CosineAnnealingRestartLR}
    names = {name: cls for name, cls in SCHEDULER_REGISTRY}
    names.update({alias: names[target] for alias, target in SCHEDULER_ALIASES.items()})
    return names


def accepted(path: str, name: Any, names: Mapping[str, Any], what: str) -> Any:
    """``names[name]``, or ``OptionError`` with the closest name and the list."""
    if isinstance(name, str) and name in names:
        return names[name]
    raise refuse_unknown_name(path, name, names, what)


def _closed(owner: type) -> bool:
    # nn.Module and object take **kwargs in their signature but refuse any keyword.
    return owner in (object, torch.nn.Module)


def parameters(target: Callable[..., Any]) -> Tuple[Dict[str, inspect.Parameter], bool]:
    """The keyword parameters of ``target``'s constructor (or function) and whether it also takes any keyword.

    For a class whose ``__init__`` passes ``**kwargs`` on, its bases' parameters count too (MPRNetLocal takes
    MPRNet's arguments that way).
    """
    found: Dict[str, inspect.Parameter] = {}
    if not isinstance(target, type):
        signature = inspect.signature(target)
        found = {n: p for n, p in signature.parameters.items() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
        return found, any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values())
    for owner in target.__mro__:
        if '__init__' not in vars(owner):
            continue
        if _closed(owner):
            return found, False
        signature = inspect.signature(vars(owner)['__init__'])
        for name, param in signature.parameters.items():
            if param.kind not in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                found.setdefault(name, param)
        if not any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values()):
            return found, False
    return found, True


def check_arguments(target: Callable[..., Any], arguments: Mapping[str, Any], path: str, what: str,
                    provided: Iterable[str] = ()) -> List[str]:
    """Refuse keys of ``arguments`` that ``target`` does not take, and required ones missing (``provided`` by the
    caller excepted); returns warnings for keys only a ``**kwargs`` swallows unread."""
    params, takes_any = parameters(target)
    known = [n for n in params if n not in HOST_FILLED]
    title = getattr(target, '__name__', str(target))
    warnings: List[str] = []
    for key in arguments:
        if key in params and key not in HOST_FILLED:
            continue
        if takes_any:
            warnings.append(f'{path}.{key}: not an argument of {what} {title} (it takes **kwargs and may ignore it)'
                            f'{did_you_mean(key, known)}')
            continue
        raise OptionError(f'{path}.{key}: unknown argument of {what} {title}{did_you_mean(key, known)}; expected '
                          f'one of {", ".join(known) or "no arguments"}')
    for name, param in params.items():
        if param.default is inspect.Parameter.empty and name not in HOST_FILLED and name not in arguments \
                and name not in provided:
            raise OptionError(f'{path}.{name}: missing; expected the required argument {name} of {what} {title}')
    return warnings


def network_size_multiple(network: Any) -> Optional[int]:
    """The multiple a network class needs its input height and width to be (its ``size_multiple``), or None."""
    multiple = getattr(network, 'size_multiple', None)
    return multiple if isinstance(multiple, int) and not isinstance(multiple, bool) and multiple > 1 else None


def check_network_values(network: Any, arguments: Mapping[str, Any], path: str) -> None:
    """Value checks a network would only fail at forward: MPRNet's (and MPRNetLocal's) constructor rules."""
    if not (isinstance(network, type) and issubclass(network, MPRNet)):
        return
    mprnet_params = inspect.signature(check_mprnet_arguments).parameters
    try:
        check_mprnet_arguments(**{k: v for k, v in arguments.items() if k in mprnet_params})
    except MPRNetArgumentError as exc:
        raise OptionError(f'{path}.{exc.argument}: {describe(exc.found)}; expected {exc.expected}') from None
    _check_local_sizes(network, arguments, path)


def _check_local_sizes(network: type, arguments: Mapping[str, Any], path: str) -> None:
    if not issubclass(network, MPRNetLocal):
        return
    train_size, base_size = arguments.get('train_size', 256), arguments.get('base_size')
    for key, value in (('train_size', train_size), ('base_size', base_size)):
        if value is None:
            continue
        try:
            parse_size(value, key)
        except ValueError:
            raise OptionError(f'{path}.{key}: {describe(value)}; expected a positive int, [h, w] or '
                              '[N, C, h, w]') from None
    try:
        resolve_sizes(train_size, base_size)
    except ValueError:
        raise OptionError(f'{path}.train_size: {describe(train_size)}; expected sizes that are multiples of '
                          f'{network.size_multiple}, the sizes MPRNet runs on') from None
    fast_imp = arguments.get('fast_imp', False)
    if not isinstance(fast_imp, bool):
        raise OptionError(f'{path}.fast_imp: {describe(fast_imp)}; expected true or false')
