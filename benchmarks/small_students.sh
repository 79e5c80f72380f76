#!/usr/bin/env bash
# Do students under 4.6M parameters learn in the CPU study's one epoch? (issue 10: the frontier's 3x span needs
# a learner <= 4.58M beside the best, 13.73M.) Eight `distilbo distill` runs with the study's winning settings
# (bottom layers, magnitude selection, alpha_ce 1, T 3, warmup 10%): six at the CPU config's fidelity (1,000
# questions + 1,500 transfer questions, one epoch, 600 dev), one for 3 epochs, one on all 3,937 + 5,915
# questions. Resumable (a finished run is skipped). ~45 min on 2 idle cores (the all-data run first caches the
# teacher's logits of 9,852 more questions).
#
#   bash benchmarks/small_students.sh [RUN_DIR]        # -> benchmarks/results/small_students.json
RUN=${1:-runs/small-students}
. "$(dirname "$0")/_students.sh"
small="n_layers=3 embedding_size=64 hidden_dim=384"  # the 3-layer student with 64-wide tables, 4.68M
(one 4L_E32_H384_lr1e-3_b32 "${WINNING[@]}" n_layers=4 embedding_size=32 hidden_dim=384 learning_rate=1e-3 batch_size=32
 one 3L_E64_H384_lr3e-3_b32 "${WINNING[@]}" $small learning_rate=3e-3 batch_size=32
 one 3L_E64_H384_lr1e-3_b8 "${WINNING[@]}" $small learning_rate=1e-3 batch_size=8
 one 3L_E64_H384_lr1e-3_b32_3epochs "${WINNING[@]}" $small learning_rate=1e-3 batch_size=32 num_train_epochs=3) &
(one 3L_E64_H384_lr1e-3_b32 "${WINNING[@]}" $small learning_rate=1e-3 batch_size=32
 one 2L_E64_H768_lr1e-3_b32 "${WINNING[@]}" n_layers=2 embedding_size=64 hidden_dim=768 learning_rate=1e-3 batch_size=32
 one 3L_E64_H384_lr3e-4_b8 "${WINNING[@]}" $small learning_rate=3e-4 batch_size=8
 one 3L_E64_H384_lr1e-3_b32_alldata "${WINNING[@]}" $small learning_rate=1e-3 batch_size=32 max_train_samples=3937 max_transfer_samples=5915) &
wait
python benchmarks/collect_runs.py "$RUN" benchmarks/results/small_students.json
