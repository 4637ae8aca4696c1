#!/usr/bin/env bash
# The CUDA check: 50 training iterations of the deblurring preset on 256x256 patches through BasicSR's real
# train_pipeline, in fp32 and in bf16 with num_gpu: 1, then the same fp32 run as a torchrun NCCL process.
# Prints iterations per second (iterations 11-50, after cuDNN autotuning) and peak GPU memory for each.
#   scripts/gpu_check.sh                 # ITERS=50 BATCH=4 PATCH=256 PRESET=deblurring by default
# Synthetic data (a small LMDB written by the plugin's LMDB writer) goes to a temporary folder, removed at the end.
# GPU_CHECK_CPU=1 runs the same steps on the CPU (fp32 and gloo only): a quick rehearsal of the script itself.
# Exits non-zero if any run fails, after printing the end of its log.
set -euo pipefail

PYTHON=${PYTHON:-python}
ITERS=${ITERS:-50}
BATCH=${BATCH:-4}
PATCH=${PATCH:-256}
PRESET=${PRESET:-deblurring}
GPU_CHECK_CPU=${GPU_CHECK_CPU:-0}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/mprnet_gpu_check.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

if [ "$GPU_CHECK_CPU" != 1 ] && ! "$PYTHON" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)'
then
    echo "gpu_check: torch sees no CUDA device; this check needs one (GPU_CHECK_CPU=1 rehearses it on the CPU)" >&2
    exit 1
fi

# The probe: MPRNetModel timed between iterations 10 and ITERS, and the peak memory of each process.
cat > "$WORK/probe.py" <<'PY'
import os
import sys
import time

import torch

import mprnet_plugin  # noqa: F401
from basicsr.utils.registry import MODEL_REGISTRY
from mprnet_plugin.models.mprnet_model import MPRNetModel
from mprnet_plugin.train import main

WARMUP = 10


@MODEL_REGISTRY.register()
class TimedMPRNetModel(MPRNetModel):
    def optimize_parameters(self, current_iter):
        super().optimize_parameters(current_iter)
        on_gpu = self.device.type == 'cuda'
        if current_iter in (WARMUP, self.opt['train']['total_iter']):
            if on_gpu:
                torch.cuda.synchronize()
            self.stamps = {**getattr(self, 'stamps', {}), current_iter: time.perf_counter()}
        if current_iter == self.opt['train']['total_iter']:
            rate = (current_iter - WARMUP) / (self.stamps[current_iter] - self.stamps[WARMUP])
            peak = f'{torch.cuda.max_memory_allocated() / 2**30:.2f} GiB' if on_gpu else 'n/a (CPU)'
            dist = torch.distributed
            backend = dist.get_backend() if dist.is_available() and dist.is_initialized() else 'not distributed'
            print(f'RESULT {os.environ["CHECK_NAME"]} (rank {self.opt["rank"]} of {self.opt["world_size"]}): '
                  f'{rate:.2f} it/s, {rate * self.opt["datasets"]["train"]["batch_size_per_gpu"]:.1f} patches/s, '
                  f'peak GPU memory {peak}, backend {backend}', flush=True)


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
PY

cd "$WORK"
"$PYTHON" - "$PATCH" "$BATCH" "$ITERS" "$PRESET" "$GPU_CHECK_CPU" 2>prep.log <<'PY' || { tail -n 30 prep.log; exit 1; }
import sys

import numpy as np
import yaml

import mprnet_plugin  # noqa: F401
from mprnet_plugin.data.lmdb_writer import make_paired_lmdb

patch, batch, iters, preset, on_cpu = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], \
    sys.argv[5] == '1'
rng = np.random.default_rng(0)
size = patch + 64
pairs = [(f'img{i:03d}', rng.integers(0, 256, (size, size, 3), dtype=np.uint8),
          rng.integers(0, 256, (size, size, 3), dtype=np.uint8)) for i in range(16)]
make_paired_lmdb(pairs, 'input.lmdb', 'target.lmdb')
for name, amp in (('fp32', 'none'), ('bf16', 'bf16')):
    opt = {
        'name': f'gpu_check_{name}', 'model_type': 'TimedMPRNetModel', 'scale': 1, 'num_gpu': 0 if on_cpu else 1,
        'manual_seed': 0,
        'datasets': {'train': {
            'name': 'synthetic', 'type': 'PairedImageDataset', 'dataroot_lq': 'input.lmdb',
            'dataroot_gt': 'target.lmdb', 'io_backend': {'type': 'lmdb'}, 'gt_size': patch, 'use_hflip': True,
            'use_rot': True, 'num_worker_per_gpu': 4, 'batch_size_per_gpu': batch, 'dataset_enlarge_ratio': 100,
            'pin_memory': not on_cpu, 'prefetch_mode': None if on_cpu else 'cuda', 'persistent_workers': True}},
        'network_g': {'type': 'MPRNet', 'preset': preset},
        'path': {'pretrain_network_g': None, 'resume_state': None},
        'train': {'optim_g': {'type': 'Adam', 'lr': 2e-4}, 'total_iter': iters, 'amp': amp,
                  'scheduler': {'type': 'LinearWarmupCosineLR', 'warmup_iter': 5},
                  'pixel_opt': {'type': 'MPRNetLoss'}},
        'logger': {'print_freq': 10, 'save_checkpoint_freq': 10 ** 9, 'use_tb_logger': False},
    }
    with open(f'{name}.yml', 'w') as f:
        yaml.safe_dump(opt, f, sort_keys=False)
PY

FAILED=0
run_check() {  # run_check NAME LOG COMMAND...: run one training, print its RESULT lines or the end of its log
    local name=$1 log=$2
    shift 2
    if CHECK_NAME="$name" "$@" >"$log" 2>&1 && grep -q RESULT "$log"; then
        grep RESULT "$log"
    else
        echo "FAILED: $name; the end of its log:"
        tail -n 30 "$log"
        FAILED=1
    fi
}

DEVICE_NAME=$("$PYTHON" -c 'import torch; print(torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU")')
echo "== MPRNet $PRESET, batch $BATCH, ${PATCH}x${PATCH}, $ITERS iterations (rate over iterations 11-$ITERS), $DEVICE_NAME"
run_check "one process, fp32" fp32.log "$PYTHON" probe.py -opt fp32.yml
if [ "$GPU_CHECK_CPU" != 1 ]; then
    run_check "one process, bf16" bf16.log "$PYTHON" probe.py -opt bf16.yml
fi
run_check "torchrun --nproc_per_node=1, fp32" torchrun.log "$PYTHON" -m torch.distributed.run --standalone \
    --nproc_per_node=1 probe.py -opt fp32.yml --launcher pytorch --force_yml name=gpu_check_torchrun
exit $FAILED
