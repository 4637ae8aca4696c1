"""Everything ``mprnet-train`` / ``mprnet-test`` check in a BasicSR option file before BasicSR's ``parse_options`` runs.

``check_option_file`` reads the file as BasicSR will (``--force_yml`` applied with BasicSR's own value rules),
imports its ``custom_imports``, validates it against the declared schema (``basicsr_schema``) and then checks what
only the machine can answer: that the data folders and checkpoints exist, that paired folders pair, that the GPUs
asked for are there. All of it runs before a process group starts, a dataset is scanned or a folder is made; the
first problem is an ``OptionError`` naming the option or file.
"""
from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import torch
from basicsr.utils.options import _postprocess_yml_value

from mprnet_plugin.config.basicsr_schema import validate_basicsr_options
from mprnet_plugin.config.custom_imports import import_custom_modules
from mprnet_plugin.errors import OptionError
from mprnet_plugin.config.loader import load_option_file
from mprnet_plugin.data.lmdb_reader import is_lmdb
from mprnet_plugin.data.lmdb_writer import META_INFO_NAME, meta_info_keys


@dataclass
class LauncherArguments:
    """The arguments of BasicSR's launchers that decide what the option file means."""

    opt: Optional[str]
    force_yml: List[str] = field(default_factory=list)
    auto_resume: bool = False


def launcher_arguments(argv: Sequence[str]) -> LauncherArguments:
    """``-opt``, ``--force_yml`` and ``--auto_resume`` out of BasicSR's launcher arguments (the rest is BasicSR's)."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument('-opt')
    parser.add_argument('--force_yml', nargs='+', default=[])
    parser.add_argument('--auto_resume', action='store_true')
    args, _ = parser.parse_known_args(list(argv))
    return LauncherArguments(args.opt, list(args.force_yml), args.auto_resume)


def _lookup(opt: Any, keys: Sequence[str]) -> Tuple[bool, Any]:
    for key in keys:
        if not isinstance(opt, Mapping) or key not in opt:
            return False, None
        opt = opt[key]
    return True, opt


def apply_force_yml(entries: Sequence[str], opt: Dict[str, Any], path: str) -> None:
    """Set every ``--force_yml key:subkey=value`` in ``opt`` as BasicSR does; each must set a key the file has."""
    for entry in entries:
        if entry.count('=') != 1 or not entry.split('=')[0].strip():
            raise OptionError(f'--force_yml {entry!r}: expected key:subkey=value (one "=", keys joined by ":")')
        dotted, value = (part.strip() for part in entry.split('='))
        keys = [k.strip() for k in dotted.split(':')]
        found, _ = _lookup(opt, keys)
        if not found:
            raise OptionError(f'--force_yml {entry!r}: option file {path!r} has no key {":".join(keys)}; only '
                              'existing keys can be set')
        target = opt
        for key in keys[:-1]:
            target = target[key]
        try:
            target[keys[-1]] = _postprocess_yml_value(value)  # BasicSR's own reading of the value
        except Exception as exc:  # noqa: BLE001 (BasicSR evaluates list values: any error is the value's)
            raise OptionError(f'--force_yml {entry!r}: the value cannot be read ({exc})') from None


def options_as_basicsr_reads(args: LauncherArguments) -> Dict[str, Any]:
    """The option file with ``--force_yml`` applied: what BasicSR's ``parse_options`` will work from."""
    assert args.opt is not None
    opt = load_option_file(args.opt)
    apply_force_yml(args.force_yml, opt, args.opt)
    return opt


def _check_same_names(phase: str, lq: str, gt: str) -> None:
    """Paired folders must hold the same file names (BasicSR pairs the files directly inside them by name)."""
    def names(root: str) -> set:
        return {entry.name for entry in os.scandir(root) if entry.is_file()}
    lq_names, gt_names = names(lq), names(gt)
    only_gt, only_lq = sorted(gt_names - lq_names), sorted(lq_names - gt_names)
    if only_gt or only_lq:
        example = (f'{only_gt[0]!r} is in dataroot_gt only' if only_gt else f'{only_lq[0]!r} is in dataroot_lq only')
        raise OptionError(f'datasets.{phase}: dataroot_lq {lq!r} and dataroot_gt {gt!r} must hold the same file '
                          f'names; {example} ({len(only_gt)} name(s) only in gt, {len(only_lq)} only in lq)')


