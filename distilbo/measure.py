"""Measuring a model's cost: inference latency, peak memory, plus the device/thread/precision helpers and
out-of-memory classification that training and the trial runner share. (Parameter counts live in
`distilbo.models.student`: `count_parameters` in closed form, `model_num_parameters` for a real model.)

    device = select_device("auto")                       # cuda if available, else cpu
    set_threads(0)                                       # all cores
    with peak_memory(device) as mem:
        stats = latency_ms(model, features, batch_size=1, repeats=20, warmup=3, device=device)
    stats["latency_ms"], mem.peak_mb

Latency is milliseconds per question (per feature row): the median over `repeats` timed forward passes of the
same batch, after `warmup` untimed passes, under `torch.inference_mode()`, synchronising CUDA around each pass.
The batch is the first `batch_size` rows of the features, cut to the longest real row, so every trial of a
study times the same tokens. The model runs in its own dtype; wrap the call in `autocast(device,
precision)` to time mixed precision.

Latency before training (a random-weight model of the trial's shape, per runtime) is `distilbo.serve.shape_latency_ms`.

Peak memory: on CUDA, `torch.cuda.max_memory_allocated` (tensors only); on CPU, the process's resident set
size (RSS) high-water mark, which includes the Python interpreter and libraries.

Shape glossary:
    B  batch_size (questions timed together)     S  seq_length (tokens in the timed batch)
"""

from __future__ import annotations

import contextlib
import inspect
import os
import resource
import statistics
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import torch

from distilbo.errors import UserError

MB = float(1 << 20)


# ---------------------------------------------------------------------------------------------- device and threads
def select_device(name: str) -> torch.device:
    """`auto` -> cuda if available else cpu; `cpu`; `cuda` / `cuda:N` (UserError when CUDA is absent)."""
    name = (name or "auto").strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except (RuntimeError, ValueError):
        raise UserError(f"device = {name!r}: use auto, cpu, cuda or cuda:N") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise UserError(f"device = {name!r}: CUDA is not available on this machine; use device = 'auto' or 'cpu'")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise UserError(f"device = {name!r}: only {torch.cuda.device_count()} CUDA device(s); use cuda:0..")
    elif dev.type != "cpu":
        raise UserError(f"device = {name!r}: use auto, cpu, cuda or cuda:N")
    return dev


def set_threads(n: int) -> int:
    """Set torch's CPU threads; 0 = every core this process may run on. Returns the number set."""
    if n <= 0:
        try:
            n = len(os.sched_getaffinity(0))
        except AttributeError:  # not Linux
            n = os.cpu_count() or 1
    torch.set_num_threads(n)
    return n


def cpu_info() -> dict[str, Any]:
    """This CPU's model name and feature flags, from /proc/cpuinfo (empty where there is none)."""
    info: dict[str, Any] = {"name": "", "flags": set()}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name") and not info["name"]:
                    info["name"] = line.split(":", 1)[1].strip()
                elif line.startswith("flags") and not info["flags"]:
                    info["flags"] = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return info


# ---------------------------------------------------------------------------------------------- precision
def cpu_has_bf16() -> bool:
    """True when this CPU multiplies bf16 in hardware (AMX-BF16 or AVX512-BF16 in /proc/cpuinfo's flags)."""
    return bool(cpu_info()["flags"] & {"amx_bf16", "avx512_bf16"})


def autocast(device: torch.device, precision: str = "auto"):
    """Mixed precision for `precision` (`auto`, `bf16`, `fp32`): on CUDA, `auto` is bf16 (fp16 without bf16); on
    the CPU, `auto` is fp32, so scores and cached teacher logits are the fp32 model's. Training resolves its own
    `auto` with `train_precision` (bf16 on CPUs with bf16 hardware)."""
    if device.type == "cuda" and precision != "fp32":
        dtype = torch.bfloat16 if precision == "bf16" or torch.cuda.is_bf16_supported() else torch.float16
        return torch.autocast("cuda", dtype=dtype)
    if device.type == "cpu" and precision == "bf16":
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return torch.autocast("cpu", enabled=False)


def train_precision(precision: str, device: torch.device) -> str:
    """The training precision `auto` resolves to: bf16 on CPUs with bf16 hardware, the CUDA default on GPUs."""
    if precision != "auto":
        return precision
    if device.type == "cpu":
        return "bf16" if cpu_has_bf16() else "fp32"
    return "auto"


def machine_key(device: torch.device | str = "cpu") -> dict[str, Any]:
    """What a latency depends on besides the model: CPU model (or GPU name), threads, torch version."""
    dev = torch.device(device)
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else cpu_info()["name"]
    return {"device": dev.type, "name": name, "threads": torch.get_num_threads(), "torch": torch.__version__}


# ---------------------------------------------------------------------------------------------- memory
def _rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / MB


def _maxrss_mb() -> float:
    # Linux reports ru_maxrss in KiB, macOS in bytes.
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r / MB if os.uname().sysname == "Darwin" else r / 1024.0


def peak_memory_mb(device: torch.device | str) -> float:
    """Peak memory so far: CUDA max allocated (since the last reset) or the process's peak RSS, in MiB."""
    dev = torch.device(device)
    if dev.type == "cuda":
        return torch.cuda.max_memory_allocated(dev) / MB
    return _maxrss_mb()


class PeakMemory:
    """Result of `peak_memory`: `peak_mb` = peak during the block, `start_mb` = usage on entry,
    `delta_mb` = peak_mb - start_mb (what the block added at its peak). MiB; set when the block exits."""

    def __init__(self) -> None:
        self.peak_mb = 0.0
        self.start_mb = 0.0

    @property
    def delta_mb(self) -> float:
        return max(0.0, self.peak_mb - self.start_mb)


