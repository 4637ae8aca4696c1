"""What every dataset preparation shares: its options, and the paired LMDB stage with its count checks."""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Optional, Sequence, Tuple

from mprnet_plugin.data.lmdb_writer import (ImageSource, LmdbArgumentError, check_compress_level, check_flag,
                                            check_positive, make_paired_lmdb, read_meta_info)
from mprnet_plugin.data.pairing import check_count

logger = logging.getLogger('mprnet_plugin.prep')


def check_dst_outside_src(src: Path, dst: Optional[Path]) -> None:
    """Refuse an output root equal to or inside the source tree (later runs would read the LMDBs as sources)."""
    if dst is None:
        return
    src_abs, dst_abs = src.resolve(), dst.resolve()
    if dst_abs == src_abs or dst_abs.is_relative_to(src_abs):
        raise ValueError(f'--dst {os.fspath(dst)!r} is {"--src" if dst_abs == src_abs else "inside --src"} '
                         f'{os.fspath(src)!r}: the LMDBs would be written into the source tree; choose a --dst '
                         'outside it')


@dataclass
class PrepOptions:
    """Options of one ``mprnet-prep`` run; ``crop_size``/``step`` of None mean the dataset's published recipe."""

    src: Path
    dst: Optional[Path] = None
    workers: int = 1
    crop_size: Optional[int] = None
    step: Optional[int] = None
    overwrite: bool = False
    strict: bool = False
    compress_level: int = 1
    splits: Optional[Sequence[str]] = None
    blur_gamma: bool = False

    def __post_init__(self):
        self.src = Path(self.src)
        self.dst = Path(self.dst) if self.dst is not None else None
        # Named as the command's flags: mprnet-prep builds these options from them.
        for name, value in (('crop_size', self.crop_size), ('step', self.step)):
            if value is not None:
                check_positive(value, f'--{name.replace("_", "-")}', 'pixels')
        check_positive(self.workers, '--workers', 'processes')
        check_compress_level(self.compress_level, '--compress-level')
        for name in ('overwrite', 'strict', 'blur_gamma'):
            check_flag(getattr(self, name), f'--{name.replace("_", "-")}')
        if self.splits is not None and (isinstance(self.splits, str) or not all(isinstance(s, str) and s
                                                                                for s in self.splits)):
            # A bare string would be matched letter by letter ('test' in 't', 'e', ...).
            raise LmdbArgumentError(f'--splits: {self.splits!r}; expected a list of split names, e.g. [train, test]')
        check_dst_outside_src(self.src, self.dst)

    def wants(self, split: str) -> bool:
        """True if ``split`` is to be prepared (all splits when none were named)."""
        return not self.splits or split in self.splits

    def crop(self, default: Tuple[int, int]) -> Tuple[int, int]:
        """(crop size, step): the ones given, else the dataset's published recipe."""
        return (default[0] if self.crop_size is None else self.crop_size,
                default[1] if self.step is None else self.step)

    def out(self, *parts: str) -> Path:
        """A path under the output root; the root is required for datasets that write LMDBs."""
        if self.dst is None:
            raise ValueError('--dst (the output folder) is required for this dataset')
        return self.dst.joinpath(*parts)


@dataclass
class PrepResult:
    """What one preparation wrote: output path -> number of entries, plus extra files (subset lists)."""

    outputs: Dict[str, int] = field(default_factory=dict)
    files: Sequence[str] = field(default_factory=list)
    counts_ok: bool = True


def paired_stage(opts: PrepOptions, result: PrepResult, what: str,
                 pairs: Sequence[Tuple[str, ImageSource, ImageSource]], out_dir: Path, expected_pairs: Optional[int],
                 crop: Optional[Tuple[int, int]] = None, expected_crops: Optional[int] = None) -> int:
    """Check the pair count, write ``out_dir/{input,target}[_crops].lmdb``, check the crop count; returns pairs."""
    ok = check_count(f'{what}: pairs', len(pairs), expected_pairs, opts.strict)
    if not pairs:
        raise ValueError(f'{what}: no pairs found under {os.fspath(opts.src)!r}')
    suffix = '_crops' if crop else ''
    input_lmdb, target_lmdb = out_dir / f'input{suffix}.lmdb', out_dir / f'target{suffix}.lmdb'
    crop_size, step = crop if crop else (None, None)
    make_paired_lmdb(pairs, input_lmdb, target_lmdb, compress_level=opts.compress_level, workers=opts.workers,
                     overwrite=opts.overwrite, crop_size=crop_size, step=step, desc=what)
    stored = len(read_meta_info(input_lmdb))
    if crop and ok:  # a crop count is only comparable when the image count is the published one
        ok = check_count(f'{what}: {crop_size}x{crop_size} crops (step {step})', stored, expected_crops, opts.strict)
    result.outputs[os.fspath(input_lmdb)] = stored
    result.outputs[os.fspath(target_lmdb)] = stored
    result.counts_ok = result.counts_ok and ok
    logger.info('%s: %d pairs -> %s, %s (%d entries each)', what, len(pairs), input_lmdb, target_lmdb.name, stored)
    return len(pairs)
