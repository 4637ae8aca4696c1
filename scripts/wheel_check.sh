#!/usr/bin/env bash
# The wheel-install check: what a user gets from `pip install`, without the checkout.
#
#   scripts/wheel_check.sh [PYTHON]      (make wheel-check; .ci/run runs it after make test)
#
# 1. creates a fresh virtual environment with PYTHON (default python3) and installs into it, as the README's
#    "Install into your own environment" says, the TORCH pair (default: the Makefile's) and the build tools;
# 2. builds an sdist of this checkout, then the wheel from that sdist (as `python -m build` does) with that
#    environment's setuptools, and installs the wheel (not -e); pip's cache is reused, so a second run downloads
#    and builds nothing (basicsr's wheel included) and needs no network;
# 3. from an empty temporary folder, with no PYTHONPATH: `import mprnet_plugin` (from the environment, not the
#    checkout), `mprnet-options list/path/copy`, a 2-iteration `mprnet-demo` on small images, `mprnet-train` on the
#    packaged demo recipe for 2 iterations, `mprnet-convert` to .safetensors and `mprnet-infer` on one image with it.
# Everything lives under one temporary folder, removed at the end (KEEP=1 keeps it). Prints the time of each step.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
base_py=${1:-${WHEEL_CHECK_PYTHON:-python3}}
torch_pin=${TORCH:-torch==2.14.1 torchvision==0.29.1}
work=$(mktemp -d "${TMPDIR:-/tmp}/mprnet_wheel_check.XXXXXX")
cleanup() { if [ "${KEEP:-0}" = 1 ]; then echo "kept $work"; else rm -rf "$work"; fi; }
trap cleanup EXIT

started=$(date +%s)
step() { echo "== [$(( $(date +%s) - started )) s] $*"; }

step "1/3 a fresh environment ($base_py -m venv) with the README's first two steps: $torch_pin, build tools"
"$base_py" -m venv "$work/venv"
env_bin="$work/venv/bin"
export PIP_DISABLE_PIP_VERSION_CHECK=1
# pip -q, minus the warnings about index folders this machine's pip configuration names but does not have;
# --no-compile: skip byte-compiling every installed file (torch has thousands); a run compiles what it imports.
pip_install() {
    "$env_bin/pip" install -q --no-compile "$@" 2>&1 \
        | { grep -v 'is ignored: it is neither a file nor a directory' || true; }
}
# shellcheck disable=SC2086  # the pin is two requirements
pip_install $torch_pin setuptools wheel cython numpy

step "2/3 an sdist of the checkout, the wheel built from that sdist, and the wheel installed (not -e)"
mkdir -p "$work/dist" "$work/sdist"
(cd "$repo" && "$env_bin/python" -c "from setuptools import build_meta as b; b.build_sdist('$work/dist')" \
    >"$work/build.log" 2>&1) || { tail -30 "$work/build.log"; exit 1; }
tar xzf "$work"/dist/mprnet_plugin-*.tar.gz -C "$work/sdist"
(cd "$work"/sdist/mprnet_plugin-* && "$env_bin/python" -c "from setuptools import build_meta as b; b.build_wheel('$work/dist')" \
    >>"$work/build.log" 2>&1) || { tail -30 "$work/build.log"; exit 1; }
wheel=$(ls "$work"/dist/mprnet_plugin-*.whl)
for member in mprnet_plugin/options/train/MPRNet_GoPro.yml mprnet_plugin/options/demo/MPRNet_demo_train.yml \
              mprnet_plugin/options/mmengine/mprnet_demo.py mprnet_plugin/options/compare/demo.yml; do
    "$env_bin/python" -c "import sys, zipfile; sys.exit('$member' not in zipfile.ZipFile('$wheel').namelist())" \
        || { echo "wheel_check: $wheel lacks $member"; exit 1; }
done
echo "   $(basename "$wheel")"
# basicsr 1.4.2 is an sdist that builds against the torch installed above (README).
pip_install --no-build-isolation "$wheel"

step "3/3 the installed commands, from an empty folder"
run_dir="$work/empty"
mkdir -p "$run_dir"
cd "$run_dir"
unset PYTHONPATH
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} PYTHONWARNINGS=ignore
"$env_bin/python" - "$work/venv" <<'EOF'
import sys
from pathlib import Path

import mprnet_plugin
from mprnet_plugin.config.recipes import options_root, recipes

venv = Path(sys.argv[1]).resolve()
where = Path(mprnet_plugin.__file__).resolve()
assert venv in where.parents, f'mprnet_plugin imported from {where}, not from the fresh environment {venv}'
assert venv in options_root().parents and len(recipes()) >= 17, (options_root(), sorted(recipes()))
print(f'   import mprnet_plugin {mprnet_plugin.__version__} from {where.parent}; {len(recipes())} packaged recipes')
EOF
"$env_bin/mprnet-options" --version
"$env_bin/mprnet-options" list >options.txt
head -3 options.txt
grep -q '^train/MPRNet_GoPro ' options.txt
"$env_bin/mprnet-options" copy train/GoPro my_gopro.yml
if "$env_bin/mprnet-options" copy train/GoPro my_gopro.yml 2>refusal.txt; then
    echo "wheel_check: mprnet-options copy overwrote my_gopro.yml"; exit 1
fi
grep -q 'already exists' refusal.txt

step "   mprnet-demo (2 iterations, small images)"
"$env_bin/mprnet-demo" --out demo --total-iter 2 --max-side 200 --train-copies 1 >demo.log 2>&1 \
    || { tail -40 demo.log; exit 1; }
grep -q '| \*\*mean\*\* |' demo.log || { tail -40 demo.log; exit 1; }

step "   mprnet-train -opt demo/demo_train (2 iterations, in the demo's folder for its data)"
(cd demo && "$env_bin/mprnet-train" -opt demo/demo_train --force_yml name=wheel_check train:total_iter=2 \
    train:scheduler:warmup_iter=0 logger:save_checkpoint_freq=2 >../train.log 2>&1) || { tail -40 train.log; exit 1; }
weights=demo/experiments/wheel_check/models/net_g_latest.pth
test -s "$weights" || { echo "wheel_check: mprnet-train wrote no $weights"; tail -40 train.log; exit 1; }

step "   mprnet-convert to .safetensors, mprnet-infer on one image with it"
"$env_bin/mprnet-convert" "$weights" weights.safetensors
image=$(ls demo/side_by_side/*.png | head -1)
"$env_bin/mprnet-infer" --weights weights.safetensors --input "$image" --output restored >infer.log 2>&1 \
    || { tail -20 infer.log; exit 1; }
test -s "restored/$(basename "$image")" || { echo "wheel_check: mprnet-infer wrote nothing"; cat infer.log; exit 1; }

step "wheel check passed"
