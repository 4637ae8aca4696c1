"""One preparation per dataset, from the archive as distributed to what the option files read."""
from typing import Callable, Dict, Tuple

from mprnet_plugin.data.prep import dnd, gopro, hide, rain13k, realblur, sidd
from mprnet_plugin.data.prep.common import PrepOptions, PrepResult

# Dataset name (as typed after ``mprnet-prep``) -> (prepare function, its splits).
PREPARERS: Dict[str, Tuple[Callable[[PrepOptions], PrepResult], Tuple[str, ...]]] = {
    'gopro': (gopro.prepare, gopro.SPLITS),
    'hide': (hide.prepare, hide.SPLITS),
    'realblur-j': (realblur.prepare_j, realblur.SPLITS),
    'realblur-r': (realblur.prepare_r, realblur.SPLITS),
    'rain13k': (rain13k.prepare, rain13k.SPLITS),
    'sidd': (sidd.prepare, sidd.SPLITS),
    'dnd': (dnd.prepare, dnd.SPLITS),
}


def prepare_dataset(name: str, opts: PrepOptions) -> PrepResult:
    """Prepare dataset ``name`` (a key of ``PREPARERS``) with ``opts``."""
    if name not in PREPARERS:
        raise ValueError(f'unknown dataset {name!r}; expected one of {sorted(PREPARERS)}')
    fn, splits = PREPARERS[name]
    unknown = sorted(set(opts.splits or ()) - set(splits))
    if unknown:
        raise ValueError(f'{name} has no split(s) {unknown}; its splits are {list(splits)}')
    return fn(opts)


__all__ = ['PREPARERS', 'PrepOptions', 'PrepResult', 'prepare_dataset']
