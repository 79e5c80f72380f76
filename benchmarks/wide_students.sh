#!/usr/bin/env bash
# The big end again (issue 10: the 3x span needs a frontier point at >= 16.7M above trial 23's 60.8). The first
# probe (large_students.sh) tried the teacher's shape at lr 1e-4 (60.2) and 1e-3 (53.5); this one fills the gap
# between: students wider than trial 23 (6 x 1152, E 256, ~16.9M) at lr 3e-4, 5e-4 and 1e-3, and the teacher's shape at
# lr 3e-4. Trial 23's other settings, the CPU config's fidelity (1,000 questions + 1,500 transfer questions, one
# epoch, 600 dev). Resumable (a finished run is skipped). ~50 min on 2 idle cores.
#
#   bash benchmarks/wide_students.sh [RUN_DIR]        # -> benchmarks/results/wide_students.json
RUN=${1:-runs/wide-students}
. "$(dirname "$0")/_students.sh"
wide="n_layers=6 hidden_dim=1152 embedding_size=256"
full="n_layers=6 hidden_dim=1536 embedding_size=384"  # the teacher's shape, 22.57M
(one 6L_H1152_E256_lr3e-4 "${TRIAL23[@]}" $wide learning_rate=3e-4
 one 6L_H1152_E256_lr1e-3 "${TRIAL23[@]}" $wide learning_rate=1e-3) &
(one 6L_H1536_E384_lr3e-4 "${TRIAL23[@]}" $full learning_rate=3e-4
 one 6L_H1152_E256_lr5e-4 "${TRIAL23[@]}" $wide learning_rate=5e-4) &
wait
python benchmarks/collect_runs.py "$RUN" benchmarks/results/wide_students.json
