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
Their files are written into `folder` (a trial's model/ folder), where `distilbo export` finds and copies them.

Shape glossary:  N windows;  L max_seq_length;  B batch rows;  S longest row of a batch
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from distilbo.config import RUNTIMES
from distilbo.data.types import Features

ONNX_FILES = {"onnx": "model.onnx", "onnx-int8": "model-int8.onnx"}
"""The file each ONNX runtime serves, inside the model folder."""


def require_runtime(runtime: str, *, where: str = "[search] runtime") -> None:
    """UserError for an unknown runtime, or for an ONNX runtime without the `export` extra installed."""
    from distilbo.errors import UserError

    if runtime not in RUNTIMES:
        raise UserError(f"{where} = {runtime!r}: use one of {', '.join(RUNTIMES)}")
    if runtime in ONNX_FILES:
        from distilbo.export import require_export_extra

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
        from distilbo.evaluate import model_logits

        return model_logits(self.model, features, batch_size=batch_size, device=self.device, precision=self.precision)

    def latency(self, inputs: Any, *, batch_size: int = 1, repeats: int = 20, warmup: int = 3) -> dict[str, Any]:
        from distilbo.measure import latency_ms

        return {**latency_ms(self.model, inputs, batch_size=batch_size, repeats=repeats, warmup=warmup,
                             device=self.device, precision=self.precision), "runtime": self.runtime}


class _Onnx(Served):
    def __init__(self, path: Path, *, runtime: str, files: dict[str, str]) -> None:
        from distilbo.export import onnx_session

        self.session, self.runtime, self.files = onnx_session(path), runtime, files

    def logits(self, features: Features, *, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
        from distilbo.export import onnx_logits

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
    from distilbo.export import export_onnx, quantize_onnx_int8, verify_onnx

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


def onnx_latency(session: Any, inputs: Any, *, batch_size: int = 1, repeats: int = 20,
                 warmup: int = 3) -> dict[str, Any]:
    """`measure.latency_ms` for an ONNX Runtime session: the same batch (first `batch_size` rows, cut to the
    longest real row), the same median of `repeats` after `warmup`, the same keys."""
    from distilbo.export import ONNX_OUTPUTS
    from distilbo.measure import _batch

    if batch_size < 1 or repeats < 1 or warmup < 0:
        raise ValueError("latency: batch_size and repeats must be >= 1, warmup >= 0")
    wanted = {i.name for i in session.get_inputs()}
    feed = {k: v.numpy() for k, v in _batch(inputs, batch_size).items() if k in wanted}
    times = []
    for i in range(warmup + repeats):
        t0 = time.perf_counter()
        session.run(list(ONNX_OUTPUTS), feed)
        if i >= warmup:
            times.append((time.perf_counter() - t0) * 1000.0)
    med = statistics.median(times)
    return {"latency_ms": med / batch_size, "batch_ms_median": med, "batch_ms_min": min(times),
            "batch_ms_max": max(times), "batch_size": batch_size, "seq_length": int(feed["input_ids"].shape[1]),
            "repeats": repeats, "warmup": warmup, "device": "cpu", "threads": session.get_session_options().intra_op_num_threads}


__all__ = ["RUNTIMES", "ONNX_FILES", "Served", "serve", "require_runtime", "onnx_latency"]
