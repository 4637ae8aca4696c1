#!/usr/bin/env bash
# MPRNet training on a SLURM cluster: srun starts one task per GPU, each runs BasicSR's launcher with
# --launcher slurm (rank, world size and master address come from SLURM; the port from dist_params.port).
#   GPUS=8 GPUS_PER_NODE=4 scripts/slurm_train.sh <partition> <job name> options/train/MPRNet_GoPro.yml [--auto_resume]
# Add --auto_resume to continue a preempted job from its latest training state.
set -euo pipefail

if [ $# -lt 3 ]; then
    echo "usage: [GPUS=N] [GPUS_PER_NODE=M] $0 <partition> <job name> <option file> [extra mprnet-train arguments]" >&2
    exit 2
fi
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
shift 3
GPUS=${GPUS:-4}
GPUS_PER_NODE=${GPUS_PER_NODE:-4}
CPUS_PER_TASK=${CPUS_PER_TASK:-6}
SRUN_ARGS=${SRUN_ARGS:-""}
PYTHON=${PYTHON:-python}

# shellcheck disable=SC2086  # SRUN_ARGS is a list of options
srun -p "$PARTITION" --job-name="$JOB_NAME" --gres=gpu:"$GPUS_PER_NODE" --ntasks="$GPUS" \
    --ntasks-per-node="$GPUS_PER_NODE" --cpus-per-task="$CPUS_PER_TASK" --kill-on-bad-exit=1 $SRUN_ARGS \
    "$PYTHON" -u -m mprnet_plugin.train -opt "$CONFIG" --launcher slurm "$@"
