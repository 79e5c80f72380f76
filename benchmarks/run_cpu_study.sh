#!/usr/bin/env bash
# A CPU experiment, resumable: run it again after an interruption -- on this machine or, from the committed
# database snapshot, on a new one -- and it continues the same study. Small results (frontier.png/json,
# trials.csv, status.txt and a snapshot of the study's SQLite database, study.db, every 5 minutes) land in
# $RESULTS (default benchmarks/results/<study>/), to be committed as they land.
#
#   nohup bash benchmarks/run_cpu_study.sh > runs/cpu-study.log 2>&1 &                      # configs/cpu-squad2.toml
#   SAMPLER=gp nohup bash benchmarks/run_cpu_study.sh ...                                   # the committed study's sampler
#   RESUME=1 SAMPLER=gp nohup bash benchmarks/run_cpu_study.sh ...       # continue the committed snapshot, anywhere
#
# The code that runs is this script's checkout (PYTHONPATH), so a snapshot (git worktree) can run a long study
# while the main checkout changes: VENV=/path/to/.venv OUT=/abs/run/folder bash /snapshot/benchmarks/run_cpu_study.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. "${VENV:-.venv}/bin/activate"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
CONFIG=${1:-configs/cpu-squad2.toml}
TRIALS=${TRIALS:-40}
read -r STUDY RUN_DIR CACHE < <(python -c "from distilbo.config import load_config as l; from distilbo._cache import cache_dir as d
c = l('$CONFIG'); print(c.run.study, c.run_dir, d(c))")
OUT=${OUT:-$RUN_DIR}
RESULTS=${RESULTS:-$PWD/benchmarks/results/$STUDY}
mkdir -p "$OUT" "$RESULTS"
# RESUME=1 on a new machine starts from the committed snapshot (its RUNNING trials are marked FAIL "interrupted" on
# resume; the finished trials keep their scores, not their checkpoints: retrain one from its settings to export it).
# Without it, an OUT with no database starts a new study (a rerun from scratch), whose snapshots replace $RESULTS's.
# The latency cache (a few bytes per shape, keyed by shape, runtime and machine) travels with the snapshot, so a
# study resumed on the same CPU model keeps the times its sampler already saw for a shape; on another CPU model a
# shape not yet timed there is timed again (each trial records its machine: `distilbo status`, trials.csv).
if [ "${RESUME:-0}" = 1 ] && [ ! -f "$OUT/study.db" ] && [ -f "$RESULTS/study.db" ]; then
  cp "$RESULTS/study.db" "$OUT/study.db"
  if [ -d "$RESULTS/latency-cache" ]; then mkdir -p "$CACHE" && cp -rn "$RESULTS/latency-cache/." "$CACHE/"; fi
fi
snapshot() {  # a consistent copy of the live database (SQLite's online backup), replaced atomically
  python - "$OUT/study.db" "$RESULTS/study.db" <<'PY'
import os, sqlite3, sys
src, dst = sys.argv[1], sys.argv[2]
if os.path.exists(src):
    a, b = sqlite3.connect(src), sqlite3.connect(dst + ".tmp")
    a.backup(b)
    b.close(); a.close()
    os.replace(dst + ".tmp", dst)
PY
}
save_latencies() {  # the finished latency entries (a folder each; a build in progress is a hidden temp folder)
  mkdir -p "$RESULTS/latency-cache"
  for e in "$CACHE"/latency-*; do [ -d "$e" ] && cp -rn "$e" "$RESULTS/latency-cache/"; done
  return 0
}
(while sleep 300; do
   snapshot || true
   save_latencies || true
   distilbo status --config "$CONFIG" --set out="$OUT" > "$RESULTS/status.txt.tmp" 2>/dev/null \
     && mv "$RESULTS/status.txt.tmp" "$RESULTS/status.txt" || true
 done) &
snapper=$!
trap 'kill "$snapper" 2>/dev/null || true' EXIT
# Fidelity is the config's (training questions, transfer set, dev subset, one epoch); two workers with one thread
# each (small matmuls scale poorly across threads). The sampler is the config's unless SAMPLER is set; the
# committed cpu-squad2 study (2026-12-02) ran with gp, the config's default is botorch since 2026-12-03.
distilbo search --config "$CONFIG" --trials "$TRIALS" --set out="$OUT" ${SAMPLER:+--sampler "$SAMPLER"} --no-report
snapshot
save_latencies
distilbo report --config "$CONFIG" --set out="$OUT"
for f in frontier.png frontier.json trials.csv; do cp "$OUT/$STUDY/report/$f" "$RESULTS/"; done
distilbo status --config "$CONFIG" --set out="$OUT" > "$RESULTS/status.txt"
