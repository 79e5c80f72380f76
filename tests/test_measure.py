"""Tests of distilbo.measure: latency, peak memory, device/thread helpers and OOM classification.

Run: python -m pytest tests/test_measure.py -q
"""

from __future__ import annotations


import numpy as np
import pytest
import torch

from distilbo.data.types import Features
from distilbo.errors import UserError
from distilbo.search._child import failure_reason, is_oom
from distilbo.measure import (
    autocast,
    latency_ms,
    peak_memory,
    peak_memory_mb,
    select_device,
    set_threads,
)

torch.set_num_threads(1)


class Recorder(torch.nn.Module):
    """Records the shapes and keyword names of every forward call; sleeps so timing is measurable."""

    def __init__(self, *, token_types: bool) -> None:
        super().__init__()
        self.lin = torch.nn.Linear(2, 2)
        self.calls: list[dict] = []
        self.modes: list[tuple[bool, bool]] = []
        if not token_types:
            self.forward = self.forward_no_types  # type: ignore[method-assign]

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None):
        return self.forward_no_types(input_ids, attention_mask, token_type_ids=token_type_ids)

    def forward_no_types(self, input_ids=None, attention_mask=None, **kw):
        import time

        self.calls.append({"shape": tuple(input_ids.shape), "keys": sorted(["input_ids", "attention_mask", *kw]),
                           "mask_sum": int(attention_mask.sum())})
        self.modes.append((self.training, torch.is_inference_mode_enabled()))
        time.sleep(0.002)
        return input_ids


def features(lengths: list[int], width: int = 16) -> Features:
    n = len(lengths)
    ids = np.zeros((n, width), dtype=np.int32)
    for i, ln in enumerate(lengths):
        ids[i, :ln] = np.arange(1, ln + 1)
    return Features(input_ids=ids, token_type_ids=np.zeros((n, width), dtype=np.int8),
                    lengths=np.array(lengths, dtype=np.int32), offsets=np.full((n, width, 2), -1, dtype=np.int32),
                    example_index=np.arange(n, dtype=np.int32), start_positions=np.zeros(n, dtype=np.int32),
                    end_positions=np.zeros(n, dtype=np.int32))


def test_latency_positive_median_and_shapes():
    model = Recorder(token_types=True).train()
    stats = latency_ms(model, features([5, 9, 3, 12]), batch_size=3, repeats=5, warmup=2, device="cpu")
    assert len(model.calls) == 7  # warmup + repeats
    assert {c["shape"] for c in model.calls} == {(3, 9)}  # first 3 rows, cut to the longest real row
    assert model.calls[0]["mask_sum"] == 5 + 9 + 3
    assert model.calls[0]["keys"] == ["attention_mask", "input_ids", "token_type_ids"]
    assert all(m == (False, True) for m in model.modes)  # eval mode, inference_mode
    assert model.training  # restored
    assert (stats["batch_size"], stats["seq_length"], stats["repeats"], stats["warmup"]) == (3, 9, 5, 2)
    assert stats["batch_ms_median"] >= 2.0 and stats["batch_ms_min"] <= stats["batch_ms_median"] <= stats["batch_ms_max"]
    assert stats["latency_ms"] == pytest.approx(stats["batch_ms_median"] / 3)
    assert stats["device"] == "cpu"


def test_latency_drops_token_types_for_models_without_them_and_repeats_rows():
    model = Recorder(token_types=False)
    stats = latency_ms(model, {"input_ids": np.ones((2, 7), dtype=np.int64)}, batch_size=5, repeats=1, warmup=0)
    assert model.calls[0]["keys"] == ["attention_mask", "input_ids"]
    assert model.calls[0]["shape"] == (5, 7)
    assert stats["seq_length"] == 7 and stats["latency_ms"] > 0


def test_latency_on_a_real_tiny_distilbert():
    from transformers import DistilBertConfig, DistilBertForQuestionAnswering

    torch.manual_seed(0)
    model = DistilBertForQuestionAnswering(DistilBertConfig(vocab_size=50, dim=16, n_heads=2, n_layers=1, hidden_dim=32))
    stats = latency_ms(model, features([6, 4]), batch_size=1, repeats=3, warmup=1, device=torch.device("cpu"))
    assert stats["latency_ms"] > 0 and stats["seq_length"] == 6


def test_is_oom_classification():
    assert is_oom(torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"))
    assert is_oom(MemoryError())
    assert is_oom(RuntimeError("CUDA out of memory. Tried to allocate 20.00 MiB"))
    assert is_oom(RuntimeError("[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: not enough memory"))
    assert is_oom(RuntimeError("std::bad_alloc: can't allocate memory: you tried to allocate 123 bytes"))
    assert not is_oom(RuntimeError("mat1 and mat2 shapes cannot be multiplied (2x3 and 4x5)"))
    assert not is_oom(ValueError("out of memory"))  # only RuntimeError messages are read
    # what a study records for them: the one classifier of the search
    assert failure_reason(RuntimeError("DefaultCPUAllocator: can't allocate memory")).startswith("out of memory: ")
    assert failure_reason(RuntimeError("mat1 and mat2 shapes cannot be multiplied")) == (
        "RuntimeError: mat1 and mat2 shapes cannot be multiplied")
    assert not is_oom(KeyboardInterrupt())


def test_real_cpu_allocation_failure_is_oom():
    try:
        torch.empty(1 << 62, dtype=torch.uint8)
    except Exception as e:  # noqa: BLE001
        assert is_oom(e), repr(e)
    else:
        pytest.skip("allocation of 4 EiB unexpectedly succeeded")


def test_select_device():
    assert select_device("cpu") == torch.device("cpu")
    assert select_device("auto") == torch.device("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(UserError, match="device"):
        select_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(UserError, match="CUDA is not available"):
            select_device("cuda")


def test_set_threads_and_autocast():
    try:
        assert set_threads(1) == 1 and torch.get_num_threads() == 1
        n = set_threads(0)
        assert n >= 1 and torch.get_num_threads() == n
    finally:
        torch.set_num_threads(1)
    a, b = torch.randn(8, 8), torch.randn(8, 8)
    with autocast(torch.device("cpu"), "bf16"):
        assert (a @ b).dtype == torch.bfloat16
    for precision in ("fp32", "auto"):  # scores and teacher logits stay fp32 on the CPU
        with autocast(torch.device("cpu"), precision):
            assert (a @ b).dtype == torch.float32


def test_peak_memory_sees_a_cpu_allocation():
    with peak_memory("cpu") as mem:
        x = torch.ones(64 << 20, dtype=torch.uint8)  # 64 MiB, touched
        x.add_(1)
        del x
    assert mem.delta_mb >= 48, (mem.start_mb, mem.peak_mb)
    assert mem.peak_mb <= peak_memory_mb("cpu") + 1
