"""The distillation training loop: one function, read top to bottom.

    result = distill(student, train_feats, teacher_start=ts, teacher_end=te, cfg=cfg, device=dev,
                     dev_eval=lambda model: evaluate_model(model, dev_examples, dev_feats).metrics)

It is also the fine-tuning loop of `distilbo teacher` (no teacher logits, alpha_ce = 0 -> plain hard-label CE).
When the teacher logits cannot be cached (student and teacher tokenize differently), pass `teacher_model` and the
teacher runs in the loop on the same batch instead; it also runs in the loop, beside the cached logits, for the
hidden-state term (`alpha_cos` > 0: hidden states are not cached). `labeled` (N,) bool marks the rows whose labels
count: the rows of a transfer set (False) are shuffled into the same batches and get the soft loss only. The student's
forward and backward run under `cfg.train.precision` (bf16 autocast on CPUs with bf16 hardware by default);
`length_buckets`, `torch_compile` and `fused_optimizer` are speed switches that leave the loss the same up to
rounding (measured in benchmarks/throughput.py).
With `[search] rungs` (fractions of the training) and `at_rung(k, student) -> bool`, the loop asks at each rung
whether to go on and raises `StoppedAtRung(k)` when told to stop (`distilbo.distill.rung_report`); the time
`at_rung` takes (its dev scoring) is not training time. Between steps the loop pauses while a latency measurement
on the same machine asks for quiet (`distilbo._quiet`); the pause is not training time either.

Shape glossary:  N features;  L max_seq_length;  B batch rows;  S longest row of a batch
"""

from __future__ import annotations

import math
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch

from distilbo import progress as live
from distilbo._cache import cache_dir
from distilbo._quiet import pause_if_asked, trainer
from distilbo.config import Config
from distilbo.data.batches import batch_order, bucket_width, model_inputs, to_batch
from distilbo.data.types import Features
from distilbo.distill.losses import distillation_loss
from distilbo.distill.rung_report import StoppedAtRung
from distilbo.evaluate import uses_token_types
from distilbo.measure import autocast, train_precision


CURVE_METRICS = ("exact", "f1", "HasAns_exact", "NoAns_exact", "HasAns_forced_exact", "HasAns_forced_f1")
"""Dev metrics recorded in the curves."""


@dataclass
class TrainResult:
    steps: int
    train_seconds: float
    train_features_per_second: float
    curves: list[dict] = field(default_factory=list)
    """Rows {"step", "epoch", "loss", "soft", "hard", "lr"} (+ "hidden" with alpha_cos > 0, "null" with alpha_null > 0) every logging_steps
    and {"epoch", "exact", "f1", ...}."""


