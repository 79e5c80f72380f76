"""Latency before training (issue 15; moved out of the tests by issue 32): a random-weight model of a student's
shape (`models.student.random_student`, timed by `serve.shape_latency_ms`) against the seeded student itself
(`measure.latency_ms` on real dev windows), timed side by side, interleaved, best of five. The goal: within 15%.

    cd benchmarks && python latency_prediction.py          # ~1 min on 2 cores; run on an idle machine

Prints one row per shape (predicted, measured, relative difference) and the machine's load before and after; the
dated results are in README.md ("Latency known before training"). The test suite checks only what needs no clock:
the random model is the same computation (tests/test_latency_before_training.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
from transformers import AutoConfig

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE.parent / "tests")]

from _tiny import tiny_bert, tokenizer  # noqa: E402  (the tests' tiny BERT and tokenizer)
from conftest import DEV_JSON  # noqa: E402
from distilbo.data.squad import build_features, load_examples  # noqa: E402
from distilbo.measure import latency_ms  # noqa: E402
from distilbo.models.student import StudentSpec, build_student, random_student  # noqa: E402
from distilbo.serve import shape_latency_ms  # noqa: E402

SHAPES = [(1, 384, 1536), (3, 192, 768), (2, 384, 512)]
"""(layers, dim, ffn) of the students compared: the shapes the test used to time."""


def main() -> None:
    torch.set_num_threads(1)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=HERE).stdout.strip()
    cpu = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name")), "?")
    print(f"commit {commit}; {cpu}; load before {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = tiny_bert(Path(tmp) / "t", qa=True, hidden=384, layers=3, heads=12)
        init_config = AutoConfig.from_pretrained(folder)
        feats = build_features(load_examples(str(DEV_JSON), max_samples=8), tokenizer(), max_seq_length=256,
                               doc_stride=128, max_query_length=64)
        for layers, dim, ffn in SHAPES:
            spec = StudentSpec(n_layers=layers, n_heads=12, dim=dim, hidden_dim=ffn, architecture="bert")
            student = build_student(spec, str(folder))
            predicted, measured = [], []
            for _ in range(5):
                predicted.append(shape_latency_ms(lambda: random_student(spec, init_config), key=None,
                                                  lengths=list(feats.lengths[:4]), vocab_size=init_config.vocab_size,
                                                  repeats=15, cache_dir=None)["latency_ms"])
                measured.append(latency_ms(student, feats, batch_size=4, repeats=15)["latency_ms"])
            p, m = min(predicted), min(measured)
            print(f"{layers} x {dim} x {ffn}: predicted {p:.2f} ms, measured {m:.2f} ms, "
                  f"difference {100 * (p - m) / m:+.1f}% ({'within' if abs(p - m) / m <= 0.15 else 'OVER'} 15%)")
    print(f"load after {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
