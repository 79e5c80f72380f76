"""A study's storage, classified once: `Storage.of(cfg)` / `Storage.parse(url)` -> a typed value every part of the
search reads (what kind it is, its local file, its label with the password masked), and `open_storage`.

    storage = Storage.of(cfg)                  # cfg.storage_url: [run] storage, else <run folder>/study.db
    storage.kind, storage.file, storage.label  # "sqlite", "/runs/x/study.db", "sqlite:////runs/x/study.db"
    store = open_storage(cfg, storage)         # optuna.storages.BaseStorage; UserError when it cannot open

Kinds: `sqlite:///...` (a local file), any other SQLAlchemy URL (`server`: PostgreSQL for many workers), both
opened as `RDBStorage` with Optuna's heartbeat (`heartbeat_interval`, `grace_period`); a path with no `://`
(`journal`, it must end in `.log`) -> `JournalStorage(JournalFileBackend)`. Passwords in URLs are masked (`label`,
`mask`) in everything the search logs or raises.
"""

from __future__ import annotations

import importlib.util
import random
import re
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.storages.journal import JournalFileBackend, JournalStorage

from distilbo._secrets import mask_url
from distilbo.config import Config, storage_file
from distilbo.errors import UserError


@dataclass(frozen=True)
class Storage:
    """A storage URL as parsed once: `url` as given (password included: never print it), `kind` ("sqlite",
    "server" or "journal") and `file`, the local file it lives in (None for a server or an in-memory SQLite)."""

    url: str
    kind: str
    file: str | None

    @classmethod
    def parse(cls, url: str) -> "Storage":
        local = storage_file(url)
        if local == url:
            return cls(url, "journal", url)
        return cls(url, "sqlite" if url.startswith("sqlite:///") else "server", local)

    @classmethod
    def of(cls, cfg: Config) -> "Storage":
        """The config's storage (`cfg.storage_url`: the CLI's --storage lands there)."""
        return cls.parse(cfg.storage_url)

    @property
    def label(self) -> str:
        """The URL with its password masked: what messages and study markers show."""
        return mask_url(self.url)

    def mask(self, text: str) -> str:
        """`text` with the URL's password removed wherever it appears (driver errors may quote it)."""
        auth = re.match(r"[^:]*://([^:/@]*):(.*)@", re.split(r"[?#]", self.url, maxsplit=1)[0])
        text = text.replace(self.url, self.label)
        return text.replace(auth.group(2), "***") if auth and auth.group(2) else text

    def missing(self) -> bool:
        """True when the storage is a local file that does not exist (yet): nothing to read there."""
        return self.file is not None and not Path(self.file).is_file()

    @property
    def driver_url(self) -> str:
        """The SQLAlchemy URL: SQLAlchemy 2.1 defaults PostgreSQL to the psycopg 3 driver; the `postgres` extra
        installs psycopg2-binary, so a plain postgresql:// URL names psycopg2 when only that one is there."""
        if self.url.startswith(("postgresql://", "postgres://")) and _has("psycopg2") and not _has("psycopg"):
            return "postgresql+psycopg2://" + self.url.split("://", 1)[1]
        return self.url


def open_storage(cfg: Config, url: "str | Storage | None" = None) -> optuna.storages.BaseStorage:
    """The study's storage (default: the config's): an RDB URL (with heartbeat) or a journal file (`*.log`);
    UserError if it cannot open."""
    storage = url if isinstance(url, Storage) else Storage.parse(url or cfg.storage_url)
    s = cfg.search
    if storage.kind == "journal":
        if not storage.url.endswith(".log"):
            raise UserError(f"storage {storage.url!r}: not a URL and not a journal file; use sqlite:///PATH.db, "
                            "postgresql://USER:PASSWORD@HOST/DB or a file path ending in .log")
        Path(storage.url).parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(storage.url))
    kwargs: dict[str, Any] = {}
    if storage.kind == "sqlite":
        if storage.file is not None:
            Path(storage.file).parent.mkdir(parents=True, exist_ok=True)
        kwargs = {"connect_args": {"timeout": 60}}  # several local workers share the file
    for attempt in range(6):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return optuna.storages.RDBStorage(storage.driver_url, engine_kwargs=kwargs,
                                                  heartbeat_interval=s.heartbeat_interval, grace_period=s.grace_period)
        except Exception as e:  # noqa: BLE001  (driver missing, server down, bad URL: all the user's to fix)
            if attempt < 5 and _schema_race(e):  # workers starting at once on a fresh database all create the tables
                time.sleep(0.2 + 0.3 * attempt * random.random())
                continue
            reason = storage.mask(" ".join(str(e).split()))[:300]
            raise UserError(f"storage {storage.label}: cannot open ({type(e).__name__}: {reason}); check the URL "
                            "(sqlite:///PATH.db, postgresql://USER:PASSWORD@HOST/DB or a .log file), the server and "
                            "that its driver is installed (pip install 'distilbo[postgres]')") from None
    raise AssertionError("unreachable")


def _schema_race(e: BaseException) -> bool:
    """True when creating the storage's tables failed because another process created them at the same moment."""
    text = f"{type(e).__name__} {e}".lower()
    return any(h in text for h in ("already exists", "uniqueviolation", "duplicate key", "integrityerror"))


def _has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None
