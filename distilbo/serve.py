"""The serving runtimes a trial is scored and timed in (`[search] runtime`), so a frontier holds the models that
will be served, not fp32 PyTorch stand-ins.

    served = serve(student, "onnx-int8", folder=trial_dir / "model", example=dev_features)
    start, end = served.logits(dev_features, batch_size=64)            # (N, L) float32, like model_logits
    lat = served.latency(dev_features, batch_size=1, repeats=20)        # the dict measure.latency_ms returns

Runtimes:
    pytorch       eager PyTorch, fp32: the trained model as it is
    pytorch-bf16  eager PyTorch under bf16 autocast (fast on CPUs with AMX-BF16 / AVX512-BF16, and on CUDA)
    onnx          ONNX Runtime fp32 on `model.onnx` (the dynamo export, checked against PyTorch: max |diff| < 1e-4)
    onnx-int8     ONNX Runtime on `model-int8.onnx`: dynamic int8 quantization, per-channel int8 weights
                  (per-tensor weights moved the argmax span on 37% of the teacher's dev questions, per-channel 15%)

The ONNX runtimes need the `export` extra (`pip install 'distilbo[export]'`); `require_runtime` says so in one line.
Their ONNX files and sessions are `distilbo._onnx` (which `distilbo export` uses too); the files are written into `folder` (a trial's model/ folder), where `distilbo export` finds and copies them.

Latency before training: a student's latency depends on its shape, the runtime, the batch and the sequence
length, not on its weights, so `shape_latency_ms` times a random-weight model of the trial's shape on random
tokens of the same (B, S) and caches the result per shape, runtime and machine (`<cache_dir>/latency-<key>`):

    stats = shape_latency_ms(lambda: random_student(spec, init_config), key=shape, lengths=[171],
                             vocab_size=30522, cache_dir=dir, runtime="onnx-int8")

Shape glossary:  N windows;  L max_seq_length;  B batch rows;  S longest row of a batch
"""

from __future__ import annotations

import tempfile
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import torch

from distilbo._cache import cached_arrays, content_key
from distilbo._onnx import (export_onnx, onnx_latency, onnx_logits, onnx_session, quantize_onnx_int8,
                            require_export_extra, verify_onnx)
from distilbo._quiet import quiet_window
from distilbo.config import RUNTIMES
from distilbo.data.types import Features
from distilbo.errors import UserError
from distilbo.evaluate import model_logits
from distilbo.measure import latency_ms, machine_key

ONNX_FILES = {"onnx": "model.onnx", "onnx-int8": "model-int8.onnx"}
"""The file each ONNX runtime serves, inside the model folder."""


def require_runtime(runtime: str, *, where: str = "[search] runtime") -> None:
    """UserError for an unknown runtime, or for an ONNX runtime without the `export` extra installed."""
    if runtime not in RUNTIMES:
        raise UserError(f"{where} = {runtime!r}: use one of {', '.join(RUNTIMES)}")
    if runtime in ONNX_FILES:
        require_export_extra(what=f"{where} = {runtime!r}")


