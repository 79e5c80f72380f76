"""A study's config read back from its storage: what `distilbo status`, `report` and `export` run on when they get
`--storage URL [--study NAME]` and no `--config`, from any folder (the way optuna-dashboard opens a study).

    cfg = config_from_storage("sqlite:///../runs/quickstart/study.db", "quickstart")
    cfg = config_from_storage("runs/j.log", None, {"out": "elsewhere"})   # the storage's only study; --set last

Where the config comes from, first found:
  1. the study's user attr `config`, written by every `distilbo search` on the study (`remember_config`: the
     search's own config, storage password removed);
  2. the `spec.json` of the study's baseline trial (else its first trial with one), for studies made before (1);
  3. the defaults, with the objectives the study stores (user attr `objectives`).
The URL and the study name given always win over the stored ones, then `overrides` (flat names, as `--set`).
A run folder (`[run] out`) that does not exist here (a study made on another host) becomes the folder of a local
storage file, so a report lands beside the database.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import optuna

from distilbo._secrets import mask_url
from distilbo.config import Config
from distilbo.errors import UserError
from distilbo.search._child import config_from_dict, config_to_dict
from distilbo.search._storage import Storage, open_storage
from distilbo.search.study import load_study

CONFIG_ATTR = "config"
"""Study user attr holding the config of the last search on it (nested dicts, `_child.config_to_dict`)."""


def remember_config(study: optuna.Study, cfg: Config) -> None:
    """Store `cfg` on the study (user attr `config`) unless it is stored already; the storage URL is kept only
    without its password (the URL a reader passes is the one used)."""
    d = config_to_dict(cfg)
    if d["run"].get("storage"):
        d["run"]["storage"] = mask_url(d["run"]["storage"])
    if study.user_attrs.get(CONFIG_ATTR) != d:
        study.set_user_attr(CONFIG_ATTR, d)


def _study_name(url: str, name: str | None) -> str:
    """`name`, or the storage's only study when no name is given."""
    if name is not None:
        return name
    probe = Config().with_overrides({"storage": url})
    storage = Storage.of(probe)
    if storage.missing():
        raise UserError(f"no study at {storage.label}; check the path, or run `distilbo search` first")
    names = optuna.get_all_study_names(open_storage(probe, storage))
    if len(names) == 1:
        return names[0]
    raise UserError(f"storage {storage.label} holds {len(names)} studies "
                    f"({', '.join(names) or 'none'}); pass --study NAME")


def _from_trials(study: optuna.Study) -> dict[str, Any] | None:
    trials = sorted(study.get_trials(deepcopy=False), key=lambda t: (not t.user_attrs.get("is_baseline"), t.number))
    for t in trials:
        folder = t.user_attrs.get("trial_dir")
        if not folder:
            continue
        try:
            spec = json.loads((Path(folder) / "spec.json").read_text(encoding="utf-8"))
            return dict(spec["config"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return None


def _config(d: dict[str, Any] | None, study: optuna.Study) -> Config:
    if d is not None:
        try:
            return config_from_dict(d)
        except (TypeError, KeyError):  # stored by another distilbo version: fields added or removed
            pass
    cfg = Config()
    objectives = study.user_attrs.get("objectives")
    if isinstance(objectives, list) and objectives:
        cfg.search.objectives = objectives
    return cfg


def config_from_storage(url: str, name: str | None = None, overrides: dict[str, Any] | None = None) -> Config:
    """The config of study `name` (default: the storage's only study) on storage `url` (a URL, or a journal file
    path relative to the working directory), with `overrides` applied; UserError naming the fix when there is no
    such storage or study."""
    name = _study_name(url, name)
    probe = Config().with_overrides({"storage": url, "study": name})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study = load_study(probe)
    stored = study.user_attrs.get(CONFIG_ATTR)
    cfg = _config(stored if isinstance(stored, dict) else _from_trials(study), study)
    storage = Storage.of(probe)
    where = {"storage": storage.url, "study": name}
    if not cfg.run_dir.is_dir() and storage.file is not None:
        where["out"] = str(Path(storage.file).resolve().parent)
    cfg = cfg.with_overrides(where, origin=f"study '{name}' in {storage.label}")
    return cfg.with_overrides(overrides or {}) if overrides else cfg
