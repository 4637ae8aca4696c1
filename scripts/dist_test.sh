#!/usr/bin/env bash
# MPRNet testing with BasicSR's test pipeline under torchrun (BasicSR scores on rank 0).
#   scripts/dist_test.sh 1 options/test/MPRNet_GoPro.yml
set -euo pipefail

if [ $# -lt 2 ]; then
    echo "usage: $0 <processes per node> <option file> [extra mprnet-test arguments]" >&2
    exit 2
fi
GPUS=$1
CONFIG=$2
shift 2
PORT=${PORT:-4321}
PYTHON=${PYTHON:-python}

exec "$PYTHON" -m torch.distributed.run --nproc_per_node="$GPUS" --master_port="$PORT" \
    -m mprnet_plugin.test -opt "$CONFIG" --launcher pytorch "$@"
