#!/usr/bin/env bash
# The shipped CPU experiment, resumable: run it again after an interruption and it continues the same study.
# Small results (frontier.png/json, trials.csv, status.txt) are copied to $RESULTS.
#
#   nohup bash benchmarks/run_cpu_study.sh > runs/cpu-study.log 2>&1 &
#
# The code that runs is this script's checkout (PYTHONPATH), so a snapshot (git worktree) can run a long study
# while the main checkout changes: VENV=/path/to/.venv OUT=/abs/run/folder bash /snapshot/benchmarks/run_cpu_study.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. "${VENV:-.venv}/bin/activate"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
TRIALS=${TRIALS:-40}
OUT=${OUT:-$PWD/runs/cpu-squad2}
RESULTS=${RESULTS:-$PWD/benchmarks/results/cpu-squad2}
# CPU fidelity is the config's (training questions, transfer set, dev subset, one epoch); two workers
# with one thread each (small matmuls scale poorly across threads).
# The committed study (2026-12-02) ran with the gp sampler; the config's default is botorch since 2026-12-03.
distilbo search --config configs/cpu-squad2.toml --trials "$TRIALS" --set out="$OUT" --sampler "${SAMPLER:-gp}" --no-report
distilbo report --config configs/cpu-squad2.toml --set out="$OUT"
mkdir -p "$RESULTS"
for f in frontier.png frontier.json trials.csv; do cp "$OUT/cpu-squad2/report/$f" "$RESULTS/"; done
distilbo status --config configs/cpu-squad2.toml --set out="$OUT" > "$RESULTS/status.txt"
