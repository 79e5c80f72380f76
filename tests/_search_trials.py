"""Synthetic trial functions for tests/test_search.py: cheap math, sleeps, raises, memory hogs, hard exits.

They have the signature of `distilbo.distill.trial:run_trial`, `fn(cfg, trial_dir) -> dict`, and are run by
dotted path (`_search_trials:smooth`) in child processes, which get the test process's sys.path.
"""

from __future__ import annotations

import json
import math
import os
import signal
import time
from pathlib import Path
from typing import Any

FAIL_PRODUCT = 24
"""`region_fails` fails when n_layers * n_heads exceeds this (a stand-in for "does not fit in memory")."""


def synthetic_metrics(n_layers: int, n_heads: int, learning_rate: float) -> dict[str, float]:
    """Bigger is more accurate; the learning rate has an optimum at 10**-3.5."""
    exact = 40.0 + 6.0 * n_layers + 1.5 * n_heads - 6.0 * (math.log10(learning_rate) + 3.5) ** 2
    return {"exact": exact, "f1": exact + 3.0, "num_parameters": float(1_000_000 + 250_000 * n_layers * n_heads),
            "latency_ms": 1.0 + 0.5 * n_layers}


def estimate(cfg: Any) -> dict[str, float]:
    """What is known before training: the parameter count."""
    return {"num_parameters": synthetic_metrics(cfg.student.n_layers, cfg.student.n_heads, 1e-3)["num_parameters"]}


def smooth(cfg: Any, trial_dir: Path | None) -> dict[str, float]:
    m = synthetic_metrics(cfg.student.n_layers, cfg.student.n_heads, cfg.train.learning_rate)
    if trial_dir is not None:
        with open(Path(trial_dir) / "curves.jsonl", "w") as f:
            f.write(json.dumps({"epoch": 1, "exact": m["exact"] - 5}) + "\n")
            f.write(json.dumps({"epoch": 2, "exact": m["exact"]}) + "\n")
    return m


def own_metric(cfg: Any, trial_dir: Path | None) -> dict[str, float]:
    """A user's trial function with a metric of its own: `exact_int8` (the smooth exact, 2 points lower)."""
    m = smooth(cfg, trial_dir)
    return {"exact_int8": m["exact"] - 2.0, "num_parameters": m["num_parameters"]}


def region_fails(cfg: Any, trial_dir: Path | None) -> dict[str, float]:
    """`smooth`, but large models raise MemoryError as an out-of-memory trial would."""
    if cfg.student.n_layers * cfg.student.n_heads > FAIL_PRODUCT:
        raise MemoryError(f"synthetic: {cfg.student.n_layers} x {cfg.student.n_heads} does not fit")
    return smooth(cfg, trial_dir)


def slow(cfg: Any, trial_dir: Path | None) -> dict[str, float]:
    """`smooth` after 1.5 s, so a test can kill the search while a trial runs."""
    time.sleep(1.5)
    return smooth(cfg, trial_dir)


def modes(cfg: Any, trial_dir: Path | None) -> dict[str, float]:
    """One failure mode per `selection_seed`: 0 ok, 1 raise, 2 sleep past the time limit, 3 allocate past the
    memory limit, 4 os._exit, 5 SIGKILL itself, 6 return a NaN objective, 7 start a grandchild (its pid goes to
    trial_dir/grandchild.pid) and sleep past the time limit."""
    mode = cfg.student.selection_seed
    if mode == 1:
        raise ValueError("synthetic bad region")
    if mode == 2:
        time.sleep(60)
    if mode == 3:
        hog = bytearray(8 << 30)  # 8 GiB of address space, over any test limit
        return {"exact": float(len(hog))}
    if mode == 4:
        os._exit(7)
    if mode == 5:
        os.kill(os.getpid(), signal.SIGKILL)
    if mode == 6:
        return {**smooth(cfg, trial_dir), "exact": float("nan")}
    if mode == 7:
        import subprocess

        grandchild = subprocess.Popen(["sleep", "120"])
        (Path(trial_dir) / "grandchild.pid").write_text(str(grandchild.pid))
        time.sleep(60)
    return smooth(cfg, trial_dir)


def held(cfg: Any, trial_dir: Path | None) -> dict[str, float]:
    """`smooth`, once the file `release` exists in the study folder (trial_dir/../..): writes `started` (the Ray
    node it runs on, $DISTILBO_RAY_NODE) first, so a test can kill that node while the trial runs. Gives up
    waiting after 600 s (a hang guard; the tests release it)."""
    Path(trial_dir, "started").write_text(os.environ.get("DISTILBO_RAY_NODE", ""))
    release = Path(trial_dir).parent.parent / "release"
    end = time.monotonic() + 600
    while not release.exists() and time.monotonic() < end:
        time.sleep(0.1)
    return smooth(cfg, trial_dir)


