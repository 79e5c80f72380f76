"""Trial speed: distilbo's training path against a standard distillation loop, side by side in one run.

    python benchmarks/throughput.py                       # 3-layer baseline student, 400 training windows
    python benchmarks/throughput.py --features 200 --n-layers 3 --repeats 2

(a) standard: the teacher runs on every batch, every batch padded to max_seq_length, plain AdamW loop, fp32
    (what run_squad_w_distillation.py does).
(b) distilbo-fp32: teacher logits read from the on-disk cache (built once per study, timed separately), batches
    dynamically padded to their longest row and grouped by length, the loop in distilbo/distill/train.py, fp32
    (the path before bf16 training).
(c) distilbo: the same loop under the default training precision (`precision = "auto"`: bf16 autocast on CPUs
    with AMX-BF16 / AVX512-BF16, fp32 elsewhere).
(d) each `--variant NAME:key=value;key=value` (e.g. `fused:fused_optimizer=true`,
    `compiled:torch_compile=true;length_buckets=[64,128,192,256]`): the loop in (c) with those `--set` overrides.
    A compiled variant's times include its compilation (a trial compiles once, in its own process).
Same student spec and seeding, same features, same batch size and loss. Also measures this machine's peak fp32
and bf16 matmul FLOP/s in the same run and the fraction of each that every path achieves (FLOPs counted with
torch's FlopCounterMode on the same batches, outside the timed runs). Prints one JSON object; record it in
benchmarks/README.md. Beside wall-clock times it records each path's process CPU time (`time.process_time`),
the steadier figure on a shared machine at `--threads 1` (a trial's own setting in the CPU study).
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


def peak_matmul_flops(n: int = 2048, seconds: float = 3.0, dtype: torch.dtype = torch.float32) -> float:
    """Best FLOP/s of an n x n matmul in `dtype` on this machine with all threads (2 n^3 FLOPs per product)."""
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    for _ in range(3):
        a @ b
    best, end = 0.0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        t = time.perf_counter()
        for _ in range(5):
            a @ b
        best = max(best, 5 * 2 * n**3 / (time.perf_counter() - t))
    return best


def standard_loop(student, teacher, feats, *, batch_size, lr, alpha_ce, temperature, max_seq_length, seed, epochs=1.0):
    """The standard distillation loop: fixed-length padding, the teacher on every batch."""
    from distilbo.data.batches import to_batch
    from distilbo.distill.losses import distillation_loss

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    student.train()
    opt = torch.optim.AdamW(student.parameters(), lr=lr)
    batches = []
    while len(batches) * batch_size < epochs * len(feats):
        order = rng.permutation(len(feats))
        batches += [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    batches = batches[:max(1, int(round(epochs * -(-len(feats) // batch_size))))]
    t0 = time.perf_counter()
    for idx in batches:
        batch = to_batch(feats, idx, device=torch.device("cpu"), token_types=True, pad_to=max_seq_length)
        with torch.no_grad():
            t_out = teacher(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                            token_type_ids=batch["token_type_ids"])
        out = student(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
        loss = distillation_loss(out.start_logits, out.end_logits, teacher_start=t_out.start_logits,
                                 teacher_end=t_out.end_logits, start_positions=batch["start_positions"],
                                 end_positions=batch["end_positions"], attention_mask=batch["attention_mask"],
                                 alpha_ce=alpha_ce, alpha_squad=1 - alpha_ce, temperature=temperature)["loss"]
        loss.backward()
        torch.nn.utils.clip_grad_norm_(student.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
    return time.perf_counter() - t0


def count_flops(student, teacher, feats, *, batch_size, fixed_length: int | None, with_teacher: bool, seed) -> float:
    """FLOPs of one pass over `feats` (student forward+backward, plus teacher forward when it runs)."""
    from torch.utils.flop_counter import FlopCounterMode

    from distilbo.data.batches import batch_order, to_batch

    rng = np.random.default_rng(seed)
    if fixed_length:
        order = [rng.permutation(len(feats))[i:i + batch_size] for i in range(0, len(feats), batch_size)]
    else:
        order = batch_order(feats.lengths, batch_size=batch_size, shuffle=True, group_by_length=True, rng=rng)
    counter = FlopCounterMode(display=False)
    with counter:
        for idx in order:
            b = to_batch(feats, idx, device=torch.device("cpu"), token_types=True, pad_to=fixed_length)
            if with_teacher:
                with torch.no_grad():
                    teacher(input_ids=b["input_ids"], attention_mask=b["attention_mask"], token_type_ids=b["token_type_ids"])
            out = student(input_ids=b["input_ids"], attention_mask=b["attention_mask"])
            (out.start_logits.sum() + out.end_logits.sum()).backward()
    student.zero_grad(set_to_none=True)
    return float(counter.get_total_flops())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default=str(REPO / "configs/cpu-squad2.toml"))
    ap.add_argument("--features", type=int, default=400, help="training windows per timed run")
    ap.add_argument("--n-layers", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=2, help="timed runs of each path (alternating); the best is kept")
    ap.add_argument("--variant", action="append", default=[], metavar="NAME:key=value;...",
                    help="another distilbo path with these overrides (repeatable)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0 = all cores; a study's trial uses 1)")
    ap.add_argument("--epochs", type=float, default=1.0, help="passes over the features per timed run")
    args = ap.parse_args()

    from distilbo.config import load_config, parse_set
    from distilbo.distill.teacher_cache import model_fingerprint, teacher_logits
    from distilbo.distill.train import distill
    from distilbo.distill.trial import load_data, student_spec
    from distilbo.evaluate import load_qa_model, load_tokenizer
    from distilbo.measure import set_threads
    from distilbo.models.student import build_student

    threads = set_threads(args.threads)
    cfg = load_config(args.config, {"n_layers": args.n_layers, "batch_size": args.batch_size, "num_train_epochs": args.epochs,
                                    "max_eval_samples": 8, "logging_steps": 10_000})
    teacher_path = cfg.path(cfg.models.teacher)
    tok = load_tokenizer(cfg.student_init_path)
    _, train_f, _, _ = load_data(cfg, tok)
    feats = train_f.subset(np.arange(min(args.features, len(train_f))))
    teacher = load_qa_model(teacher_path)
    t = time.perf_counter()
    ts, te = teacher_logits(teacher, feats, teacher_key=model_fingerprint(teacher_path), cache_dir=None,
                            device=torch.device("cpu"))
    cache_build_s = time.perf_counter() - t
    spec, _ = student_spec(cfg)
    init = cfg.student_init_path
    L = cfg.data.max_seq_length

    from distilbo.measure import train_precision

    peak = peak_matmul_flops()
    peak_bf16 = peak_matmul_flops(dtype=torch.bfloat16)
    default_precision = train_precision(cfg.train.precision, torch.device("cpu"))
    paths = {"distilbo": {"precision": cfg.train.precision}, "distilbo-fp32": {"precision": "fp32"}}
    for v in args.variant:
        name, _, sets = v.partition(":")
        paths[name] = {"precision": cfg.train.precision, **parse_set([x for x in sets.split(";") if x])}
    times = {name: [] for name in [*paths, "standard"]}
    losses = {name: [] for name in paths}
    cpu_times = {name: [] for name in times}
    for _ in range(args.repeats):
        for name, sets in paths.items():
            s = build_student(spec, init, init_seed=0)
            c = time.process_time()
            r = distill(s, feats, cfg=cfg.with_overrides(sets), device=torch.device("cpu"),
                        teacher_start=ts, teacher_end=te, progress=False)
            cpu_times[name].append(time.process_time() - c)
            times[name].append(r.train_seconds)
            print(f"{name}: {r.train_seconds:.1f} s wall, {cpu_times[name][-1]:.1f} s CPU, load {os.getloadavg()[0]:.1f}",
                  file=sys.stderr, flush=True)
            losses[name].append(next(row["loss"] for row in reversed(r.curves) if "loss" in row))
        s = build_student(spec, init, init_seed=0)
        c = time.process_time()
        times["standard"].append(standard_loop(s, teacher, feats, batch_size=args.batch_size, lr=cfg.train.learning_rate,
                                               alpha_ce=cfg.train.alpha_ce, temperature=cfg.train.temperature,
                                               max_seq_length=L, seed=0, epochs=args.epochs))
        cpu_times["standard"].append(time.process_time() - c)
        print(f"standard: {times['standard'][-1]:.1f} s wall, {cpu_times['standard'][-1]:.1f} s CPU", file=sys.stderr,
              flush=True)
    s = build_student(spec, init, init_seed=0)
    flops_a = count_flops(s, teacher, feats, batch_size=args.batch_size, fixed_length=None, with_teacher=False, seed=0)
    flops_b = count_flops(s, teacher, feats, batch_size=args.batch_size, fixed_length=L, with_teacher=True, seed=0)
    best_a, best_b, best_c = min(times["distilbo"]), min(times["standard"]), min(times["distilbo-fp32"])
    n = len(feats)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    from distilbo.measure import cpu_info

    cpu = cpu_info()
    flags, model = cpu["flags"], cpu["name"]
    result = {
        "date": time.strftime("%Y-%m-%d"), "commit": commit, "machine": f"{platform.machine()} {model}".strip(),
        "cpu_flags": sorted(f for f in flags if f.startswith(("amx", "avx512_bf16", "avx512f", "avx2"))),
        "threads": threads, "torch": torch.__version__, "student": f"{spec.n_layers}x{spec.dim} ({spec.heads} heads, ffn {spec.hidden_dim})",
        "features": n, "batch_size": args.batch_size, "max_seq_length": L,
        "mean_tokens_per_feature": float(np.mean(feats.lengths)),
        "default_precision": default_precision,
        "distilbo_features_per_s": n / best_a, "distilbo_fp32_features_per_s": n / best_c,
        "standard_features_per_s": n / best_b, "speedup": best_b / best_a, "speedup_fp32_path": best_b / best_c,
        "teacher_cache_build_s": cache_build_s,
        "speedup_incl_cache_build_once": (best_b) / (best_a + cache_build_s),
        "peak_fp32_matmul_gflops": peak / 1e9, "peak_bf16_matmul_gflops": peak_bf16 / 1e9,
        "distilbo_gflops": flops_a / best_a / 1e9, "distilbo_fp32_gflops": flops_a / best_c / 1e9,
        "standard_gflops": flops_b / best_b / 1e9,
        "distilbo_fraction_of_peak_fp32": flops_a / best_a / peak, "distilbo_fraction_of_peak_bf16": flops_a / best_a / peak_bf16,
        "distilbo_fp32_fraction_of_peak_fp32": flops_a / best_c / peak,
        "standard_fraction_of_peak_fp32": flops_b / best_b / peak,
        "epochs": args.epochs, "variants": paths,
        "speedup_by_path": {name: min(times["standard"]) / min(ts_) for name, ts_ in times.items()},
        "speedup_by_path_cpu_time": {name: min(cpu_times["standard"]) / min(c_) for name, c_ in cpu_times.items()},
        "last_logged_train_loss": losses, "cpu_times_s": cpu_times,
        "times_s": times, "load_average_1_5_15": list(os.getloadavg()),
    }
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    sys.exit(main())
