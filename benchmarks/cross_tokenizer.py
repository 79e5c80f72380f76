"""What the cross-tokenizer path loses (issue 31): the same student distilled from the shared teacher twice, once
with exact teacher logits on its own tokens and once through `distilbo.distill.cross_tokenizer` (the teacher reads
its own windows; its start/end distributions are carried to the student's tokens by character offsets).

The student init of both is the shared teacher with its vocabulary trimmed to K = 9,000 pieces by distilbo's own
functions (`distilbo.distill.trial.trimmed_tokenizer`, `distilbo.models._vocab.trim_embeddings`), saved as a stock
BertForQuestionAnswering folder with its own tokenizer: words whose pieces were dropped are spelled with smaller
pieces, so the folder tokenizes differently from the teacher and `check_tokenizers` sends it down the cross path.
Two vocabularies:

    data   the pieces `[student] vocab_size = 9000` keeps: specials, single characters, then the pieces the CPU
           study's training + transfer windows use most. Those windows use only ~7,000 distinct pieces, so all
           are kept: the training windows tokenize exactly as the teacher's (only unseen text differs), and the
           mapping is exercised only by what it does to the question tokens and [SEP].
    bert   specials, single characters, then the first pieces of BERT's own order (roughly its pretraining
           corpus frequency; `choose_vocabulary` with zero counts): a tokenizer not fitted to this data, as a
           real student of another family is. 16% of the teacher's training tokens are re-split, windows are
           ~22% longer and more of them.

Runs, the config's baseline student (3 layers, stride, 1 epoch, alpha_ce 0.5, T 1) from the same weights:
    same   exact logits: the student reads the K-piece windows and the teacher the very same windows. "data":
           `--set vocab_size=9000` (the normal path); "bert": `--set teacher=<folder>` (the folder is the teacher
           reading `kept[ids]`, which is what vocab_size does inside).
    cross  `--set student_init=<folder>`: the shared teacher reads its own windows, mapped (`map_teacher_logits`).
start_* (eval_at_start) of a pair match: the difference after training is what the mapping does to the targets.
`targets` in the results compares the two runs' soft targets directly on the student's training windows.

    python benchmarks/cross_tokenizer.py [VOCAB:SEED ...]   # default data:0 bert:0; ~5 min per run on one core
                                                            # -> benchmarks/results/cross_tokenizer.json

Runs and the two init folders go to /work/runs/xtok (or $XTOK_RUNS); a run whose metrics.json exists is not rerun.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from _bench_io import machine, update_json  # noqa: E402

CONFIG = REPO / "configs/cpu-squad2.toml"
RUNS = Path(os.environ.get("XTOK_RUNS", "/work/runs/xtok"))
RESULTS = REPO / "benchmarks/results/cross_tokenizer.json"
K = 9000
KEYS = ("HasAns_forced_f1", "calibrated_f1", "f1", "exact", "test_HasAns_forced_f1", "num_parameters",
        "train_time_s", "cross_tokenizer")


def build_init(folder: Path, vocab: str) -> None:
    """The shared teacher with a K-piece vocabulary as a stock HF folder (+ kept_ids.json, its ids in the teacher's):
    vocab "data" = the pieces `vocab_size = K` keeps (the training + transfer windows' counts), "bert" = the
    first K of BERT's own order (specials and single characters, then by id: roughly BERT's pretraining corpus
    frequency; `choose_vocabulary` with zero counts)."""
    import numpy as np
    import torch

    from distilbo.config import load_config
    from distilbo.distill.trial import trimmed_tokenizer
    from distilbo.evaluate import load_qa_model, load_tokenizer
    from distilbo.models._vocab import trim_embeddings

    torch.set_num_threads(1)
    cfg = load_config(CONFIG, {"vocab_size": str(K)})
    teacher = cfg.path(cfg.models.teacher)
    tok = load_tokenizer(teacher)
    counts = None if vocab == "data" else np.zeros(len(tok.get_vocab()))
    tok, kept = trimmed_tokenizer(cfg, tok, counts=counts)
    model = load_qa_model(teacher)
    trim_embeddings(model, kept)
    tmp = folder.with_name(folder.name + ".tmp")
    model.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    (tmp / "kept_ids.json").write_text(json.dumps([int(i) for i in kept]))
    tmp.rename(folder)


def overrides(vocab: str, kind: str, init: Path) -> dict[str, str]:
    """The `--set`s of a run. same: the student reads the K-piece windows and the teacher the very same windows
    (exact logits): `vocab_size = K` for "data" (the normal path), the trimmed folder as both teacher and student
    init for "bert" (the same thing: the folder is the teacher reading `kept[ids]`). cross: the folder as student
    init, the shared teacher reading its own windows, mapped."""
    if kind == "cross":
        return {"student_init": str(init)}
    return {"vocab_size": str(K)} if vocab == "data" else {"teacher": str(init)}


def run(name: str, seed: int, overrides: dict[str, str]) -> dict:
    out = RUNS / name
    if not (out / "metrics.json").is_file():
        sets = [a for k, v in {"seed": str(seed), "num_threads": "1", **overrides}.items() for a in ("--set", f"{k}={v}")]
        t0 = time.time()
        subprocess.run(["nice", "-n", "5", "distilbo", "distill", "--config", str(CONFIG), "--quiet", *sets,
                        "--out", str(out)], check=True, cwd=REPO, env={**os.environ, "OMP_NUM_THREADS": "1"})
        print(f"{name}: {time.time() - t0:.0f} s", flush=True)
    m = json.loads((out / "metrics.json").read_text())
    row = {k: m[k] for k in KEYS if k in m}
    row.update({k: m[k] for k in m if k.startswith("start_") and k[6:] in ("HasAns_forced_f1", "calibrated_f1", "f1")})
    return row


def targets(vocab: str, init: Path) -> dict:
    """How the two tokenizations differ, and how close the mapped soft targets are to the exact ones, on the
    student's own training + transfer windows (T = 1, the config's): the exact targets are the teacher reading
    those windows (the same run's), the mapped ones the teacher reading its own windows, carried over by
    `map_teacher_logits` (the cross run's). Per window and for start and end: KL(exact || mapped), whether the
    two argmaxes agree, and the [CLS] mass of each; on the labeled training windows also how often each argmax is
    the gold token. Logits come from the cache the runs filled."""
    import dataclasses

    import numpy as np
    import torch

    from distilbo._cache import cache_dir
    from distilbo.config import load_config
    from distilbo.distill.cross_tokenizer import map_teacher_logits
    from distilbo.distill.teacher_cache import model_fingerprint, teacher_logits
    from distilbo.distill.trial import load_train, load_transfer
    from distilbo.evaluate import load_qa_model, load_tokenizer

    torch.set_num_threads(1)
    cfg = load_config(CONFIG)
    teacher = cfg.path(cfg.models.teacher)
    t_tok, s_tok = load_tokenizer(teacher), load_tokenizer(str(init))
    kept = np.array(json.loads((init / "kept_ids.json").read_text()))
    T = cfg.train.temperature

    def logits(path, feats):
        return teacher_logits(lambda: load_qa_model(path), feats, teacher_key=model_fingerprint(path),
                              cache_dir=cache_dir(cfg), device=torch.device("cpu"), batch_size=32)

    def exact(feats):  # the same run's teacher on the student's windows
        if vocab == "data":
            return logits(teacher, dataclasses.replace(feats, input_ids=kept[feats.input_ids].astype(np.int32)))
        return logits(str(init), feats)

    def softmax(x, lengths):
        x = np.where(np.arange(x.shape[1])[None] < lengths[:, None], x.astype(np.float64) / T, -np.inf)
        x = np.exp(x - x.max(1, keepdims=True))
        return x / x.sum(1, keepdims=True)

    out = {}
    for name, s_f, t_f in (("train", load_train(cfg, s_tok)[1], load_train(cfg, t_tok)[1]),
                           ("transfer", load_transfer(cfg, s_tok), load_transfer(cfg, t_tok))):
        V = len(t_tok.get_vocab())
        counts = t_f.token_counts(V)
        same_windows = sum(int(s_f.lengths[w]) == int(t_f.lengths[w]) and
                           bool((kept[s_f.input_ids[w, :s_f.lengths[w]]] == t_f.input_ids[w, :t_f.lengths[w]]).all())
                           for w in range(min(len(s_f), len(t_f))))
        p_raw, mapped = exact(s_f), map_teacher_logits(*logits(teacher, t_f), t_f, s_f, temperature=T)
        lengths = np.asarray(s_f.lengths)
        row = {"student_windows": len(s_f), "teacher_windows": len(t_f),
               "student_tokens_per_window": round(float(s_f.lengths.mean()), 1),
               "teacher_tokens_per_window": round(float(t_f.lengths.mean()), 1),
               "identical_windows": round(same_windows / max(len(s_f), len(t_f)), 4),
               "teacher_tokens_not_kept": round(float(counts[np.setdiff1d(np.arange(V), kept)].sum() / counts.sum()), 4)}
        for side, pr, qr in (("start", p_raw[0], mapped[0]), ("end", p_raw[1], mapped[1])):
            p, q = softmax(np.asarray(pr), lengths), softmax(np.asarray(qr), lengths)
            gold = getattr(s_f, f"{side}_positions") if name == "train" else None
            kl = np.where(p > 0, p * (np.log(np.maximum(p, 1e-300)) - np.log(np.maximum(q, 1e-300))), 0).sum(1)
            row[side] = {"kl_mean": round(float(kl.mean()), 4), "kl_median": round(float(np.median(kl)), 4),
                         "argmax_agree": round(float((p.argmax(1) == q.argmax(1)).mean()), 4),
                         "cls_mass_exact": round(float(p[:, 0].mean()), 4),
                         "cls_mass_mapped": round(float(q[:, 0].mean()), 4)}
            if gold is not None:  # labeled windows: how often each target's argmax is the gold token ([CLS] = 0)
                row[side]["gold_argmax_exact"] = round(float((p.argmax(1) == gold).mean()), 4)
                row[side]["gold_argmax_mapped"] = round(float((q.argmax(1) == gold).mean()), 4)
        out[name] = row
    return out


def main(jobs: list[tuple[str, int]]) -> None:
    from distilbo.measure import cpu_info

    RUNS.mkdir(parents=True, exist_ok=True)
    info = {**machine(packages=("torch", "transformers"), watch=("../distilbo", "cross_tokenizer.py")),
            "cpu": cpu_info()["name"], "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "config": "configs/cpu-squad2.toml", "student_vocab": K}
    for vocab, seed in jobs:
        init = RUNS / f"init-v{K}-{vocab}"
        if not init.is_dir():
            build_init(init, vocab)
        for kind in ("same", "cross"):
            name = f"{kind}-seed{seed}" if vocab == "data" else f"{vocab}-{kind}-seed{seed}"
            row = run(name, seed, overrides(vocab, kind, init))
            row["load_avg_after"] = [round(x, 2) for x in os.getloadavg()]

            def change(data: dict, key=(vocab, kind, str(seed)), row=row) -> None:
                data.setdefault("machine", {}).update(info)
                data["runs"].setdefault(key[0], {}).setdefault(key[1], {})[key[2]] = row

            update_json(RESULTS, change)
            print(vocab, kind, seed, json.dumps(row), flush=True)
        if vocab not in json.loads(RESULTS.read_text()).get("targets", {}):
            found = targets(vocab, init)
            update_json(RESULTS, lambda data, v=vocab, f=found: data.setdefault("targets", {}).update({v: f}))
            print("targets", vocab, json.dumps(found), flush=True)


if __name__ == "__main__":
    args = sys.argv[1:] or ["data:0", "bert:0"]
    main([(a.split(":")[0], int(a.split(":")[1])) for a in args])