class Served:
    """A model in one runtime: `logits(features, batch_size)` and `latency(inputs, batch_size, repeats, warmup)`."""

    runtime: str = "pytorch"
    files: dict[str, str] = {}

    def logits(self, features: Features, *, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def latency(self, inputs: Any, *, batch_size: int = 1, repeats: int = 20, warmup: int = 3) -> dict[str, Any]:
        raise NotImplementedError


class _Torch(Served):
    def __init__(self, model: torch.nn.Module, *, precision: str, device: torch.device) -> None:
        self.model, self.precision, self.device = model, precision, device
        self.runtime = "pytorch-bf16" if precision == "bf16" else "pytorch"

    def logits(self, features: Features, *, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
        return model_logits(self.model, features, batch_size=batch_size, device=self.device, precision=self.precision)

    def latency(self, inputs: Any, *, batch_size: int = 1, repeats: int = 20, warmup: int = 3) -> dict[str, Any]:
        return {**latency_ms(self.model, inputs, batch_size=batch_size, repeats=repeats, warmup=warmup,
                             device=self.device, precision=self.precision), "runtime": self.runtime}


class _Onnx(Served):
    def __init__(self, path: Path, *, runtime: str, files: dict[str, str]) -> None:
        self.session, self.runtime, self.files = onnx_session(path), runtime, files

    def logits(self, features: Features, *, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
        return onnx_logits(self.session, features, batch_size=batch_size)

    def latency(self, inputs: Any, *, batch_size: int = 1, repeats: int = 20, warmup: int = 3) -> dict[str, Any]:
        return {**onnx_latency(self.session, inputs, batch_size=batch_size, repeats=repeats, warmup=warmup),
                "runtime": self.runtime}


def serve(model: torch.nn.Module, runtime: str, *, folder: Path | str, example: Any,
          device: torch.device | str = "cpu", check: bool = True) -> Served:
    """`model` ready to run in `runtime`. ONNX runtimes export it into `folder` (traced on two rows of `example`,
    a Features or an input mapping; with `check`, the fp32 file is compared with PyTorch on `example` and
    ExportCheckError raised when it differs by 1e-4 or more), then quantize for onnx-int8."""
    require_runtime(runtime)
    device = torch.device(device)
    if runtime == "pytorch":
        return _Torch(model, precision="fp32", device=device)
    if runtime == "pytorch-bf16":
        return _Torch(model, precision="bf16", device=device)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model = model.to("cpu").eval()
    export_onnx(model, folder / ONNX_FILES["onnx"], example)
    files = {"onnx": ONNX_FILES["onnx"]}
    if check and isinstance(example, Features):
        verify_onnx(model, folder / ONNX_FILES["onnx"], example.subset(np.arange(min(8, len(example)))))
    if runtime == "onnx-int8":
        quantize_onnx_int8(folder / ONNX_FILES["onnx"], folder / ONNX_FILES["onnx-int8"], per_channel=True)
        files["onnx-int8"] = ONNX_FILES["onnx-int8"]
    return _Onnx(folder / ONNX_FILES[runtime], runtime=runtime, files=files)


def shape_latency_ms(build: Any, *, key: Any, lengths: list[int], vocab_size: int, repeats: int = 20,
                     warmup: int = 3, device: torch.device | str = "cpu", cache_dir: Any = None,
                     runtime: str = "pytorch") -> dict[str, float]:
    """Latency of a model shape before training: `build()` -> a random-weight model of that shape, served in
    `runtime` (`serve`; ONNX ones export and quantize it in a scratch folder first) and timed like
    `latency_ms` on a batch of random tokens with the real batch's row `lengths` (B = len(lengths), S = the
    longest; the padding pattern matters: an all-ones mask takes a faster attention path). With a `cache_dir`, the
    timing runs in a quiet window (`distilbo._quiet`: training loops on this machine pause between steps). Cached
    per (key, lengths, runtime, machine): {latency_ms, batch_ms_median, batch_ms_min, batch_ms_max, spread = (max -
    min) / median, quiet = 1.0 when every training loop had paused, 0.0 when not, nan for an entry from before}."""
    batch_size, lengths = len(lengths), [int(n) for n in lengths]

    def measure() -> dict[str, np.ndarray]:
        g = torch.Generator().manual_seed(0)
        ids = torch.randint(min(1000, vocab_size - 1), vocab_size, (batch_size, max(lengths)), generator=g)
        mask = (torch.arange(ids.shape[1])[None, :] < torch.tensor(lengths)[:, None]).long()
        inputs = {"input_ids": ids, "attention_mask": mask, "token_type_ids": torch.zeros_like(ids)}
        with torch.random.fork_rng(devices=[]):
            model = build().to(device)
        with tempfile.TemporaryDirectory(prefix="distilbo-shape-") as tmp:
            served = serve(model, runtime, folder=tmp, example=inputs, device=device, check=False)
            with quiet_window(cache_dir) if cache_dir is not None else nullcontext(False) as quiet:
                r = served.latency(inputs, batch_size=batch_size, repeats=repeats, warmup=warmup)
        return {"ms": np.array([r["batch_ms_median"], r["batch_ms_min"], r["batch_ms_max"]], dtype=np.float64),
                "quiet": np.array([float(quiet)])}

    # the pytorch runtime keeps the key it had before runtimes existed (cached latencies stay valid)
    k = content_key(1, key, lengths, vocab_size, repeats, warmup, machine_key(device),
                    *([] if runtime == "pytorch" else [runtime]))
    got = cached_arrays("latency", k, measure, cache_dir=cache_dir, mmap=False, expect={"ms": (3,)})
    med, lo, hi = (float(v) for v in got["ms"])
    return {"latency_ms": med / batch_size, "batch_ms_median": med, "batch_ms_min": lo, "batch_ms_max": hi,
            "spread": (hi - lo) / med if med > 0 else 0.0,
            "quiet": float(got["quiet"][0]) if "quiet" in got else float("nan")}


__all__ = ["RUNTIMES", "ONNX_FILES", "Served", "serve", "require_runtime", "shape_latency_ms"]
