"""How much of the teacher a seeded student keeps before any training: layer rules x depths, BERT vs DistilBERT.

    python benchmarks/seeding.py --questions 300 --out benchmarks/results/seeding.json

For each student depth n (1..L0) and each `layer_selection` rule, build the full-width student seeded from the
shared teacher (no training) and score it on the first N dev questions (HasAns_forced_f1, null answer disabled).
Also: the full-shape student in the BERT architecture (must equal the teacher) and in DistilBERT (token type 0
folded into the positions) with the max |logit difference| to the teacher.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from distilbo.data.squad import build_features, load_examples
from distilbo.evaluate import evaluate_logits, load_qa_model, load_tokenizer, model_logits
from distilbo.models.student import LAYER_RULES, StudentSpec, build_student, layer_sources

ROOT = Path(__file__).resolve().parents[1]
TEACHER = ROOT.parent / "shared/teachers/minilm-l6-h384-squad2"
DEV = ROOT.parent / "shared/data/squad2/dev.json"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--questions", type=int, default=300)
    ap.add_argument("--out", default=str(ROOT / "benchmarks/results/seeding.json"))
    args = ap.parse_args()
    torch.set_num_threads(2)
    tok = load_tokenizer(str(TEACHER))
    ex = load_examples(str(DEV), max_samples=args.questions)
    feats = build_features(ex, tok, max_seq_length=256, doc_stride=128, max_query_length=64)
    teacher = load_qa_model(str(TEACHER))
    ts, te = model_logits(teacher, feats, batch_size=64)

    def score(model) -> tuple[float, float]:
        s, e = model_logits(model, feats, batch_size=64)
        m = evaluate_logits(ex, feats, s, e).metrics
        return m["HasAns_forced_f1"], float(max(np.abs(s - ts).max(), np.abs(e - te).max()))

    rows = [{"what": "teacher", "HasAns_forced_f1": score(teacher)[0]}]
    for arch in ("bert", "distilbert"):
        m = build_student(StudentSpec(n_layers=6, n_heads=12, dim=384, hidden_dim=1536, architecture=arch,
                                      dropout=0.0, attention_dropout=0.0, qa_dropout=0.0), str(TEACHER))
        f1, diff = score(m)
        rows.append({"what": f"full shape, {arch}", "HasAns_forced_f1": f1, "max_abs_logit_diff": diff})
        print(rows[-1], flush=True)
    for n in range(1, 6):
        seen = {}
        for rule in LAYER_RULES:
            src = tuple(layer_sources(6, n, rule))
            if src not in seen:
                m = build_student(StudentSpec(n_layers=n, n_heads=12, dim=384, hidden_dim=1536, architecture="bert",
                                              layer_selection=rule), str(TEACHER))
                seen[src] = score(m)[0]
            rows.append({"what": f"{n} layers, {rule}", "n_layers": n, "rule": rule, "layers": list(src),
                         "HasAns_forced_f1": seen[src]})
            print(rows[-1], flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"date": time.strftime("%Y-%m-%d"), "questions": args.questions,
                                          "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
