"""One descriptor per registered architecture: what padding, tiling, export, option checks and comparison need to know.

A descriptor says, for one ``network_g.type``: the size its inputs must be a multiple of (from its constructor
arguments, so an option file is checked without building the network), whether it returns stage outputs
(``[final, stage2, stage1]``; the restored image is always output 0), its width presets, and how to read its
constructor arguments off a state dict. A lab's own network without a descriptor gets ``DEFAULT_SIZE_MULTIPLE``, or
its ``size_multiple`` attribute once built.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Mapping, Optional, Sequence, Union

from torch import Tensor, nn

# What a network without a descriptor or a ``size_multiple`` attribute is padded to (MPRNet's multiple).
DEFAULT_SIZE_MULTIPLE = 8

NetOutput = Union[Tensor, Sequence[Tensor]]


@dataclass(frozen=True)
class ArchDescriptor:
    """What the package knows about one registered architecture."""

    name: str
    size_multiple: Callable[[Mapping[str, Any]], int]
    has_stages: bool = False
    presets: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    infer_config: Optional[Callable[[Mapping[str, Tensor]], Dict[str, object]]] = None

    def matching_preset(self, config: Mapping[str, object]) -> Optional[str]:
        """The preset whose widths ``config`` has, or None for a custom width."""
        for name, widths in self.presets.items():
            if all(config.get(key) == value for key, value in widths.items()):
                return name
        return None


_DESCRIPTORS: Dict[str, ArchDescriptor] = {}


def register_descriptor(descriptor: ArchDescriptor) -> ArchDescriptor:
    """Record ``descriptor`` under its architecture's registered name; returns it."""
    _DESCRIPTORS[descriptor.name] = descriptor
    return descriptor


def descriptor_for(name: str) -> Optional[ArchDescriptor]:
    """The descriptor of the architecture registered as ``name``, or None for one without."""
    return _DESCRIPTORS.get(name)


def registered_descriptors() -> Dict[str, ArchDescriptor]:
    """Every descriptor, by architecture name."""
    return dict(_DESCRIPTORS)


def size_multiple_from_options(network_opt: Mapping[str, Any]) -> int:
    """The input size multiple of the network ``network_opt`` (``{type, **arguments}``) would build."""
    found = descriptor_for(str(network_opt.get('type')))
    if found is None:
        return DEFAULT_SIZE_MULTIPLE
    return int(found.size_multiple({k: v for k, v in network_opt.items() if k != 'type'}))


def bare_network(net: nn.Module) -> nn.Module:
    """``net`` without DataParallel / DDP (``module``) and ``torch.compile`` (``_orig_mod``) wrappers."""
    while True:
        inner = getattr(net, 'module', None) or getattr(net, '_orig_mod', None)
        if not isinstance(inner, nn.Module):
            return net
        net = inner


def network_size_multiple(net: Callable[..., NetOutput]) -> int:
    """The size ``net``'s inputs must be multiples of: its ``size_multiple``, else its descriptor's default."""
    bare = bare_network(net) if isinstance(net, nn.Module) else net
    multiple = getattr(bare, 'size_multiple', None)
    if multiple is not None:
        return int(multiple)
    found = descriptor_for(type(bare).__name__)
    return int(found.size_multiple({})) if found is not None else DEFAULT_SIZE_MULTIPLE


def image_output(out: NetOutput) -> Tensor:
    """The restored image in a network's output: the tensor itself, or output 0 of a network with stages."""
    return out if isinstance(out, Tensor) else out[0]
