"""Each study's own folder in the run folder, `<run folder>/<study folder>/` (`study_dir`): `trials/NNNN/`,
`report/`, `confirm/`.

The folder name is the study name made filesystem-safe (`folder_name`), stored in the study's user attr `folder`
when the study is created (`claim_study_dir`), with a marker file `.distilbo-study.json` inside; when that name is
taken by another study (another storage with the same study name, or a name that maps to the same folder) a suffix
`-2`, `-3`, ... is added. So two studies never share trial folders, checkpoints or reports, and the default
database `<run folder>/study.db` can hold several studies. Studies made before this layout (trials in
`<run folder>/trials/`) keep their recorded trial folders; their new trials and report go to the study folder.
Which storage a study is on is the config's (`_storage.Storage.of(cfg)`): the one it was opened from.

The disk budget (`prune_checkpoints`, `[search] keep = "frontier"`) touches only the study's own trial folders.
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
from pathlib import Path
from typing import Any

import optuna

from distilbo._io import write_atomic
from distilbo.config import Config
from distilbo.errors import UserError
from distilbo.search._records import records
from distilbo.search._storage import Storage


STUDY_MARKER = ".distilbo-study.json"
"""In every study folder: {study, storage (password masked), uid}; says which study owns the folder."""


def folder_name(study_name: str) -> str:
    """A study name as a folder name: letters, digits, `.`, `_` and `-` kept, every other run of characters
    replaced by `-`, no leading dot, at most 80 characters (`"my study/v2"` -> `"my-study-v2"`)."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", study_name).strip("-.")[:80].strip("-.")
    return slug or "study"


def read_marker(folder: Path) -> dict[str, Any] | None:
    try:
        d = json.loads((folder / STUDY_MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return d if isinstance(d, dict) else None


def _candidates(name: str) -> Any:
    base = folder_name(name)
    yield base
    for i in range(2, 10_000):
        yield f"{base}-{i}"


def _free(folder: Path) -> bool:
    """Nobody's folder yet: absent, or an empty directory."""
    if not folder.exists():
        return True
    return folder.is_dir() and not any(folder.iterdir())


def study_dir(cfg: Config, study: optuna.Study) -> Path:
    """The study's own folder `<run folder>/<folder>` (trials/, report/); never another study's.

    The folder is the study's user attr `folder` (set by `create_or_load_study`). A study without one (made before
    per-study folders, or only read so far) gets the first of `name`, `name-2`, ... that is free or marked as
    this study's; nothing is written."""
    name = study.user_attrs.get("folder")
    if isinstance(name, str) and name and name == Path(name).name and not name.startswith("."):
        return cfg.run_dir / name
    url = Storage.of(cfg).label
    for cand in _candidates(study.study_name):
        folder = cfg.run_dir / cand
        mark = read_marker(folder)
        if _free(folder) or (mark is not None and mark.get("study") == study.study_name and mark.get("storage") == url):
            return folder
    raise AssertionError("unreachable")


def claim_study_dir(cfg: Config, study: optuna.Study) -> Path:
    """Give the study its folder (user attrs `folder`, `folder_uid`; the marker file) unless it has one, and
    return it. UserError when the folder the study has holds another study's marker (another run folder)."""
    storage = Storage.of(cfg)
    attrs = study.user_attrs
    name, uid = attrs.get("folder"), attrs.get("folder_uid")
    if isinstance(name, str) and name:
        folder = cfg.run_dir / name
        mark = read_marker(folder)
        if mark is not None and uid and mark.get("uid") != uid:
            raise UserError(f"study '{study.study_name}' in {storage.label}: its folder {folder} belongs to another "
                            f"study ('{mark.get('study')}' in {mark.get('storage')}); pass another run folder "
                            "(--set out=DIR)")
        if mark is None:
            _write_marker(folder, study.study_name, storage, uid or "")
        return folder
    folder = study_dir(cfg, study)
    uid = secrets.token_hex(8)
    _write_marker(folder, study.study_name, storage, uid)
    study.set_user_attr("folder", folder.name)
    study.set_user_attr("folder_uid", uid)
    return folder


def _write_marker(folder: Path, study_name: str, storage: Storage, uid: str) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        write_atomic(folder / STUDY_MARKER,
                     json.dumps({"study": study_name, "storage": storage.label, "uid": uid}, indent=1))
    except OSError as e:
        raise UserError(f"study folder {folder}: cannot write ({e.strerror or e}); free disk space, fix its "
                        "permissions or pick another run folder with --set out=DIR") from None


def own_folder(study: optuna.Study) -> str | None:
    """The uid of the study's own folder (user attr `folder_uid`, also in the folder's marker file), or None for
    a study made before per-study folders."""
    uid = study.user_attrs.get("folder_uid")
    return uid if isinstance(uid, str) and uid else None


def prune_checkpoints(study: optuna.Study, *, own: str | None = "auto") -> list[int]:
    """Disk budget (`[search] keep = "frontier"`): delete the model/ folder of every finished trial that is neither
    the baseline nor on the Pareto front (the feasible front; the unconstrained one while nothing is feasible).
    Returns the trial numbers pruned now. `keep = "all"` keeps everything.

    Only the study's own trial folders are touched: `<study folder>/trials/NNNN` with NNNN the trial's number and
    the study folder's marker carrying the study's uid `own` (default: its user attr `folder_uid`). A trial folder
    recorded elsewhere (a study made before per-study folders, whose `trials/NNNN` another study may have reused)
    is kept."""
    attrs = study.user_attrs
    if attrs.get("keep", "frontier") != "frontier":
        return []
    own = own_folder(study) if own == "auto" else own
    if own is None:
        return []
    recs = records(study, curves=False)
    keep = {r["number"] for r in recs if r["on_front"] or r["is_baseline"] or r["status"] in ("running", "waiting")}
    pruned = []
    owners: dict[Path, str | None] = {}

    def mine(folder: Path, number: int) -> bool:
        if folder.name != f"{number:04d}" or folder.parent.name != "trials":
            return False
        home = folder.parent.parent
        if home not in owners:
            owners[home] = (read_marker(home) or {}).get("uid")
        return owners[home] == own

    for r in recs:
        folder = Path(r["trial_dir"]) if r.get("trial_dir") else None
        model = folder / "model" if folder is not None and mine(folder, r["number"]) else None
        if r["number"] not in keep and model is not None and model.is_dir():
            shutil.rmtree(model, ignore_errors=True)
            pruned.append(r["number"])
    return pruned
