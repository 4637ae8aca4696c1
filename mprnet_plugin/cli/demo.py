"""``mprnet-demo`` (``make demo``): the whole job on built-in data, end to end, on a few CPU cores.

1. builds a small deblurring set from scikit-image's photographs (camera shake and mild noise; train and held-out
   images) as BasicSR LMDBs, through the plugin's LMDB writer;
2. trains a reduced-width MPRNet with ``mprnet-train`` and ``options/demo/MPRNet_demo_train.yml``;
3. tests it with ``mprnet-test`` on the held-out photographs;
4. prints PSNR/SSIM of the blurred inputs and of the restored outputs, and saves one side-by-side PNG
   (blurred | restored | sharp) per held-out image.

Everything goes under ``--out`` (default ``demo_output/``). Re-running resumes or reuses finished steps.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np
import yaml
from basicsr.metrics import calculate_psnr, calculate_ssim

from mprnet_plugin.cli.common import UsageError, add_version, run_tool
from mprnet_plugin.config.recipes import options_root
from mprnet_plugin.data.demo_data import build_demo_dataset
from mprnet_plugin.data.lmdb_reader import read_lmdb_images
from mprnet_plugin.io.atomic import OutputConflictError, atomic_output, atomic_write_text, claim_output_folder
from mprnet_plugin.io.images import read_image, write_image

PROG = 'mprnet-demo'
SEPARATOR = 6  # white pixels between the panels of a side-by-side image


def build_parser() -> argparse.ArgumentParser:
    """The command-line options."""
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split('\n\n')[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--out', default='demo_output', help='output folder (default: demo_output)')
    parser.add_argument('--force', action='store_true',
                        help='write into an existing --out folder that the demo did not make (its files of the same '
                             'names are replaced)')
    parser.add_argument('--options', default=None,
                        help='folder holding MPRNet_demo_train.yml and MPRNet_demo_test.yml '
                             '(default: the packaged demo recipes, mprnet-options path demo/demo_train)')
    parser.add_argument('--total-iter', type=int, help="training iterations (default: the option file's)")
    parser.add_argument('--max-side', type=int, default=512, help='shrink photographs to this longer side')
    parser.add_argument('--train-copies', type=int, default=8, help='shaken copies of each training photograph')
    parser.add_argument('--seed', type=int, default=0, help='seed of the blur kernels and noise')
    parser.add_argument('--fresh', action='store_true',
                        help='train from scratch (BasicSR archives the previous run) instead of resuming it')
    return add_version(parser)


def console_command(script: str, module: str) -> List[str]:
    """The installed console script next to this Python, or ``python -m module`` when there is none."""
    candidate = Path(sys.executable).with_name(script)
    return [str(candidate)] if candidate.is_file() else [sys.executable, '-m', module]


def step_environment() -> Dict[str, str]:
    """The environment of the train/test steps: one compute thread when the CPUs are already busy.

    OpenMP threads that find their cores taken spin and slow down every process on the machine, so unless the user
    set OMP_NUM_THREADS, a machine whose load already exceeds its core count trains single-threaded.
    """
    env = dict(os.environ)
    if 'OMP_NUM_THREADS' not in env and hasattr(os, 'getloadavg') and os.getloadavg()[0] >= (os.cpu_count() or 1):
        env['OMP_NUM_THREADS'] = '1'
        print(f'   (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores: training single-threaded)')
    return env


def run_step(title: str, cmd: Sequence[str], cwd: Path) -> None:
    """Run one step in ``cwd`` with its output on the console; stop the demo if it fails."""
    print(f'\n== {title}\n$ (cd {cwd} && {" ".join(cmd)})', flush=True)
    proc = subprocess.run(list(cmd), cwd=cwd, env=step_environment())
    if proc.returncode != 0:
        raise RuntimeError(f'{title} failed (exit {proc.returncode}); see the log above')


def read_pairs(input_lmdb: Path, target_lmdb: Path, keys: Sequence[str]) -> Dict[str, Tuple[np.ndarray, np.ndarray]]:
    """(blurred, sharp) BGR uint8 arrays of ``keys``, read back from the demo's LMDBs."""
    blurred, sharp = read_lmdb_images(input_lmdb, keys), read_lmdb_images(target_lmdb, keys)
    return {key: (blurred[key], sharp[key]) for key in keys}


def side_by_side(panels: Sequence[np.ndarray], labels: Sequence[str]) -> np.ndarray:
    """Panels of equal height joined left to right with white gaps, each labelled in its top-left corner."""
    gap = np.full((panels[0].shape[0], SEPARATOR, 3), 255, np.uint8)
    labelled = []
    for panel, label in zip(panels, labels):
        panel = panel.copy()
        for colour, thickness in (((0, 0, 0), 3), ((255, 255, 255), 1)):  # outlined text, readable on any image
            cv2.putText(panel, label, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, colour, thickness, cv2.LINE_AA)
        labelled += [panel, gap]
    return np.concatenate(labelled[:-1], axis=1)