def make_config(out: str | Path, *, storage: str | None = None, sampler: str = "gp", **search: Any) -> Any:
    """A validated Config for synthetic searches: n_layers x n_heads x learning_rate, baseline 3 x 4 x 5e-5."""
    from distilbo.config import Config

    cfg = Config()
    cfg.run.out = str(out)
    cfg.run.storage = storage
    cfg.student.n_layers, cfg.student.n_heads = 3, 4
    cfg.search.sampler = sampler
    cfg.search.n_startup_trials = 3
    cfg.search.space = {"n_layers": {"type": "int", "low": 1, "high": 6}, "n_heads": {"type": "int", "low": 1, "high": 12},
                        "learning_rate": {"type": "float", "low": 1e-5, "high": 1e-2, "log": True}}
    for k, v in search.items():
        setattr(cfg.search, k, v)
    return cfg.with_overrides({})


def with_rungs(cfg: Any, trial_dir: Path | None) -> dict[str, float]:
    """`smooth` trained in stages: at rung k (fraction f of `[search] rungs`) it reports exact - 10 * (1 - f) and
    stops when told to. Writes a model/ folder first (a checkpoint the search must remove when it stops the trial);
    $SYNTH_RUNG_SLEEP seconds of sleep before each rung (so a test can kill the search mid-run)."""
    from distilbo.search.early_stop import StoppedAtRung, report_rung

    m = smooth(cfg, trial_dir)
    (Path(trial_dir) / "model").mkdir(exist_ok=True)
    (Path(trial_dir) / "model" / "weights.bin").write_bytes(b"0" * 16)
    for k, f in enumerate(cfg.search.rungs):
        time.sleep(float(os.environ.get("SYNTH_RUNG_SLEEP", "0")))
        if not report_rung(trial_dir, k, {"exact": m["exact"] - 10.0 * (1 - f), "num_parameters": m["num_parameters"]}):
            raise StoppedAtRung(k)
    return m


def kill_when(proc: Any, load: Any, seen: Any, *, timeout: float,
              not_yet: tuple[type[BaseException], ...]) -> Any:
    """Poll a running search (`proc`, a Popen) through `load()` (-> optuna.Study); the first time
    `seen(trials)` returns something other than None, SIGKILL the search and return that snapshot (None if the
    search ended first, or made no progress for `timeout` seconds: no CPU time used and no change in its trials,
    so a slow, busy machine only makes the wait longer). `load()` raising one of `not_yet` means "the study is not
    created yet" (polled again); anything else propagates. The process is reaped either way."""
    from _waits import progress

    last, since = None, time.monotonic()
    try:
        while proc.poll() is None:
            time.sleep(0.2)
            try:
                trials = load().trials
            except not_yet:
                trials = []
            now = (progress(proc), [(t.number, t.state) for t in trials])
            if now != last:
                last, since = now, time.monotonic()
            elif time.monotonic() - since > timeout:
                return None
            if not trials:
                continue
            snapshot = seen(trials)
            if snapshot is not None:
                os.kill(proc.pid, signal.SIGKILL)
                return snapshot
        return None
    finally:
        proc.kill()
        proc.wait()


def noisy(cfg: Any, trial_dir: Path | None) -> dict[str, float]:
    """`smooth` plus a draw that depends on the seed and the shape: exact + noise(seed, n_layers) (so a test knows
    every run's value), and the same on a test split (`test_exact`, 10 points lower). $SYNTH_SLEEP seconds first
    (so a test can kill a confirmation)."""
    time.sleep(float(os.environ.get("SYNTH_SLEEP", "0")))
    m = smooth(cfg, trial_dir)
    m["exact"] += noise(cfg.run.seed, cfg.student.n_layers)
    m["test_exact"] = m["exact"] - 10.0
    return m


NOISE = (6.0, -2.0, 0.0, -4.0)


def noise(seed: int, n_layers: int) -> float:
    """`noisy`'s offset: NOISE[(seed + n_layers) % 4]."""
    return NOISE[(seed + n_layers) % len(NOISE)]


def region_fails_all(cfg: Any, trial_dir: Path | None) -> dict[str, float]:
    """Always raises, like an out-of-memory trial: a confirmation run that fails."""
    raise MemoryError("synthetic: does not fit")