@contextlib.contextmanager
def peak_memory(device: torch.device | str, *, interval: float = 0.005) -> Iterator[PeakMemory]:
    """Track peak memory inside the block. CUDA: reset and read `max_memory_allocated`. CPU: the RSS, sampled
    every `interval` seconds by a thread, combined with the exact `ru_maxrss` high-water mark when the block
    raised it."""
    dev = torch.device(device)
    out = PeakMemory()
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
        out.start_mb = torch.cuda.memory_allocated(dev) / MB
        torch.cuda.reset_peak_memory_stats(dev)
        try:
            yield out
        finally:
            torch.cuda.synchronize(dev)
            out.peak_mb = torch.cuda.max_memory_allocated(dev) / MB
        return
    out.start_mb = _rss_mb()
    maxrss_before = _maxrss_mb()
    peak = [out.start_mb]
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(interval):
            peak[0] = max(peak[0], _rss_mb())

    thread = threading.Thread(target=sample, name="distilbo-peak-memory", daemon=True)
    thread.start()
    try:
        yield out
    finally:
        stop.set()
        thread.join()
        peak[0] = max(peak[0], _rss_mb())
        maxrss_after = _maxrss_mb()
        out.peak_mb = max(peak[0], maxrss_after) if maxrss_after > maxrss_before else peak[0]


# ---------------------------------------------------------------------------------------------- latency
def _batch(inputs: Any, batch_size: int) -> dict[str, torch.Tensor]:
    """First `batch_size` rows (repeated if there are fewer) as int64 tensors, cut to the longest real row."""
    if isinstance(inputs, Mapping):
        ids = torch.as_tensor(np.asarray(inputs["input_ids"]))
        mask = torch.as_tensor(np.asarray(inputs["attention_mask"])) if "attention_mask" in inputs else torch.ones_like(ids)
        types = torch.as_tensor(np.asarray(inputs["token_type_ids"])) if "token_type_ids" in inputs else torch.zeros_like(ids)
    else:  # distilbo.data.types.Features
        ids = torch.as_tensor(np.array(inputs.input_ids))
        lengths = torch.as_tensor(np.array(inputs.lengths)).long()
        mask = (torch.arange(ids.shape[1])[None, :] < lengths[:, None]).long()
        types = torch.as_tensor(np.array(inputs.token_type_ids))
    if ids.dim() != 2 or ids.shape[0] == 0:
        raise ValueError(f"latency inputs: expected (N, L) input_ids with N >= 1, got shape {tuple(ids.shape)}")
    rows = torch.arange(batch_size) % ids.shape[0]
    ids, mask, types = ids[rows].long(), mask[rows].long(), types[rows].long()
    seq = int(mask.sum(1).max().clamp(min=1))
    return {"input_ids": ids[:, :seq], "attention_mask": mask[:, :seq], "token_type_ids": types[:, :seq]}


def takes_token_types(model: Any) -> bool:
    """True when the model's forward takes token_type_ids AND it has more than one token type: a RoBERTa or
    XLM-RoBERTa (type_vocab_size 1) or a DeBERTa-v3 (0) computes the same without them (all type 0), and a
    tokenizer's 0/1 segment ids would index past their table; DistilBERT takes none at all."""
    if "token_type_ids" not in inspect.signature(model.forward).parameters:
        return False
    return int(getattr(getattr(model, "config", None), "type_vocab_size", 2) or 0) >= 2


def latency_ms(model: torch.nn.Module, features_or_inputs: Any, *, batch_size: int = 1, repeats: int = 20,
               warmup: int = 3, device: torch.device | str | None = None, precision: str = "fp32") -> dict[str, Any]:
    """Milliseconds per question: median of `repeats` timed batches of `batch_size` after `warmup` passes, in
    `precision` (`autocast`: `fp32`, or `bf16` autocast as `[search] runtime = "pytorch-bf16"` serves).

    `features_or_inputs` is a `Features` or a mapping with `input_ids` (and optionally `attention_mask`,
    `token_type_ids`), shaped (N, L). Returns {latency_ms, batch_ms_median, batch_ms_min, batch_ms_max,
    batch_size, seq_length, repeats, warmup, device, threads}."""
    if batch_size < 1 or repeats < 1 or warmup < 0:
        raise ValueError("latency: batch_size and repeats must be >= 1, warmup >= 0")
    dev = torch.device(device) if device is not None else next(model.parameters()).device
    batch = _batch(features_or_inputs, batch_size)  # (B, S) each
    if not takes_token_types(model):
        batch.pop("token_type_ids")  # DistilBERT has no token types; RoBERTa / DeBERTa only type 0
    batch = {k: v.to(dev) for k, v in batch.items()}
    cuda = dev.type == "cuda"
    was_training = model.training
    model.eval()
    times: list[float] = []
    try:
        with torch.inference_mode(), autocast(dev, precision):
            for i in range(warmup + repeats):
                if cuda:
                    torch.cuda.synchronize(dev)
                t0 = time.perf_counter()
                model(**batch)
                if cuda:
                    torch.cuda.synchronize(dev)
                if i >= warmup:
                    times.append((time.perf_counter() - t0) * 1000.0)
    finally:
        model.train(was_training)
    med = statistics.median(times)
    return {
        "latency_ms": med / batch_size,
        "batch_ms_median": med,
        "batch_ms_min": min(times),
        "batch_ms_max": max(times),
        "batch_size": batch_size,
        "seq_length": int(batch["input_ids"].shape[1]),
        "repeats": repeats,
        "warmup": warmup,
        "device": str(dev),
        "threads": torch.get_num_threads(),
    }