def param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    """AdamW groups: no weight decay on biases and LayerNorm weights (BERT convention)."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (no_decay if p.ndim < 2 or "LayerNorm" in name or "layer_norm" in name else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def distill(student: Any, train: Features, *, cfg: Config, device: torch.device,
            teacher_start: np.ndarray | None = None, teacher_end: np.ndarray | None = None,
            teacher_model: Any = None, labeled: np.ndarray | None = None,
            dev_eval: Callable[[Any], dict] | None = None, at_rung: Callable[[int, Any], bool] | None = None,
            log: Callable[[dict], None] | None = None, progress: bool = True) -> TrainResult:
    t = cfg.train
    precision = train_precision(t.precision, device)
    alpha_ce, alpha_squad, temperature, alpha_cos = t.alpha_ce, cfg.alpha_squad, t.temperature, t.alpha_cos
    alpha_null, max_answer_length = t.alpha_null, cfg.data.max_answer_length
    if alpha_cos > 0 and teacher_model is None:
        raise ValueError("alpha_cos > 0 needs the teacher in the loop (teacher_model): hidden states are not cached")
    rng = np.random.default_rng(cfg.run.seed)
    torch.manual_seed(cfg.run.seed)
    student.to(device).train()
    if teacher_model is not None:
        teacher_model.to(device).eval()
    hidden = {"output_hidden_states": True} if alpha_cos > 0 else {}  # forward kwargs of student and teacher
    student_types = uses_token_types(student)
    teacher_types = teacher_model is not None and uses_token_types(teacher_model)

    # schedule: linear warmup then linear decay to 0 over all optimizer steps (fractional epochs allowed)
    n_batches = math.ceil(len(train) / t.batch_size)
    total_micro = max(1, int(round(n_batches * t.num_train_epochs)))
    total_steps = max(1, math.ceil(total_micro / t.gradient_accumulation_steps))
    warmup = int(t.warmup_ratio * total_steps) if t.warmup_ratio > 0 else min(t.warmup_steps, total_steps)
    groups = param_groups(student, t.weight_decay)
    master = MasterWeights(student, groups) if t.bf16_weights else None  # the optimizer steps its fp32 copies
    optimizer = torch.optim.AdamW(master.groups if master else groups, lr=t.learning_rate,
                                  betas=(t.beta_1, t.beta_2), eps=t.adam_epsilon, fused=t.fused_optimizer or None)
    forward = torch.compile(student, dynamic=False) if t.torch_compile else student  # same parameters
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: (s + 1) / (warmup + 1) if s < warmup
                                                 else max(0.0, (total_steps - s) / max(1, total_steps - warmup)))
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=total_micro, desc="train", unit="batch", leave=False, dynamic_ncols=True)

    curves: list[dict] = []

    def score_dev() -> None:
        """Dev scores into the curves; the evaluation's time is not training time."""
        nonlocal t0
        eval_start = time.perf_counter()
        live.phase("evaluating")
        with master.fp32() if master else _nothing():
            metrics = dev_eval(student)
        live.phase("training" if micro < total_micro else "evaluating", eval_s=time.perf_counter() - eval_start)
        student.train()
        row = {"epoch": round(micro / n_batches, 4), "step": step,
               **{k: metrics[k] for k in CURVE_METRICS if k in metrics}}
        curves.append(row)
        if log:
            log(row)
        t0 += time.perf_counter() - eval_start

    # rungs: the micro-batch after which each rung's question is asked
    rung_at = [max(1, int(round(f * total_micro))) for f in cfg.search.rungs] if at_rung is not None else []
    next_rung = 0

    step = micro = seen = 0
    quiet_root = cache_dir(cfg)
    run_loss = run_soft = run_hard = run_hidden = run_null = 0.0
    run_n = 0
    t0 = time.perf_counter()
    if dev_eval is not None and t.eval_at_start:
        score_dev()  # the seeded student, before any step: row with step 0
    live.phase("training", epoch=0.0, epochs=t.num_train_epochs, step=0, total_steps=total_steps, loss=None, eta_s=None)
    with trainer(quiet_root):  # a latency measurement on this machine may ask the loop to pause (_quiet)
        epoch = 0
        while micro < total_micro:
            epoch += 1
            for idx in batch_order(train.lengths, batch_size=t.batch_size, shuffle=True,
                                   group_by_length=t.group_by_length, rng=rng):
                if micro >= total_micro:
                    break
                t0 += pause_if_asked(quiet_root)  # between steps; a pause is not training time
                width = bucket_width(int(train.lengths[idx].max()), t.length_buckets, stored=train.input_ids.shape[1])
                batch = to_batch(train, idx, device=device, token_types=student_types or teacher_types, pad_to=width)
                s_width = batch["input_ids"].shape[1]
                ts = te = th = sh = None
                if teacher_start is not None:
                    ts = torch.from_numpy(np.asarray(teacher_start[idx, :s_width], dtype=np.float32)).to(device)
                    te = torch.from_numpy(np.asarray(teacher_end[idx, :s_width], dtype=np.float32)).to(device)
                if teacher_model is not None and (alpha_cos > 0 or (ts is None and alpha_ce > 0)):
                    with torch.inference_mode(), autocast(device):  # as the cached logits: fp32 on the CPU
                        out_t = teacher_model(**_inputs(batch, token_types=teacher_types), **hidden)
                    if ts is None:
                        ts, te = out_t.start_logits.float().clone(), out_t.end_logits.float().clone()
                    if alpha_cos > 0:
                        th = out_t.hidden_states[-1].float().clone()  # (B, S, H)
                with autocast(device, precision):
                    out = forward(**_inputs(batch, token_types=student_types), **hidden)
                if alpha_cos > 0:
                    sh = out.hidden_states[-1]  # (B, S, H)
                losses = distillation_loss(out.start_logits, out.end_logits, teacher_start=ts, teacher_end=te,
                                           start_positions=batch["start_positions"],
                                           end_positions=batch["end_positions"],
                                           attention_mask=batch["attention_mask"], alpha_ce=alpha_ce,
                                           alpha_squad=alpha_squad, temperature=temperature,
                                           labeled=None if labeled is None
                                           else torch.from_numpy(labeled[idx]).to(device),
                                           alpha_cos=alpha_cos, student_hidden=sh, teacher_hidden=th,
                                           alpha_null=alpha_null, context=batch["context"],
                                           max_answer_length=max_answer_length)
                (losses["loss"] / t.gradient_accumulation_steps).backward()
                micro += 1
                seen += len(idx)
                run_loss += float(losses["loss"].detach())
                run_soft += float(losses["soft"])
                run_hard += float(losses["hard"])
                run_hidden += float(losses["hidden"])
                run_null += float(losses["null"])
                run_n += 1
                if micro % t.gradient_accumulation_steps == 0 or micro == total_micro:
                    if master:
                        master.take_grads()
                    if t.max_grad_norm > 0:
                        torch.nn.utils.clip_grad_norm_(master.params if master else student.parameters(),
                                                       t.max_grad_norm)
                    optimizer.step()
                    schedule.step()
                    optimizer.zero_grad(set_to_none=True)
                    if master:
                        master.put_weights()
                    step += 1
                    if step % t.logging_steps == 0 or micro == total_micro:
                        row = {"step": step, "epoch": round(micro / n_batches, 4), "loss": run_loss / run_n,
                               "soft": run_soft / run_n, "hard": run_hard / run_n, "lr": schedule.get_last_lr()[0]}
                        if alpha_cos > 0:
                            row["hidden"] = run_hidden / run_n
                        if alpha_null > 0:
                            row["null"] = run_null / run_n
                        if not math.isfinite(row["loss"]):
                            raise FloatingPointError(f"training loss is {row['loss']} at step {step} "
                                                     "(learning rate too high?)")
                        curves.append(row)
                        if log:
                            log(row)
                        run_loss = run_soft = run_hard = run_hidden = run_null = 0.0
                        run_n = 0
                    if dev_eval is not None and t.eval_steps and step % t.eval_steps == 0 and micro < total_micro:
                        score_dev()
                while next_rung < len(rung_at) and micro >= rung_at[next_rung] and micro < total_micro:
                    asked = time.perf_counter()
                    live.phase("rung decision", rung=next_rung)
                    with master.fp32() if master else _nothing():
                        go_on = at_rung(next_rung, student)
                    student.train()
                    t0 += time.perf_counter() - asked
                    if not go_on:
                        if bar is not None:
                            bar.close()
                        raise StoppedAtRung(next_rung)
                    live.phase("training")
                    next_rung += 1
                _live_update(micro=micro, total_micro=total_micro, n_batches=n_batches, step=step,
                             loss=float(losses["loss"].detach()), train_s=time.perf_counter() - t0)
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(epoch=f"{micro / n_batches:.2f}/{t.num_train_epochs:g}",
                                    loss=f"{float(losses['loss'].detach()):.3f}")
            last = micro >= total_micro
            if dev_eval is not None and (last or t.eval_each_epoch):
                score_dev()
        if bar is not None:
            bar.close()
    seconds = time.perf_counter() - t0
    if master:
        master.restore()
    student.eval()
    return TrainResult(steps=step, train_seconds=seconds, train_features_per_second=seen / seconds if seconds else 0.0,
                       curves=curves)


