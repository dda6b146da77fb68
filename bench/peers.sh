#!/usr/bin/env bash
# Make a separate venv with the peers (wandb, mlflow) that the benchmarks compare against.
set -euo pipefail
dest=${STEPLINE_BENCH_PEERS_DIR:-/tmp/stepline-peers}
python3 -m venv "$dest"
"$dest/bin/pip" install -q wandb mlflow
echo "peers ready: $dest/bin/python"
