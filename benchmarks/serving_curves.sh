#!/usr/bin/env bash
# Learning curves of the serving study's small students at its fidelity (issue 33: "measure their learning curves
# first"): how many epochs do 1- and 3-layer students need on all the labeled and transfer questions
# (configs/cpu-squad2-serving.toml: 8,656 labeled + 5,915 transfer questions, 600 dev)? Each run scores dev every
# 100 steps (curves.jsonl). Settings: the CPU study's winning ones for small students (bottom layers, magnitude
# selection, alpha_ce 1, T 3, warmup 10%), lr 1e-3 and batch 32 (the last study's upper edges). The 1-layer run
# goes 2 epochs (linear decay over both, so its epoch-1 point is not a 1-epoch run's end). Resumable (a finished
# run is skipped); the first run caches the teacher's logits of ~18,700 windows. ~1.5 h on 2 idle cores.
#
#   bash benchmarks/serving_curves.sh [RUN_DIR]    # -> benchmarks/results/serving_curves.json and .png
RUN=${1:-runs/serving-curves}
CONFIG=configs/cpu-squad2-serving.toml
. "$(dirname "$0")/_students.sh"
base=("${WINNING[@]}" dim=384 hidden_dim=1536 learning_rate=1e-3 batch_size=32 eval_steps=100)
(one 1L_384_lr1e-3_b32_2ep "${base[@]}" n_layers=1 num_train_epochs=2
 one 1L_384_lr3e-3_b32 "${base[@]}" n_layers=1 learning_rate=3e-3) &
(sleep 60; one 3L_384_lr1e-3_b32 "${base[@]}" n_layers=3
 one 2L_384_lr1e-3_b32 "${base[@]}" n_layers=2) &
wait
python benchmarks/collect_runs.py "$RUN" benchmarks/results/serving_curves.json --plot