def results_table(rows: List[Tuple[str, float, float, float, float]]) -> str:
    """A Markdown table of blurred and restored PSNR/SSIM per image, with the mean and the gain."""
    lines = ['| held-out image | blurred PSNR / SSIM | restored PSNR / SSIM | PSNR gain |', '|---|---|---|---|']
    for key, b_psnr, b_ssim, r_psnr, r_ssim in rows:
        lines.append(f'| {key} | {b_psnr:.2f} / {b_ssim:.4f} | {r_psnr:.2f} / {r_ssim:.4f} | '
                     f'{r_psnr - b_psnr:+.2f} dB |')
    mean = np.mean([r[1:] for r in rows], axis=0)
    lines.append(f'| **mean** | {mean[0]:.2f} / {mean[1]:.4f} | {mean[2]:.2f} / {mean[3]:.4f} | '
                 f'**{mean[2] - mean[0]:+.2f} dB** |')
    return '\n'.join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    """Run the demo; returns the exit status (0 on success)."""
    args = build_parser().parse_args(argv)
    return run_tool(PROG, lambda: run(args))


def run(args: argparse.Namespace) -> int:
    """The demo's four steps."""
    out = Path(args.out).resolve()
    # The packaged recipes (in the wheel, or the checkout's options/demo).
    options = Path(args.options).resolve() if args.options else options_root() / 'demo'
    train_yml, test_yml = options / 'MPRNet_demo_train.yml', options / 'MPRNet_demo_test.yml'
    for path in (train_yml, test_yml):
        if not path.is_file():
            raise UsageError(f'option file {path} is missing; pass --options <folder holding it>')
    try:
        # Re-runs reuse and replace this demo's own files: only in a folder it made, or one the user hands over.
        claim_output_folder(out, args.force, '--out')
    except OutputConflictError as exc:
        raise UsageError(str(exc)) from None
    started = time.time()

    print(f'== 1/4 building the demo deblurring set in {out / "data"}', flush=True)
    data = build_demo_dataset(out / 'data', train_copies=args.train_copies, max_side=args.max_side, seed=args.seed)
    print(f'   {len(data.train_keys)} training pairs, {len(data.test_keys)} held-out pairs', flush=True)

    train_cmd = console_command('mprnet-train', 'mprnet_plugin.train') + ['-opt', str(train_yml)]
    if not args.fresh:
        train_cmd.append('--auto_resume')
    if args.total_iter is not None:  # a shorter run gets a warm-up of at most a tenth of it
        warmup = min(yaml.safe_load(train_yml.read_text())['train']['scheduler']['warmup_iter'], args.total_iter // 10)
        train_cmd += ['--force_yml', f'train:total_iter={args.total_iter}', f'train:scheduler:warmup_iter={warmup}']
    run_step('2/4 training with mprnet-train (BasicSR train_pipeline)', train_cmd, out)
    trained_at = time.time()

    test_cmd = console_command('mprnet-test', 'mprnet_plugin.test') + ['-opt', str(test_yml)]
    run_step('3/4 testing on the held-out photographs with mprnet-test', test_cmd, out)
    tested_at = time.time()  # the test's own time, reported apart: val.self_ensemble makes it 8 passes per image

    test_opt = yaml.safe_load(test_yml.read_text())
    results = out / 'results' / test_opt['name']
    dataset = test_opt['datasets']['test_1']['name']
    record = json.loads((results / 'metrics' / f'{dataset}.json').read_text())
    pairs = read_pairs(data.test_input, data.test_target, data.test_keys)
    rows = []
    with atomic_output(out / 'side_by_side') as gallery:  # replaces the previous run's gallery, never a user's folder
        for key, (blurred, sharp) in pairs.items():
            restored = read_image(results / 'visualization' / dataset / f'{key}_{test_opt["val"]["suffix"]}.png')
            rows.append((key, calculate_psnr(blurred, sharp, crop_border=0),
                         calculate_ssim(blurred, sharp, crop_border=0),
                         record['images'][key]['psnr'], record['images'][key]['ssim']))
            panels = side_by_side([blurred, restored, sharp], ['blurred', 'restored', 'sharp'])
            write_image(gallery / f'{key}.png', panels)

    table = results_table(rows)
    elapsed = time.time() - started
    summary = (f'{table}\n\nData and training took {trained_at - started:.0f} s, '
               f'testing {tested_at - trained_at:.0f} s, the whole demo {elapsed:.0f} s. '
               f'Side-by-side images (blurred | restored | sharp): {out / "side_by_side"}\n')
    atomic_write_text(out / 'demo_results.md', summary)
    print(f'\n== 4/4 results on the held-out photographs\n{summary}', flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
