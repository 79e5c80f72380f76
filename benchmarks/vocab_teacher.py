"""What a trimmed vocabulary costs before any training: the shared teacher itself reading the dev questions through
a student's trimmed tokenizer (`distilbo.models._vocab`: specials + single characters + the pieces the CPU
study's training windows use most), its logits mapped back through the kept ids. Dev's articles are unseen in
training, so this is the re-splitting cost on new text.

    python benchmarks/vocab_teacher.py [K ...]   # ~1.5 min per K, one thread -> benchmarks/results/vocab_teacher.json
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

from distilbo.config import load_config
from distilbo.distill.trial import load_data, load_transfer
from distilbo.evaluate import evaluate_logits, load_qa_model, load_tokenizer, model_logits
from distilbo.models._vocab import choose_vocabulary, must_keep_ids, trim_tokenizer

REPO = Path(__file__).resolve().parents[1]


def main(sizes: list[int]) -> None:
    torch.set_num_threads(1)
    cfg = load_config(REPO / "configs/cpu-squad2.toml")
    teacher_path = cfg.path(cfg.models.teacher)
    tok = load_tokenizer(teacher_path)
    teacher = load_qa_model(teacher_path).eval()
    V = len(tok.get_vocab())
    _, train_f, dev_ex, dev_f = load_data(cfg, tok)
    counts = train_f.token_counts(V) + load_transfer(cfg, tok).token_counts(V)
    post = dict(version_2_with_negative=True, n_best_size=cfg.data.n_best_size,
                max_answer_length=cfg.data.max_answer_length, null_score_diff_threshold=0.0)
    rows = []
    for K in [V, *sizes]:
        kept = choose_vocabulary(counts, size=K, always=must_keep_ids(tok))
        small = trim_tokenizer(tok, kept) if K < V else tok
        feats = load_data(cfg, small)[3]
        feats = dataclasses.replace(feats, input_ids=kept[feats.input_ids].astype(np.int32))
        start, end = model_logits(teacher, feats, batch_size=cfg.train.eval_batch_size)
        m = evaluate_logits(dev_ex, feats, start, end, **post).metrics
        rows.append({"vocab_size": K, "dev_windows": len(feats), "HasAns_forced_f1": m["HasAns_forced_f1"],
                     "training_pieces_kept": int((counts[kept] > 0).sum()), "training_pieces": int((counts > 0).sum())})
        print(f"K {K:>6}: {len(feats)} dev windows, HasAns_forced_f1 {m['HasAns_forced_f1']:.2f}", flush=True)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=REPO).stdout.strip()
    out = REPO / "benchmarks/results/vocab_teacher.json"
    out.write_text(json.dumps({"commit": commit, "dev_questions": len(dev_ex), "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main([int(k) for k in sys.argv[1:]] or [4000, 6522, 9000, 10522, 14522, 18522])
