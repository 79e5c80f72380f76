#!/usr/bin/env bash
# The shipped CPU experiment (issue: the experiment reproduced at CPU scale), resumable: run it again after an
# interruption and it continues the same study. Small results are copied to benchmarks/results/cpu-squad2/.
#
#   nohup bash benchmarks/run_cpu_study.sh > runs/cpu-study.log 2>&1 &
set -euo pipefail
cd "$(dirname "$0")/.."
. .venv/bin/activate
TRIALS=${TRIALS:-40}
# CPU fidelity (the config): the first 1,200 training questions, one epoch, the full dev set; two workers with
# one thread each (small matmuls scale poorly across threads).
distilbo search --config configs/cpu-squad2.toml --trials "$TRIALS" --workers 2 --set num_threads=1 --no-report
distilbo report --config configs/cpu-squad2.toml
mkdir -p benchmarks/results/cpu-squad2
for f in frontier.png frontier.json trials.csv; do cp runs/cpu-squad2/report/$f benchmarks/results/cpu-squad2/; done
distilbo status --config configs/cpu-squad2.toml > benchmarks/results/cpu-squad2/status.txt
