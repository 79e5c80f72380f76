#!/usr/bin/env bash
# The big end again (issue 10: the 3x span needs a frontier point at >= 16.7M above trial 23's 60.8). The first
# probe (large_students.sh) tried the teacher's shape at lr 1e-4 (60.2) and 1e-3 (53.5); this one fills the gap
# between: students wider than trial 23 (6 x 1152, E 256, ~16.9M) at lr 3e-4, 5e-4 and 1e-3, and the teacher's shape at
# lr 3e-4. Trial 23's other settings, the CPU config's fidelity (1,000 questions + 1,500 transfer questions, one
# epoch, 600 dev). Resumable (a finished run is skipped). ~50 min on 2 idle cores.
#
#   bash benchmarks/wide_students.sh [RUN_DIR]        # -> benchmarks/results/wide_students.json
set -euo pipefail
cd "$(dirname "$0")/.."
. "${VENV:-.venv}/bin/activate"
RUN=${1:-runs/wide-students}
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
wide="n_layers=6 hidden_dim=1152 embedding_size=256"
full="n_layers=6 hidden_dim=1536 embedding_size=384"  # the teacher's shape, 22.57M
(one 6L_H1152_E256_lr3e-4 $wide learning_rate=3e-4
 one 6L_H1152_E256_lr1e-3 $wide learning_rate=1e-3) &
(one 6L_H1536_E384_lr3e-4 $full learning_rate=3e-4
 one 6L_H1152_E256_lr5e-4 $wide learning_rate=5e-4) &
wait
python benchmarks/collect_runs.py "$RUN" benchmarks/results/wide_students.json
