#!/usr/bin/env bash
# Does the big end of the CPU frontier stop at 13.73M because bigger students do not gain, or because the study
# never trained one with the winning settings? (issue 10: the 3x span.) `distilbo distill` runs at the CPU config's
# fidelity (1,000 questions + 1,500 transfer questions, one epoch, 600 dev) with the best trial's settings (trial
# 23: lr 1e-3, alpha_ce 0.94, T 2.36, batch 24, bottom layers, magnitude selection): trial 23's own shape again
# (a control: trials are seeded, so it must give trial 23's score), the teacher's full shape (22.57M) at lr 1e-3
# and at lr 1e-4. Resumable (a finished run is skipped). ~35 min on 2 idle cores.
#
#   bash benchmarks/large_students.sh [RUN_DIR]        # -> benchmarks/results/large_students.json
set -euo pipefail
cd "$(dirname "$0")/.."
. "${VENV:-.venv}/bin/activate"
RUN=${1:-runs/large-students}
mkdir -p "$RUN"
best=(layer_selection=bottom selection=magnitude alpha_ce=0.940537586183311 temperature=2.3586002423553944
      batch_size=24 beta_1=0.8 beta_2=0.9861153523358508 adam_epsilon=3.4326744420803134e-08
      weight_decay=1.6823977947529452e-06 dropout=0.0 attention_dropout=0.3 qa_dropout=0.1366799591491867
      warmup_ratio=0.1)
one() {  # name, then NAME=VALUE settings (each becomes --set NAME=VALUE) on top of trial 23's
  local name=$1 flags=() kv; shift
  for kv in "${best[@]}" "$@"; do flags+=(--set "$kv"); done
  [ -f "$RUN/$name/metrics.json" ] || distilbo distill --config configs/cpu-squad2.toml --quiet --set num_threads=1 \
    --out "$RUN/$name" "${flags[@]}" > "$RUN/$name.log" 2>&1
}
full="n_layers=6 hidden_dim=1536 embedding_size=384"  # the teacher's shape, 22.7M
(one 6L_H1536_E384_lr1e-3 $full learning_rate=1e-3
 one 6L_H896_E192_lr1e-3_trial23 n_layers=6 hidden_dim=896 embedding_size=192 learning_rate=1e-3) &
(one 6L_H1536_E384_lr1e-4 $full learning_rate=1e-4) &
wait
python benchmarks/collect_runs.py "$RUN" benchmarks/results/large_students.json