def _check_same_lmdb_keys(phase: str, lq: str, gt: str) -> None:
    """Paired LMDBs must be BasicSR LMDBs with the same keys (BasicSR's own message names neither folder nor key)."""
    for key, root in (('dataroot_lq', lq), ('dataroot_gt', gt)):
        if not is_lmdb(root):
            raise OptionError(f'datasets.{phase}.{key}: {root!r} with io_backend lmdb; expected a folder named '
                              '*.lmdb (BasicSR reads LMDB roots by that name)')
        if not os.path.isfile(os.path.join(root, META_INFO_NAME)):
            raise OptionError(f'datasets.{phase}.{key}: {root!r} has no {META_INFO_NAME}; expected a BasicSR LMDB '
                              '(as mprnet-prep or write_lmdb make them)')
    try:
        lq_keys, gt_keys = set(meta_info_keys(lq)), set(meta_info_keys(gt))
    except OSError as exc:
        raise OptionError(f'datasets.{phase}: cannot read {META_INFO_NAME} of {lq!r} or {gt!r}: {exc}') from None
    only_gt, only_lq = sorted(gt_keys - lq_keys), sorted(lq_keys - gt_keys)
    if only_gt or only_lq:
        first = min(only_gt[:1] + only_lq[:1])
        side = 'dataroot_gt' if only_gt and only_gt[0] == first else 'dataroot_lq'
        raise OptionError(f'datasets.{phase}: dataroot_lq {lq!r} and dataroot_gt {gt!r} hold different keys; '
                          f'first difference: {first!r} is in {side} only ({len(only_gt)} key(s) only in gt, '
                          f'{len(only_lq)} only in lq); expected the same keys in both {META_INFO_NAME}')


def _check_dataset_files(phase: str, dataset: Mapping[str, Any]) -> None:
    for key in ('dataroot_lq', 'dataroot_gt'):
        root = dataset.get(key)
        if root is not None and not os.path.exists(root):
            raise OptionError(f'datasets.{phase}.{key}: {root!r} does not exist; expected a folder or an LMDB')
    backend = (dataset.get('io_backend') or {}).get('type', 'disk')
    lq, gt = dataset.get('dataroot_lq'), dataset.get('dataroot_gt')
    if backend == 'disk' and lq and gt and os.path.isdir(lq) and os.path.isdir(gt) \
            and dataset.get('filename_tmpl', '{}') == '{}' and not dataset.get('meta_info_file'):
        _check_same_names(phase, lq, gt)
    if backend == 'lmdb' and lq and gt:
        _check_same_lmdb_keys(phase, str(lq), str(gt))


def check_environment(opt: Mapping[str, Any], testing: bool, resuming: bool) -> None:
    """What the schema cannot know: the GPUs asked for, the data folders and the checkpoint files exist."""
    num_gpu = opt.get('num_gpu', 0)
    if isinstance(num_gpu, int) and num_gpu > torch.cuda.device_count():
        raise OptionError(f'num_gpu: {num_gpu}, but torch sees {torch.cuda.device_count()} CUDA device(s); '
                          'expected num_gpu: 0 for the CPU (or --force_yml num_gpu=0)')
    for phase, dataset in (opt.get('datasets') or {}).items():
        _check_dataset_files(phase, dataset)
    path_opt = opt.get('path') or {}
    if testing and path_opt.get('pretrain_network_g') is None and not path_opt.get('allow_random_weights'):
        raise OptionError('path.pretrain_network_g is empty: testing would score random weights; expected the '
                          'checkpoint, or path.allow_random_weights: true if random weights are meant')
    pretrained = path_opt.get('pretrain_network_g')
    resuming = resuming or bool(path_opt.get('resume_state'))  # the resumed state names the weights then
    if pretrained is not None and not resuming and not Path(pretrained).is_file():
        kind = 'a folder' if Path(pretrained).is_dir() else 'missing'
        raise OptionError(f'path.pretrain_network_g: {pretrained!r} is {kind}; expected a checkpoint file')


def check_option_file(argv: Sequence[str], testing: bool) -> List[str]:
    """Check the option file ``argv`` names, before BasicSR parses it; returns the warning lines (unknown host keys).

    Does nothing when ``-opt`` is missing: BasicSR's own parser reports that.
    """
    args = launcher_arguments(argv)
    if args.opt is None:
        return []
    opt = options_as_basicsr_reads(args)
    # A lab's own networks, losses and models register on import: before their names are checked.
    import_custom_modules(opt.get('custom_imports'), 'custom_imports')
    warnings = validate_basicsr_options(opt, testing=testing, source=args.opt)
    check_environment(opt, testing, args.auto_resume)
    return warnings
