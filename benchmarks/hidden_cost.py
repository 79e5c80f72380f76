"""What the hidden-state term (`alpha_cos`) costs in training time: the same student, features and settings with
alpha_cos 0 (cached teacher logits only) and 1 (the teacher also runs in the loop for its hidden states), timed
alternately in one process.

    python benchmarks/hidden_cost.py                       # 3 x 384 E 64 student, 320 windows, 1 thread, 3 repeats
    python benchmarks/hidden_cost.py --n-layers 2 --hidden-dim 768 --threads 2

Prints one JSON object (the best time of each, their ratio, the load average); record it in benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default=str(REPO / "configs/cpu-squad2.toml"))
    ap.add_argument("--features", type=int, default=320, help="training windows per timed run")
    ap.add_argument("--n-layers", type=int, default=3)
    ap.add_argument("--embedding-size", type=int, default=64)
    ap.add_argument("--hidden-dim", type=int, default=384)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1, help="1: as the probes, two of which share the 2 cores")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs of each (alternating); the best is kept")
    args = ap.parse_args()

    from distilbo.config import load_config
    from distilbo.distill.teacher_cache import model_fingerprint, teacher_logits
    from distilbo.distill.train import distill
    from distilbo.distill.trial import load_data, student_spec
    from distilbo.evaluate import load_qa_model, load_tokenizer
    from distilbo.measure import set_threads
    from distilbo.models.student import build_student

    threads = set_threads(args.threads)
    cfg = load_config(args.config, {"n_layers": args.n_layers, "embedding_size": args.embedding_size,
                                    "hidden_dim": args.hidden_dim, "batch_size": args.batch_size,
                                    "num_train_epochs": 1.0, "max_eval_samples": 8, "logging_steps": 10_000,
                                    "layer_selection": "bottom", "selection": "magnitude"})
    teacher_path = cfg.path(cfg.models.teacher)
    _, train_f, _, _ = load_data(cfg, load_tokenizer(cfg.student_init_path))
    feats = train_f.subset(np.arange(min(args.features, len(train_f))))
    teacher = load_qa_model(teacher_path)
    ts, te = teacher_logits(teacher, feats, teacher_key=model_fingerprint(teacher_path), cache_dir=None,
                            device=torch.device("cpu"))
    spec, init_config = student_spec(cfg)
    weights = torch.from_numpy(feats.token_counts(init_config.vocab_size) + 1.0) if spec.factorized else None
    times: dict[str, list[float]] = {"alpha_cos 0": [], "alpha_cos 1": []}
    for _ in range(args.repeats):
        for name, alpha_cos in (("alpha_cos 0", 0.0), ("alpha_cos 1", 1.0)):
            s = build_student(spec, cfg.student_init_path, init_seed=0, word_weights=weights)
            r = distill(s, feats, cfg=cfg.with_overrides({"alpha_cos": alpha_cos}), device=torch.device("cpu"),
                        teacher_start=ts, teacher_end=te, teacher_model=teacher if alpha_cos else None,
                        progress=False)
            times[name].append(r.train_seconds)
    best0, best1 = min(times["alpha_cos 0"]), min(times["alpha_cos 1"])
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    print(json.dumps({
        "date": time.strftime("%Y-%m-%d"), "commit": commit, "machine": platform.machine(), "threads": threads,
        "student": f"{spec.n_layers} x {spec.hidden_dim}, E {spec.embedding_size}", "features": len(feats),
        "batch_size": args.batch_size, "precision": cfg.train.precision, "best_s": {"alpha_cos 0": best0, "alpha_cos 1": best1},
        "ratio": best1 / best0, "times_s": times, "load_average_1_5_15": list(os.getloadavg()),
    }, indent=1))


if __name__ == "__main__":
    sys.exit(main())