class MasterWeights:
    """bf16 weights in the student, fp32 master copies in the optimizer: the student runs its forward and backward
    wholly in bf16 (no per-op casts), the gradients are copied to the masters, AdamW steps the masters, and the
    student gets them back rounded to bf16. Dev scoring and the returned student see the fp32 masters."""

    def __init__(self, student: torch.nn.Module, groups: list[dict]) -> None:
        self.student = student
        self.pairs = [(p, p.detach().clone().float()) for g in groups for p in g["params"]]
        copy = {id(p): m for p, m in self.pairs}
        self.groups = [{**g, "params": [copy[id(p)] for p in g["params"]]} for g in groups]
        self.params = [m for _, m in self.pairs]
        student.to(torch.bfloat16)

    def take_grads(self) -> None:
        for p, m in self.pairs:
            m.grad = None if p.grad is None else p.grad.float()
            p.grad = None

    def put_weights(self) -> None:
        with torch.no_grad():
            for p, m in self.pairs:
                p.copy_(m)

    def restore(self) -> None:
        """The student in fp32 with the masters' exact values."""
        self.student.float()
        self.put_weights()

    @contextmanager
    def fp32(self):
        self.restore()
        try:
            yield
        finally:
            self.student.to(torch.bfloat16)
            self.put_weights()


@contextmanager
def _nothing():
    yield


def _inputs(batch: dict[str, torch.Tensor], *, token_types: bool) -> dict[str, torch.Tensor]:
    """The model's keyword inputs from a batch; without token_type_ids for models that take none (DistilBERT)."""
    inputs = model_inputs(batch)
    return inputs if token_types else {k: v for k, v in inputs.items() if k != "token_type_ids"}


# ---------------------------------------------------------------------------------------------- progress hook
def _live_update(*, micro: int, total_micro: int, n_batches: int, step: int, loss: float, train_s: float) -> None:
    """The trial's progress file (`distilbo.progress`, throttled; a no-op unless the process configured one):
    epoch, optimizer step, smoothed loss and the training time left at the current pace."""
    live.update(epoch=round(micro / n_batches, 4), step=step, loss=loss,
                eta_s=train_s / micro * (total_micro - micro) if micro else None)
