#!/usr/bin/env bash
# Do the small students fail for want of data, or because the probes took their layers from the bottom of the
# teacher? (issue 10: the 3x span needs a learner <= 4.58M.) small_students.sh and alldata_students.sh used
# `layer_selection = bottom` for every small student (layers 0..n-1, far from the QA head), while the study's
# smallest learner, trial 38 (4 x 384, E 64, 5.57M, 33.5), took `stride` (0, 1, 3, 4). Six `distilbo distill`
# runs with trial 38's settings at the CPU config's fidelity, students under 4.58M, `stride` / `top` / `ends`.
# Resumable (a finished run is skipped). ~20 min on 2 idle cores.
#
#   bash benchmarks/layer_rule_students.sh [RUN_DIR]        # -> benchmarks/results/layer_rule_students.json
RUN=${1:-runs/layer-rule-students}
. "$(dirname "$0")/_students.sh"
# trial 38's settings (the committed study's smallest learner) but its shape and layer rule
TRIAL38=(selection=magnitude alpha_ce=1.0 temperature=4.0 batch_size=32 learning_rate=1e-3 beta_1=0.8 beta_2=0.999
         adam_epsilon=1e-6 weight_decay=1e-6 dropout=0.0 attention_dropout=0.3 qa_dropout=0.0919 warmup_ratio=0.1)
(one 4L_E32_H384_stride "${TRIAL38[@]}" n_layers=4 embedding_size=32 hidden_dim=384 layer_selection=stride
 one 3L_E64_H256_stride "${TRIAL38[@]}" n_layers=3 embedding_size=64 hidden_dim=256 layer_selection=stride
 one 2L_E64_H768_ends "${TRIAL38[@]}" n_layers=2 embedding_size=64 hidden_dim=768 layer_selection=ends) &
(one 4L_E32_H384_top "${TRIAL38[@]}" n_layers=4 embedding_size=32 hidden_dim=384 layer_selection=top
 one 3L_E64_H256_top "${TRIAL38[@]}" n_layers=3 embedding_size=64 hidden_dim=256 layer_selection=top
 one 2L_E64_H768_top "${TRIAL38[@]}" n_layers=2 embedding_size=64 hidden_dim=768 layer_selection=top) &
wait
python benchmarks/collect_runs.py "$RUN" benchmarks/results/layer_rule_students.json
