"""How much of the teacher factorized embedding tables keep before any training, by width and weighting.

    python benchmarks/factorize.py --questions 300 --out benchmarks/results/factorize.json

The shared teacher (BERT, H = 384) converted to ALBERT with E-wide embedding tables (`factorize_student`), no
training, scored on the first N dev questions (HasAns_forced_f1, null answer disabled). The kept directions are
the top E - 1 principal directions of the tables: each table averaged over its rows (`distilbo.models._factorize`),
with every token alike ("uniform") or weighted by how often it occurs in the CPU config's training windows
("frequency", what a trial does). Also the max |logit difference| to the teacher (0 at E = H: exact).
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
from distilbo.models.student import factorize_student

ROOT = Path(__file__).resolve().parents[1]
TEACHER = ROOT.parent / "shared/teachers/minilm-l6-h384-squad2"
DATA = ROOT.parent / "shared/data/squad2"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--questions", type=int, default=300)
    ap.add_argument("--train-questions", type=int, default=1000, help="training windows the token counts come from")
    ap.add_argument("--sizes", default="384,256,192,128,96,64")
    ap.add_argument("--out", default=str(ROOT / "benchmarks/results/factorize.json"))
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    tok = load_tokenizer(str(TEACHER))
    lengths = dict(max_seq_length=256, doc_stride=128, max_query_length=64)
    ex = load_examples(str(DATA / "dev.json"), max_samples=args.questions)
    feats = build_features(ex, tok, **lengths)
    train = build_features(load_examples(str(DATA / "train.json"), max_samples=args.train_questions), tok, **lengths)
    teacher = load_qa_model(str(TEACHER)).eval()
    counts = torch.from_numpy(train.token_counts(teacher.config.vocab_size) + 1.0)

    def score(model):
        s, e = model_logits(model, feats)
        return evaluate_logits(ex, feats, s, e, version_2_with_negative=True).metrics["HasAns_forced_f1"], s, e

    t0 = time.perf_counter()
    f1, ts, te = score(teacher)
    rows = [{"embedding_size": teacher.config.hidden_size, "weighting": "teacher (BERT)", "HasAns_forced_f1": f1,
             "num_parameters": sum(p.numel() for p in teacher.parameters()), "max_abs_logit_diff": 0.0}]
    for E in (int(x) for x in args.sizes.split(",")):
        for name, w in (("uniform", None), ("frequency", counts)):
            model = factorize_student(teacher, E, w)
            f1, s, e = score(model)
            rows.append({"embedding_size": E, "weighting": name, "HasAns_forced_f1": f1,
                         "num_parameters": sum(p.numel() for p in model.parameters()),
                         "max_abs_logit_diff": float(max(np.abs(s - ts).max(), np.abs(e - te).max()))})
            print(json.dumps(rows[-1]), flush=True)
    out = {"questions": args.questions, "train_questions": args.train_questions, "rows": rows,
           "seconds": time.perf_counter() - t0}
    Path(args.out).write_text(json.dumps(out, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
