#!/usr/bin/env bash
# Does the big end of the CPU frontier stop at 13.73M because bigger students do not gain, or because the study
# never trained one with the winning settings? (issue 10: the 3x span.) `distilbo distill` runs at the CPU config's
# fidelity (1,000 questions + 1,500 transfer questions, one epoch, 600 dev) with the best trial's settings (trial
# 23: lr 1e-3, alpha_ce 0.94, T 2.36, batch 24, bottom layers, magnitude selection): trial 23's own shape again
# (a control: trials are seeded, so it must give trial 23's score), the teacher's full shape (22.57M) at lr 1e-3
# and at lr 1e-4. Resumable (a finished run is skipped). ~35 min on 2 idle cores.
#
#   bash benchmarks/large_students.sh [RUN_DIR]        # -> benchmarks/results/large_students.json
RUN=${1:-runs/large-students}
. "$(dirname "$0")/_students.sh"
full="n_layers=6 hidden_dim=1536 embedding_size=384"  # the teacher's shape, 22.7M
(one 6L_H1536_E384_lr1e-3 "${TRIAL23[@]}" $full learning_rate=1e-3
 one 6L_H896_E192_lr1e-3_trial23 "${TRIAL23[@]}" n_layers=6 hidden_dim=896 embedding_size=192 learning_rate=1e-3) &
(one 6L_H1536_E384_lr1e-4 "${TRIAL23[@]}" $full learning_rate=1e-4) &
wait
python benchmarks/collect_runs.py "$RUN" benchmarks/results/large_students.json
