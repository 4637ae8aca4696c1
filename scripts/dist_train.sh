#!/usr/bin/env bash
# Distributed MPRNet training with BasicSR's launcher, one process per GPU (torchrun).
#   single node:  scripts/dist_train.sh 4 options/train/MPRNet_GoPro.yml [--auto_resume] [--debug]
#   multi-node:   NNODES=2 NODE_RANK=0 MASTER_ADDR=10.0.0.1 scripts/dist_train.sh 8 options/train/MPRNet_GoPro.yml
#                 (run the same command on every node with its own NODE_RANK)
# Without GPUs the processes train on the CPU with the gloo backend (set num_gpu: 0 in the option file).
set -euo pipefail

if [ $# -lt 2 ]; then
    echo "usage: $0 <processes per node> <option file> [extra mprnet-train arguments]" >&2
    exit 2
fi
GPUS=$1
CONFIG=$2
shift 2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
MASTER_ADDR=${MASTER_ADDR:-127.0.0.1}
PORT=${PORT:-4321}
PYTHON=${PYTHON:-python}

exec "$PYTHON" -m torch.distributed.run --nnodes="$NNODES" --node_rank="$NODE_RANK" --nproc_per_node="$GPUS" \
    --master_addr="$MASTER_ADDR" --master_port="$PORT" \
    -m mprnet_plugin.train -opt "$CONFIG" --launcher pytorch "$@"
