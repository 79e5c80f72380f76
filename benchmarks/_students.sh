# Sourced by the student probes (small_, large_, wide_, alldata_students.sh, serving_curves.sh), not run: the venv,
# the settings they share and `one`, which runs one `distilbo distill` of $CONFIG (default configs/cpu-squad2.toml:
# 1,000 questions + 1,500 transfer questions, one epoch, 600 dev; one thread, so two run side by side) unless it has
# finished already.
#
#   RUN=runs/NAME; . "$(dirname "$0")/_students.sh"; one NAME "${WINNING[@]}" n_layers=3 learning_rate=1e-3
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. "${VENV:-.venv}/bin/activate"
mkdir -p "$RUN"

# trial 23's settings (the committed study's most accurate student) but its shape and learning rate
TRIAL23=(layer_selection=bottom selection=magnitude alpha_ce=0.940537586183311 temperature=2.3586002423553944
         batch_size=24 beta_1=0.8 beta_2=0.9861153523358508 adam_epsilon=3.4326744420803134e-08
         weight_decay=1.6823977947529452e-06 dropout=0.0 attention_dropout=0.3 qa_dropout=0.1366799591491867
         warmup_ratio=0.1)
# the study's winning settings for small students (its 4-6-layer front trials), rounded
WINNING=(warmup_ratio=0.1 layer_selection=bottom selection=magnitude alpha_ce=1.0 temperature=3.0)

one() {  # name, then NAME=VALUE settings (each becomes --set NAME=VALUE); output in $RUN/NAME, log $RUN/NAME.log
  local name=$1 flags=() kv; shift
  for kv in "$@"; do flags+=(--set "$kv"); done
  [ -f "$RUN/$name/metrics.json" ] || distilbo distill --config "${CONFIG:-configs/cpu-squad2.toml}" --quiet --set num_threads=1 \
    --out "$RUN/$name" "${flags[@]}" > "$RUN/$name.log" 2>&1
}
