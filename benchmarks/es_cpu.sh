#!/usr/bin/env bash
# Early stopping on real trials (issue 14, item 4): two CPU studies side by side, one core each, the same
# wall-clock budget (= CPU time: one worker with one thread each): the default search (botorch) without rungs,
# and with one rung at 1/3 of the epoch (`rungs = [0.34]`, scored on the first 100 dev questions, the best third
# of the trials at the rung go on, after 3 have reached it). Fidelity is the quick start's (1,000 training + 500
# transfer questions, one epoch, the first 300 dev questions), so ~20 trials fit in 75 minutes. Resumable: run it
# again and each study completes its budget (`--timeout` counts from each restart, so an interrupted run gets more
# than TIMEOUT in all: compare the two at TIMEOUT from the trials' completion times).
#
#   nohup bash benchmarks/es_cpu.sh > runs/es-cpu.log 2>&1 &      # ~80 min on 2 cores
#   python benchmarks/es_cpu.py --out-dir runs/es-cpu    # HV per CPU-hour cut at TIMEOUT, both frontiers, the plot
#
# The code that runs is this script's checkout (PYTHONPATH), so a snapshot can run while the main checkout changes:
#   git worktree add /tmp/es-snap HEAD && VENV=$PWD/.venv OUT=$PWD/runs/es-cpu bash /tmp/es-snap/benchmarks/es_cpu.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. "${VENV:-.venv}/bin/activate"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
OUT=${OUT:-$PWD/runs/es-cpu}
TIMEOUT=${TIMEOUT:-4500}
common=(--config configs/cpu-squad2.toml --workers 1 --trials 60 --timeout "$TIMEOUT" --no-report
        --set num_threads=1 --set max_train_samples=1000 --set max_transfer_samples=500 --set max_eval_samples=300
        --set n_startup_trials=6)
mkdir -p "$OUT"
distilbo search "${common[@]}" --study es-cpu-full --set out="$OUT/full" > "$OUT/full.log" 2>&1 &
distilbo search "${common[@]}" --study es-cpu-rungs --set out="$OUT/rungs" --set 'rungs=[0.34]' \
  --set rung_questions=100 --set rung_eta=3 --set rung_min_peers=3 > "$OUT/rungs.log" 2>&1 &
wait
