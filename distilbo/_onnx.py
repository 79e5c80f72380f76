"""ONNX files and ONNX Runtime sessions: what the serving runtimes `onnx` and `onnx-int8` run (`distilbo.serve`) and
what `distilbo export --onnx / --quantize` writes (`distilbo.export` imports it from here).

    export_onnx(model, folder / "model.onnx", features)            # dynamo export, dynamic batch and sequence axes
    verify_onnx(model, folder / "model.onnx", features)            # max |ONNX - PyTorch| < ONNX_ATOL, or the file goes
    quantize_onnx_int8(folder / "model.onnx", folder / "model-int8.onnx")   # dynamic int8, per-channel weights
    session = onnx_session(folder / "model-int8.onnx")
    start, end = onnx_logits(session, features, batch_size=64)      # like evaluate.model_logits
    lat = onnx_latency(session, features, batch_size=1)             # like measure.latency_ms

onnx, onnxruntime and onnxscript are the optional `export` extra (`pip install 'distilbo[export]'`): they are
imported inside the functions that need them, and `require_export_extra` says in one line when they are missing.
"""

from __future__ import annotations

import importlib.util
import logging
import statistics
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from distilbo.data.batches import batch_order, model_inputs, to_batch
from distilbo.data.types import Features
from distilbo.errors import UserError
from distilbo.evaluate import model_logits, uses_token_types
from distilbo.measure import _batch

ONNX_ATOL = 1e-4
"""Largest |ONNX - PyTorch| logit difference accepted on the check windows."""
ONNX_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
ONNX_OUTPUTS = ("start_logits", "end_logits")


class ExportCheckError(UserError):
    """An exported file does not reproduce the PyTorch model (the file is removed)."""


def require_export_extra(*, what: str = "--onnx / --quantize") -> None:
    """UserError naming the `export` extra unless onnx, onnxruntime and onnxscript can be imported."""
    missing = [m for m in ("onnx", "onnxruntime", "onnxscript") if importlib.util.find_spec(m) is None]
    if missing:
        raise UserError(f"{what} needs {', '.join(missing)}: pip install 'distilbo[export]'")


class _LogitsOnly(torch.nn.Module):
    """A HF QA model as a function of tensors -> (start_logits, end_logits), which ONNX export needs."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                token_type_ids: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        kw = {} if token_type_ids is None else {"token_type_ids": token_type_ids}
        out = self.model(input_ids=input_ids, attention_mask=attention_mask, **kw)
        return out.start_logits, out.end_logits


def export_onnx(model: torch.nn.Module, path: Path, example: Any) -> None:
    """Write `model` to `path` as ONNX with dynamic batch and sequence axes, traced on two rows of `example`
    (a Features or a mapping with input_ids, attention_mask, token_type_ids)."""
    if importlib.util.find_spec("onnxscript") is None:  # the dynamo exporter's backend
        raise UserError("--onnx needs onnx, onnxruntime and onnxscript: pip install 'distilbo[export]'")
    token_types = uses_token_types(model)
    batch = _batch(example, 2)  # 2 rows, so the batch axis is not specialised to 1
    if not token_types:
        batch.pop("token_type_ids")
    names = [n for n in ONNX_INPUTS if n in batch]
    batch_dim, seq_dim = torch.export.Dim("batch"), torch.export.Dim("sequence")
    n_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    model = model.to("cpu").eval()
    quiet = logging.getLogger("torch.onnx")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # "torchvision is not installed" and similar chatter
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(_LogitsOnly(model).eval(), tuple(batch[n] for n in names), str(path), dynamo=True,
                              input_names=names, output_names=list(ONNX_OUTPUTS), verbose=False,
                              dynamic_shapes={n: {0: batch_dim, 1: seq_dim} for n in names},
                              external_data=n_bytes > 1_500_000_000)  # protobuf files stop at 2 GB
    finally:
        quiet.setLevel(level)


def onnx_session(path: Path | str) -> Any:
    """An onnxruntime CPU session using as many threads as torch does."""
    import onnxruntime as ort  # lazy: the optional `export` extra

    so = ort.SessionOptions()
    so.intra_op_num_threads = torch.get_num_threads()
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def onnx_logits(session: Any, features: Features, *, batch_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Start and end logits (N, L) float32 from an ONNX session, batched exactly like `evaluate.model_logits`."""
    n, width = features.input_ids.shape
    start = np.zeros((n, width), dtype=np.float32)
    end = np.zeros((n, width), dtype=np.float32)
    wanted = {i.name for i in session.get_inputs()}
    for idx in batch_order(features.lengths, batch_size=batch_size, shuffle=False, group_by_length=True):
        batch = model_inputs(to_batch(features, idx, device=torch.device("cpu"),
                                      token_types="token_type_ids" in wanted))
        s, e = session.run(list(ONNX_OUTPUTS), {k: v.numpy() for k, v in batch.items()})
        start[idx, :s.shape[1]] = s
        end[idx, :e.shape[1]] = e
    return start, end


def verify_onnx(model: torch.nn.Module, path: Path, features: Features, *, atol: float = ONNX_ATOL) -> float:
    """Max |ONNX - PyTorch| over the real columns of `features` (batches of 1 and of 4 rows, so several shapes);
    ExportCheckError (and the file removed) when it is not below `atol`."""
    session = onnx_session(path)
    diff = 0.0
    for bs in (1, 4):
        ref_s, ref_e = model_logits(model, features, batch_size=bs, device=torch.device("cpu"))
        got_s, got_e = onnx_logits(session, features, batch_size=bs)
        real = np.arange(ref_s.shape[1])[None, :] < np.asarray(features.lengths)[:, None]  # (N, L)
        diff = max(diff, float(np.abs(ref_s - got_s)[real].max()), float(np.abs(ref_e - got_e)[real].max()))
    if not diff < atol:
        path.unlink(missing_ok=True)
        raise ExportCheckError(f"{path}: ONNX logits differ from PyTorch by up to {diff:.3g} (limit {atol:g}) on "
                               f"{len(features)} windows; the file was removed. Export without --onnx")
    return diff


def onnx_opset(path: Path) -> int | None:
    """The ai.onnx opset of an ONNX file."""
    import onnx  # lazy: the optional `export` extra

    m = onnx.load(str(path), load_external_data=False)
    return next((int(o.version) for o in m.opset_import if o.domain in ("", "ai.onnx")), None)


def quantize_onnx_int8(src: Path, dst: Path, *, per_channel: bool = True) -> None:
    """Dynamic int8 quantization with onnxruntime (weights int8, per output channel unless `per_channel=False`;
    activations per batch), after its graph pre-processing (shape inference + optimization; the symbolic pass is
    skipped, it cannot follow the dynamo graph). Per-tensor weights moved the teacher's argmax answer span on 37%
    of 200 dev questions, per-channel on 15%."""
    # lazy: the optional `export` extra
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.shape_inference import quant_pre_process

    pre = dst.with_name(f".{dst.stem}.pre.onnx")
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # onnxruntime warns through the root logger
    try:
        quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
        quantize_dynamic(str(pre), str(dst), weight_type=QuantType.QInt8, per_channel=per_channel)
    finally:
        root.setLevel(level)
        pre.unlink(missing_ok=True)


def onnx_latency(session: Any, inputs: Any, *, batch_size: int = 1, repeats: int = 20,
                 warmup: int = 3) -> dict[str, Any]:
    """`measure.latency_ms` for an ONNX Runtime session (what `serve`'s ONNX runtimes time): the same batch (first `batch_size` rows, cut to the
    longest real row), the same median of `repeats` after `warmup`, the same keys."""
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
