#!/usr/bin/env bash
# What a trimmed vocabulary (`[student] vocab_size`) costs a student: trial 38 of the committed study (4 x 384,
# E 64, `stride`, 5.57M, 33.5: the study's smallest learner) again with 14,000 and 9,000 of the 30,522 pieces,
# at the CPU config's fidelity (1,000 + 1,500 transfer questions, one epoch, 600 dev). One run at a time, one
# thread (beside a 2-worker study). Resumable (a finished run is skipped). ~15 min.
#
#   bash benchmarks/vocab_students.sh [RUN_DIR]        # -> benchmarks/results/vocab_students.json
RUN=${1:-runs/vocab-students}
. "$(dirname "$0")/_students.sh"
TRIAL38=(selection=magnitude alpha_ce=1.0 temperature=4.0 batch_size=32 learning_rate=1e-3 beta_1=0.8 beta_2=0.999
         adam_epsilon=1e-6 weight_decay=1e-6 dropout=0.0 attention_dropout=0.3 qa_dropout=0.09193106018900975
         warmup_ratio=0.1 n_layers=4 embedding_size=64 hidden_dim=384 layer_selection=stride)
one 4L_E64_H384_V14000 "${TRIAL38[@]}" vocab_size=14000
one 4L_E64_H384_V9000 "${TRIAL38[@]}" vocab_size=9000
python benchmarks/collect_runs.py "$RUN" benchmarks/results/vocab_students.json
