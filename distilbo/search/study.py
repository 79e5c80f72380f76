"""The Optuna study: storage, sampler, constraints, failures recorded as data, stale trials, plain records.

    study = create_or_load_study(cfg)              # SQLite `study.db` in the run folder unless [run] storage says
    values = record_success(trial, cfg, metrics)    # inside an objective: user attrs + constraints -> objective values
    values = record_failure(trial, cfg, "out of memory: MemoryError")   # a failure the sampler learns from
    print(status_table(records(study)))             # what `distilbo status` prints

Storage: `sqlite:///...` or any SQLAlchemy URL (PostgreSQL for many workers) -> `RDBStorage` with Optuna's heartbeat
(`heartbeat_interval`, `grace_period`); a path ending in `.log` -> `JournalStorage(JournalFileBackend)`. Passwords
in URLs are masked (`mask_url`) in everything this module logs or raises.

Failures steer the search. A trial that runs out of memory, exceeds its time limit or raises is not left as an
Optuna FAIL (which every sampler ignores, so the GP would propose the same region again): it is recorded as
COMPLETE with pessimistic objective values (`pessimistic_metrics`) and the constraint `failed` = +1 (infeasible);
successful trials have `failed` = -1. Optuna 5 samplers (GP, TPE, NSGA-II) read constraints that the objective sets
with `trial.set_constraint` (the samplers' `constraints_func` argument is deprecated), so the GP's constraint model
learns where trials fail. Each `{metric, min, max}` of `[search] constraints` adds the constraint
`min - value` / `value - max` (<= 0 is feasible).

User attrs of every trial (also shown by optuna-dashboard):
    metrics      dict of everything the trial measured (for a failure: only what was known before training)
    is_baseline  True for the enqueued baseline trial
    failure      one-line reason when the trial failed ("out of memory: ...", "timeout after 600 s", ...)
    skipped      reason when the trial was not run because an estimate broke a constraint (infeasible)
    trial_dir    the trial folder (`<run folder>/<study folder>/trials/NNNN`)
    worker       {"host", "pid", "pid_start"} of the process that ran it; `heartbeat` = last time.time() alive
    surplus      why a trial two workers started at once beyond the budget was not run (state PRUNED)
    rung_K       {metrics, continued, peers} at early-stopping rung K (`search.early_stop`)
    stopped_at_rung  K when the search stopped the trial at rung K (state PRUNED; counts toward the budget)
A trial left RUNNING by a dead worker is set to FAIL (`fail_stale_trials`) with `failure` = "worker died ...".

Each study owns a folder in the run folder, `<run folder>/<study folder>/` (`study_dir`): `trials/NNNN/` and
`report/`. The folder name is the study name made filesystem-safe (`folder_name`), stored in the study's user attr
`folder` when the study is created (`claim_study_dir`), with a marker file `.distilbo-study.json` inside; when that
name is taken by another study (another storage with the same study name, or a name that maps to the same folder)
a suffix `-2`, `-3`, ... is added. So two studies never share trial folders, checkpoints or reports, and the
default database `<run folder>/study.db` can hold several studies. Studies made before this layout (trials in
`<run folder>/trials/`) keep their recorded trial folders; their new trials and report go to the study folder.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import random
import re
import secrets
import socket
import time
import warnings
from pathlib import Path
from typing import Any, Callable

import optuna
from optuna.trial import FrozenTrial, Trial, TrialState

from distilbo._secrets import mask_url
from distilbo.config import Config, storage_file
from distilbo.errors import UserError
from distilbo.pareto import pareto_front

log = logging.getLogger(__name__)

FAILED = "failed"
"""Name of the constraint every trial carries: +1 when the trial failed, -1 otherwise."""
SCORE_METRICS = ("exact", "f1", "HasAns_exact", "HasAns_f1", "NoAns_exact", "NoAns_f1", "best_exact", "best_f1",
                 "HasAns_forced_exact", "HasAns_forced_f1")
"""Scores in [0, 100]: their pessimistic value is 0."""
INTERRUPTED = "interrupted (the worker stopped before the trial finished)"


class TrialFailure(Exception):
    """A trial failed; the message is the one-line reason recorded in the `failure` user attr."""


class TrialLost(Exception):
    """The trial's worker or node was lost (an executor's fault, not the trial's): the trial is left FAIL with this
    reason in its `failure` user attr, does not count toward the budget, and the search goes on."""


# ---------------------------------------------------------------------------------------------- storage
def _mask_in(text: str, url: str) -> str:
    """`text` with the URL's password removed wherever it appears (driver errors may quote it)."""
    auth = re.match(r"[^:]*://([^:/@]*):(.*)@", re.split(r"[?#]", url, maxsplit=1)[0])
    text = text.replace(url, mask_url(url))
    return text.replace(auth.group(2), "***") if auth and auth.group(2) else text


def open_storage(cfg: Config, url: str | None = None) -> optuna.storages.BaseStorage:
    """The study's storage: an RDB URL (with heartbeat) or a journal file (`*.log`); UserError if it cannot open."""
    url = url or cfg.storage_url
    s = cfg.search
    local = storage_file(url)
    if local == url:  # a journal file
        if not url.endswith(".log"):
            raise UserError(f"storage {url!r}: not a URL and not a journal file; use sqlite:///PATH.db, "
                            "postgresql://USER:PASSWORD@HOST/DB or a file path ending in .log")
        Path(url).parent.mkdir(parents=True, exist_ok=True)
        from optuna.storages.journal import JournalFileBackend, JournalStorage

        return JournalStorage(JournalFileBackend(url))
    kwargs: dict[str, Any] = {}
    if url.startswith(("postgresql://", "postgres://")) and _has("psycopg2") and not _has("psycopg"):
        # SQLAlchemy 2.1 defaults to the psycopg 3 driver; the `postgres` extra installs psycopg2-binary
        driver_url = "postgresql+psycopg2://" + url.split("://", 1)[1]
    else:
        driver_url = url
    if url.startswith("sqlite:///"):
        if local is not None:
            Path(local).parent.mkdir(parents=True, exist_ok=True)
        kwargs = {"connect_args": {"timeout": 60}}  # several local workers share the file
    for attempt in range(6):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return optuna.storages.RDBStorage(driver_url, engine_kwargs=kwargs,
                                                  heartbeat_interval=s.heartbeat_interval, grace_period=s.grace_period)
        except Exception as e:  # noqa: BLE001  (driver missing, server down, bad URL: all the user's to fix)
            if attempt < 5 and _schema_race(e):  # workers starting at once on a fresh database all create the tables
                time.sleep(0.2 + 0.3 * attempt * random.random())
                continue
            reason = _mask_in(" ".join(str(e).split()), url)[:300]
            raise UserError(f"storage {mask_url(url)}: cannot open ({type(e).__name__}: {reason}); check the URL "
                            "(sqlite:///PATH.db, postgresql://USER:PASSWORD@HOST/DB or a .log file), the server and "
                            "that its driver is installed (pip install 'distilbo[postgres]')") from None
    raise AssertionError("unreachable")


def _schema_race(e: BaseException) -> bool:
    """True when creating the storage's tables failed because another process created them at the same moment."""
    text = f"{type(e).__name__} {e}".lower()
    return any(h in text for h in ("already exists", "uniqueviolation", "duplicate key", "integrityerror"))


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


class QmcThenGp(optuna.samplers.BaseSampler):
    """Scrambled-Sobol (quasi-random) start-up trials, then Optuna's GPSampler (constrained log-EHVI).

    GPSampler's own start-up draws from its independent sampler one parameter at a time, which for a QMCSampler
    falls back to plain random; this wrapper hands whole start-up trials to QMCSampler's joint (relative) sampling.
    The Sobol stream is seeded by `qmc_seed`, the study's own seed, never the per-process one: QMCSampler keeps
    its sample index in the study (a system attr keyed by the seed), so a resumed study, or several workers on one
    study, continue one Sobol sequence with no repeated point (a per-process seed would start a new sequence).
    QMCSampler draws a study's very first trial at random (it needs one trial to know the search space); with the
    baseline enqueued (the default), that first trial is the baseline."""

    def __init__(self, *, seed: int | None, n_startup_trials: int, qmc_seed: int | None = None,
                 stopped: Callable[[list[FrozenTrial]], list[FrozenTrial]] | None = None) -> None:
        self._n_startup, self._stopped = n_startup_trials, stopped
        qmc_seed = seed if qmc_seed is None else qmc_seed
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            self._qmc = optuna.samplers.QMCSampler(seed=qmc_seed, scramble=True, warn_independent_sampling=False)
            self._gp = optuna.samplers.GPSampler(seed=seed, n_startup_trials=n_startup_trials,
                                                 deterministic_objective=False)

    def _view(self, study: optuna.Study) -> optuna.Study:
        from distilbo.search.early_stop import stopped_view

        return stopped_view(study, self._stopped)  # type: ignore[no-any-return]

    def _active(self, study: optuna.Study) -> optuna.samplers.BaseSampler:
        done = len(study._get_trials(deepcopy=False, states=(TrialState.COMPLETE,), use_cache=True))
        return self._qmc if done < self._n_startup else self._gp

    def infer_relative_search_space(self, study, trial):  # type: ignore[no-untyped-def]
        return self._active(self._view(study)).infer_relative_search_space(study, trial)

    def sample_relative(self, study, trial, search_space):  # type: ignore[no-untyped-def]
        view = self._view(study)
        sampler = self._active(view)
        return sampler.sample_relative(view if sampler is self._gp else study, trial, search_space)

    def sample_independent(self, study, trial, param_name, param_distribution):  # type: ignore[no-untyped-def]
        # the same start-up count as sample_relative (stopped trials included), so one trial never mixes the two
        return self._active(self._view(study)).sample_independent(study, trial, param_name, param_distribution)

    def before_trial(self, study, trial):  # type: ignore[no-untyped-def]
        self._qmc.before_trial(study, trial)
        self._gp.before_trial(study, trial)

    def after_trial(self, study, trial, state, values):  # type: ignore[no-untyped-def]
        self._qmc.after_trial(study, trial, state, values)
        self._gp.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self._qmc.reseed_rng()
        self._gp.reseed_rng()


class PerProcessSeed(optuna.samplers.BaseSampler):
    """Delegates to `build(seed)`; rebuilt once with a seed mixed with the number of the first trial this process
    runs when that is not trial 0.

    One process on a fresh study is therefore exactly as reproducible as the plain sampler (its first trial is 0),
    while several processes started with the same config on one study (hosts sharing a PostgreSQL database) do not
    draw the same points: trial numbers are unique across workers, so their seeds differ."""

    def __init__(self, build: Any, seed: int | None) -> None:
        self._build, self._seed, self._first = build, seed, True
        self._inner = build(seed)

    def before_trial(self, study, trial):  # type: ignore[no-untyped-def]
        if self._first:
            self._first = False
            if trial.number and self._seed is not None:
                digest = hashlib.sha256(f"{self._seed}:{trial.number}".encode()).digest()
                self._inner = self._build(int.from_bytes(digest[:4], "little"))
        self._inner.before_trial(study, trial)

    def infer_relative_search_space(self, study, trial):  # type: ignore[no-untyped-def]
        return self._inner.infer_relative_search_space(study, trial)

    def sample_relative(self, study, trial, search_space):  # type: ignore[no-untyped-def]
        return self._inner.sample_relative(study, trial, search_space)

    def sample_independent(self, study, trial, param_name, param_distribution):  # type: ignore[no-untyped-def]
        return self._inner.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(self, study, trial, state, values):  # type: ignore[no-untyped-def]
        self._inner.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self._inner.reseed_rng()


def make_sampler(cfg: Config, *, seed: int | None = None,
                 estimate: Any = None) -> optuna.samplers.BaseSampler:
    """The `[search] sampler`: botorch (constrained qLogNEHVI, failures and exact metrics modeled apart), gp
    (Optuna's constrained log-EHVI), tpe, nsga2 or random; seeded by `[run] seed` (see `PerProcessSeed` for several
    processes on one study). `estimate(cfg) -> dict` is the search's pre-training estimate: with botorch, the
    objectives and constraint metrics it returns are modeled exactly."""
    seed = cfg.run.seed if seed is None else seed
    known = _known_fn(cfg, estimate) if estimate is not None else None
    return PerProcessSeed(lambda s: _base_sampler(cfg, seed=s, qmc_seed=seed, known=known), seed)


def _known_fn(cfg: Config, estimate: Any) -> Any:
    """params -> estimate of the trial config they make (the space's fixed values applied too)."""
    from distilbo.config import parse_space

    fixed = {p.name: p.value for p in parse_space(cfg.search.space, where=cfg.source) if p.kind == "fixed"}
    return lambda params: dict(estimate(cfg.with_overrides({**fixed, **params}, origin="sampler")) or {})


def _base_sampler(cfg: Config, *, seed: int | None, qmc_seed: int | None = None,
                  known: Any = None) -> optuna.samplers.BaseSampler:
    s = cfg.search
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if s.sampler == "botorch":
            from distilbo.search._botorch import QmcThenBoTorch

            return QmcThenBoTorch(seed=seed, n_startup_trials=s.n_startup_trials, objectives=s.objectives,
                                  constraints=s.constraints, known=known, qmc_seed=qmc_seed,
                                  stopped=_stopped_fn(cfg))
        if s.sampler == "gp":
            return QmcThenGp(seed=seed, n_startup_trials=s.n_startup_trials, qmc_seed=qmc_seed,
                             stopped=_stopped_fn(cfg))
        if s.sampler == "tpe":
            return optuna.samplers.TPESampler(seed=seed, n_startup_trials=s.n_startup_trials, multivariate=True,
                                              constant_liar=True)
        if s.sampler == "nsga2":
            return optuna.samplers.NSGAIISampler(seed=seed, population_size=max(4, min(50, s.n_trials // 4)))
        return optuna.samplers.RandomSampler(seed=seed)


def _stopped_fn(cfg: Config) -> Callable[[list[FrozenTrial]], list[FrozenTrial]] | None:
    """trials -> their stopped ones as predicted finished trials (`early_stop.stopped_as_finished`), or None
    when the search stops no trial (no rungs)."""
    if not cfg.search.rungs:
        return None
    from distilbo.search.early_stop import stopped_as_finished

    objectives = list(cfg.search.objectives)
    needed = [c["metric"] for c in cfg.search.constraints]
    return lambda trials: stopped_as_finished(trials, objectives, needed,
                                              constraints=lambda m: constraint_values(cfg, m, failed=False))


def constraint_names(cfg: Config) -> list[str]:
    """Constraint keys in the order every trial sets them: the config's, then `failed`."""
    names = []
    for c in cfg.search.constraints:
        if "min" in c:
            names.append(f"{c['metric']}>={c['min']:g}")
        if "max" in c:
            names.append(f"{c['metric']}<={c['max']:g}")
    return names + [FAILED]


def create_or_load_study(cfg: Config, *, seed: int | None = None, estimate: Any = None) -> optuna.Study:
    """Create the study, or load it to resume. Directions and metric names come from `[search] objectives`;
    a stored study with other objectives or constraints is a UserError. Trials left RUNNING by dead workers are
    failed first (they would otherwise count as pending points for the GP and hold budget). The storage and the
    study are the config's (`cfg.storage_url`, `[run] study`: the CLI's --storage/--study land there)."""
    url = cfg.storage_url
    name = cfg.run.study
    objectives = [o["metric"] for o in cfg.search.objectives]
    directions = [o["direction"] for o in cfg.search.objectives]
    store = open_storage(cfg, url)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study = optuna.create_study(storage=store, study_name=name, directions=directions,
                                    sampler=make_sampler(cfg, seed=seed, estimate=estimate), load_if_exists=True)
    have = [d.name.lower() for d in study.directions]
    have_metrics = study.metric_names
    have_constraints = study.user_attrs.get("constraints")
    wanted = ", ".join(f"{m} ({d})" for m, d in zip(objectives, directions))
    if have != directions or (have_metrics is not None and list(have_metrics) != objectives):
        stored = ", ".join(f"{m} ({d})" for m, d in zip(have_metrics or ["?"] * len(have), have))
        raise UserError(f"study '{name}' in {mask_url(url)} has objectives {stored}, the config asks for {wanted}; "
                        "use another study name (--study NAME) or run folder, or restore [search] objectives")
    if have_constraints is not None and have_constraints != constraint_names(cfg):
        raise UserError(f"study '{name}' in {mask_url(url)} has constraints {have_constraints[:-1]}, the config "
                        f"asks for {constraint_names(cfg)[:-1]}; use another study name (--study NAME) or run "
                        "folder, or restore [search] constraints")
    if have_metrics is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names(objectives)
    if have_constraints is None:
        study.set_user_attr("constraints", constraint_names(cfg))
        study.set_user_attr("objectives", list(cfg.search.objectives))
    if study.user_attrs.get("keep") != cfg.search.keep:  # the disk budget of this run (`--keep`)
        study.set_user_attr("keep", cfg.search.keep)
    claim_study_dir(cfg, study, url=url)
    fail_stale_trials(study, grace_period=cfg.search.grace_period)
    return study


# ---------------------------------------------------------------------------------------------- the study's folder
STUDY_MARKER = ".distilbo-study.json"
"""In every study folder: {study, storage (password masked), uid}; says which study owns the folder."""


def folder_name(study_name: str) -> str:
    """A study name as a folder name: letters, digits, `.`, `_` and `-` kept, every other run of characters
    replaced by `-`, no leading dot, at most 80 characters (`"my study/v2"` -> `"my-study-v2"`)."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", study_name).strip("-.")[:80].strip("-.")
    return slug or "study"


def _marker(folder: Path) -> dict[str, Any] | None:
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
    url = mask_url(_storage_label(study, cfg))
    for cand in _candidates(study.study_name):
        folder = cfg.run_dir / cand
        mark = _marker(folder)
        if _free(folder) or (mark is not None and mark.get("study") == study.study_name and mark.get("storage") == url):
            return folder
    raise AssertionError("unreachable")


def _storage_label(study: optuna.Study, cfg: Config) -> str:
    return getattr(study, "_distilbo_url", None) or cfg.storage_url


def claim_study_dir(cfg: Config, study: optuna.Study, *, url: str | None = None) -> Path:
    """Give the study its folder (user attrs `folder`, `folder_uid`; the marker file) unless it has one, and
    return it. UserError when the folder the study has holds another study's marker (another run folder)."""
    url = url or cfg.storage_url
    study._distilbo_url = url  # type: ignore[attr-defined]  (for study_dir's marker check)
    attrs = study.user_attrs
    name, uid = attrs.get("folder"), attrs.get("folder_uid")
    if isinstance(name, str) and name:
        folder = cfg.run_dir / name
        mark = _marker(folder)
        if mark is not None and uid and mark.get("uid") != uid:
            raise UserError(f"study '{study.study_name}' in {mask_url(url)}: its folder {folder} belongs to another "
                            f"study ('{mark.get('study')}' in {mark.get('storage')}); pass another run folder "
                            "(--set out=DIR)")
        if mark is None:
            _write_marker(folder, study.study_name, url, uid or "")
        return folder
    folder = study_dir(cfg, study)
    uid = secrets.token_hex(8)
    _write_marker(folder, study.study_name, url, uid)
    study.set_user_attr("folder", folder.name)
    study.set_user_attr("folder_uid", uid)
    return folder


def _write_marker(folder: Path, study_name: str, url: str, uid: str) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".{STUDY_MARKER}.tmp{os.getpid()}"
        tmp.write_text(json.dumps({"study": study_name, "storage": mask_url(url), "uid": uid}, indent=1),
                       encoding="utf-8")
        os.replace(tmp, folder / STUDY_MARKER)
    except OSError as e:
        raise UserError(f"study folder {folder}: cannot write ({e.strerror or e}); free disk space, fix its "
                        "permissions or pick another run folder with --set out=DIR") from None


# ---------------------------------------------------------------------------------------------- workers alive?
def _process_start(pid: int) -> float | None:
    """Start time of a running process, or None when there is none (zombies count as gone)."""
    import psutil

    try:
        p = psutil.Process(pid)
        return None if p.status() == psutil.STATUS_ZOMBIE else p.create_time()
    except psutil.NoSuchProcess:
        return None
    except psutil.AccessDenied:
        return math.nan  # someone else's process: alive, start unknown


def worker_identity() -> dict[str, Any]:
    """{"host", "pid", "pid_start"}: enough to tell later whether this process is still alive."""
    return {"host": socket.gethostname(), "pid": os.getpid(), "pid_start": _process_start(os.getpid())}


def claim_trial(trial: Trial) -> None:
    """Record which process runs the trial (user attrs `worker`, `heartbeat`)."""
    trial.set_user_attr("worker", worker_identity())
    trial.set_user_attr("heartbeat", time.time())


def _stale_reason(t: FrozenTrial, *, grace_period: float, now: float) -> str | None:
    """Why RUNNING trial `t` is abandoned, or None while its worker may still be at it."""
    owner = t.user_attrs.get("worker")
    if isinstance(owner, dict) and owner.get("host") == socket.gethostname():
        pid, started = owner.get("pid"), owner.get("pid_start")
        if pid == os.getpid():
            return None  # this very process runs it
        alive = _process_start(int(pid)) if isinstance(pid, int) else None
        if alive is None or (started is not None and not math.isnan(alive) and abs(alive - started) > 1.0):
            return f"worker died (pid {pid} on {owner['host']}); {INTERRUPTED}"
        return None
    last = t.user_attrs.get("heartbeat")
    if not isinstance(last, (int, float)):
        last = t.datetime_start.timestamp() if t.datetime_start else None
    if last is not None and now - last > grace_period:
        return f"worker died (no heartbeat for {now - last:.0f} s); {INTERRUPTED}"
    return None


def fail_stale_trials(study: optuna.Study, *, grace_period: float) -> list[int]:
    """Set RUNNING trials whose worker is dead to FAIL with a `failure` reason; returns their numbers.

    A local worker is dead when its pid is gone (or reused: other start time); a remote one when its `heartbeat`
    is older than `grace_period` s. Journal storage has no Optuna heartbeat, so this is what resumes it."""
    now, failed = time.time(), []
    storage = study._storage  # noqa: SLF001  (Optuna's own fail_stale_trials works the same way)
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        reason = _stale_reason(t, grace_period=grace_period, now=now)
        if reason is None:
            continue
        try:
            storage.set_trial_user_attr(t._trial_id, "failure", reason)  # noqa: SLF001
            if storage.set_trial_state_values(t._trial_id, state=TrialState.FAIL):  # noqa: SLF001
                failed.append(t.number)
                log.warning("trial %d: %s", t.number, reason)
        except optuna.exceptions.UpdateFinishedTrialError:
            pass  # another process finished or failed it meanwhile
    return failed


# ---------------------------------------------------------------------------------------------- trial outcome
def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def check_metrics(cfg: Config, metrics: Any) -> dict[str, Any]:
    """The trial's metrics, or TrialFailure when an objective or constraint metric is missing or not finite."""
    if not isinstance(metrics, dict):
        raise TrialFailure(f"the trial returned {type(metrics).__name__}, not a dict of metrics")
    needed = [o["metric"] for o in cfg.search.objectives] + [c["metric"] for c in cfg.search.constraints]
    for m in dict.fromkeys(needed):
        if m not in metrics:
            raise TrialFailure(f"the trial's metrics have no '{m}' (it returned: {', '.join(map(str, metrics)) or 'none'})")
        if not _is_number(metrics[m]):
            raise TrialFailure(f"{m} = {metrics[m]!r} (not a finite number)")
    return metrics


def objective_values(cfg: Config, metrics: dict[str, Any]) -> list[float]:
    return [float(metrics[o["metric"]]) for o in cfg.search.objectives]


def constraint_values(cfg: Config, metrics: dict[str, Any], *, failed: bool) -> dict[str, float]:
    """{name: value} in `constraint_names` order; <= 0 is feasible."""
    out = {}
    for c in cfg.search.constraints:
        v = float(metrics[c["metric"]])
        if "min" in c:
            out[f"{c['metric']}>={c['min']:g}"] = float(c["min"]) - v
        if "max" in c:
            out[f"{c['metric']}<={c['max']:g}"] = v - float(c["max"])
    out[FAILED] = 1.0 if failed else -1.0
    return out


def violated(cfg: Config, known: dict[str, Any]) -> str | None:
    """Why the metrics `known` before training (e.g. num_parameters) already break a constraint, or None."""
    for c in cfg.search.constraints:
        v = known.get(c["metric"])
        if not _is_number(v):
            continue
        if "max" in c and v > c["max"]:
            return f"{c['metric']} {v:.4g} > max {c['max']:.4g} (estimated before training)"
        if "min" in c and v < c["min"]:
            return f"{c['metric']} {v:.4g} < min {c['min']:.4g} (estimated before training)"
    return None


def _bad_direction(cfg: Config, metric: str) -> str:
    """'maximize' when low values of `metric` are bad, else 'minimize'."""
    for o in cfg.search.objectives:
        if o["metric"] == metric:
            return o["direction"]
    for c in cfg.search.constraints:
        if c["metric"] == metric:
            return "maximize" if "min" in c else "minimize"
    return "maximize"


def pessimistic_metrics(study: optuna.Study, cfg: Config, *, known: dict[str, Any] | None = None,
                        overrides: dict[str, float] | None = None) -> dict[str, float]:
    """Values recorded for a failed trial, per objective/constraint metric, first that applies:
    the value known before training (`known`, e.g. num_parameters from the spec); `overrides[metric]`;
    0 for a maximized score (exact, f1, ...); the worst value any successful trial reached so far; 0."""
    known, overrides = known or {}, overrides or {}
    ok = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
          if not t.user_attrs.get("failure") and not t.user_attrs.get("skipped")]
    out = {}
    for m in dict.fromkeys([o["metric"] for o in cfg.search.objectives] + [c["metric"] for c in cfg.search.constraints]):
        direction = _bad_direction(cfg, m)
        seen = [t.user_attrs["metrics"][m] for t in ok if _is_number(t.user_attrs.get("metrics", {}).get(m))]
        if _is_number(known.get(m)):
            out[m] = float(known[m])
        elif m in overrides:
            out[m] = float(overrides[m])
        elif m in SCORE_METRICS and direction == "maximize":
            out[m] = 0.0
        elif seen:
            out[m] = float(min(seen) if direction == "maximize" else max(seen))
        else:
            out[m] = 0.0
    return out


def _set_constraints(trial: Trial, constraints: dict[str, float]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "already set" on a retried trial is harmless
        for k, v in constraints.items():
            trial.set_constraint(k, v)


def record_success(trial: Trial, cfg: Config, metrics: dict[str, Any]) -> list[float]:
    """Store the metrics and constraints of a trial that ran; returns its objective values (for `tell`)."""
    metrics = check_metrics(cfg, metrics)
    trial.set_user_attr("metrics", _jsonable(metrics))
    _set_constraints(trial, constraint_values(cfg, metrics, failed=False))
    return objective_values(cfg, metrics)


def record_failure(trial: Trial, cfg: Config, reason: str, *, known: dict[str, Any] | None = None,
                   pessimistic: dict[str, float] | None = None, skipped: bool = False) -> list[float]:
    """Record a failed (or, with `skipped`, a not-run infeasible) trial as data the sampler learns from:
    user attr `failure` (or `skipped`) = reason, pessimistic objective values, constraints violated.
    Returns the objective values to complete the trial with."""
    reason = " ".join(str(reason).split())[:300] or "failed"
    values = pessimistic_metrics(trial.study, cfg, known=known, overrides=pessimistic)
    trial.set_user_attr("skipped" if skipped else "failure", reason)
    trial.set_user_attr("metrics", _jsonable({k: v for k, v in (known or {}).items() if _is_number(v)}))
    _set_constraints(trial, constraint_values(cfg, values, failed=not skipped))
    return objective_values(cfg, values)


def record_stopped(trial: Trial, rung: int, *, known: dict[str, Any] | None = None) -> None:
    """Record a trial the search stopped at a rung (`search.early_stop`; the caller then raises TrialPruned):
    user attr `stopped_at_rung`, `metrics` = only what was known before training (the rung scores stay in
    `rung_K`, never taken for final ones), and its checkpoint folder removed if the trial left one."""
    import shutil

    trial.set_user_attr("stopped_at_rung", int(rung))
    trial.set_user_attr("metrics", _jsonable({k: v for k, v in (known or {}).items() if _is_number(v)}))
    folder = trial.user_attrs.get("trial_dir")
    if folder:
        shutil.rmtree(Path(folder) / "model", ignore_errors=True)


def is_finished(t: FrozenTrial) -> bool:
    """A trial that counts toward the budget: COMPLETE (failures and skipped ones included) or stopped at a rung."""
    return t.state == TrialState.COMPLETE or (t.state == TrialState.PRUNED and "stopped_at_rung" in t.user_attrs)


def _jsonable(d: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in d.items():
        if isinstance(v, (bool, int, str)) or v is None:
            out[k] = v
        elif isinstance(v, float) or hasattr(v, "__float__"):
            out[k] = float(v)
        else:
            out[k] = str(v)
    return out


# ---------------------------------------------------------------------------------------------- records
def _feasible(t: FrozenTrial) -> bool:
    return t.state == TrialState.COMPLETE and all(v <= 0.0 for v in t.constraints.values())


def _read_curves(trial_dir: str | None) -> list[dict]:
    import json

    path = Path(trial_dir) / "curves.jsonl" if trial_dir else None
    if path is None or not path.is_file():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            rows.append(json.loads(line))
        except ValueError:
            continue  # a line cut by a kill
    return rows


def records(study: optuna.Study, *, curves: bool = True) -> list[dict[str, Any]]:
    """One plain dict per trial, by number: {number, state, status, params, metrics, values, constraints, failure,
    skipped, is_baseline, feasible, on_front, datetime_start, duration_s, trial_dir, curves, surplus, stopped_at_rung,
    rungs}.

    `status` is "ok", "failed", "skipped", "interrupted", "running", "waiting", "stopped" (stopped early at rung
    `stopped_at_rung`; `rungs` holds {K: {metrics, continued, peers}} of every rung it reached) or "pruned" (a trial
    two workers started at once beyond the budget, never run; `surplus` says why); a recorded failure has state COMPLETE
    (pessimistic values) and `failure` set; an Optuna FAIL without a reason gets INTERRUPTED."""
    trials = study.get_trials(deepcopy=False)
    out = []
    for t in trials:
        ua = t.user_attrs
        failure = ua.get("failure") or (INTERRUPTED if t.state == TrialState.FAIL else None)
        if t.state == TrialState.COMPLETE:
            status = "skipped" if ua.get("skipped") else "failed" if failure else "ok"
        elif t.state == TrialState.FAIL:
            status = "interrupted" if failure.startswith("worker died") or failure == INTERRUPTED else "failed"
        elif "stopped_at_rung" in ua:
            status = "stopped"
        else:
            status = t.state.name.lower()
        duration = (t.datetime_complete - t.datetime_start).total_seconds() if t.datetime_complete and t.datetime_start else None
        out.append({
            "number": t.number, "state": t.state.name, "status": status, "params": dict(t.params),
            "metrics": dict(ua.get("metrics") or {}), "values": list(t.values) if t.values else None,
            "constraints": dict(t.constraints), "failure": failure, "skipped": ua.get("skipped"),
            "is_baseline": bool(ua.get("is_baseline", False)), "feasible": _feasible(t),
            "on_front": False,
            "datetime_start": t.datetime_start.isoformat() if t.datetime_start else None, "duration_s": duration,
            "trial_dir": ua.get("trial_dir"), "curves": _read_curves(ua.get("trial_dir")) if curves else [],
            "surplus": ua.get("surplus"), "stopped_at_rung": ua.get("stopped_at_rung"),
            "rungs": {int(k[5:]): v for k, v in ua.items() if k.startswith("rung_") and k[5:].isdigit()},
        })
    # the one front (distilbo.pareto): finished trials, Optuna's constraints as `feasible`, the study's objectives
    objectives = study.user_attrs.get("objectives") or []
    if objectives:
        for r in pareto_front([r for r in out if r["status"] == "ok"], objectives, []):
            r["on_front"] = True
    return out


def front_records(study: optuna.Study) -> list[dict[str, Any]]:
    """Records of the feasible, non-dominated trials (`distilbo.pareto.pareto_front` over `records`)."""
    return [r for r in records(study) if r["on_front"]]


def _fmt(v: Any) -> str:
    if isinstance(v, bool) or v is None:
        return "" if v is None else str(v)
    if isinstance(v, float):
        return f"{v:.3g}" if abs(v) < 1e-2 or abs(v) >= 1e4 else f"{v:.4g}"
    if isinstance(v, int) and abs(v) >= 100_000:
        return f"{v / 1e6:.2f}M"
    return str(v)


def _param_order(names: list[str]) -> list[str]:
    """Searched parameters, architecture ([student] settings) first, then [train], each in config order."""
    from distilbo.config import FIELD_SECTION

    order = {n: i for i, n in enumerate(FIELD_SECTION)}
    rank = {"student": 0, "train": 1}
    return sorted(names, key=lambda n: (rank.get(FIELD_SECTION.get(n, ""), 2), order.get(n, len(order))))


def _misses(r: dict[str, Any]) -> list[str]:
    """The config constraints a trial that ran missed: `exact>=50 (exact 41.2)`."""
    out = []
    for name, v in (r.get("constraints") or {}).items():
        if name == FAILED or not _is_number(v) or v <= 0:
            continue
        metric = re.split(r"[<>]=", name, maxsplit=1)[0]
        value = r["metrics"].get(metric)
        out.append(f"{name} ({metric} {_fmt(value)})" if value is not None else name)
    return out


def _stopped_note(r: dict[str, Any]) -> str:
    """`stopped at rung 1 (HasAns_forced_f1 31.2 on 200 q, 7 peers)`: the rung scores that stopped the trial."""
    k = r["stopped_at_rung"]
    rung = (r.get("rungs") or {}).get(k) or {}
    m = rung.get("metrics") or {}
    shown = [f"{name} {_fmt(m[name])}" for name in ("HasAns_forced_f1", "exact") if _is_number(m.get(name))][:1]
    where = f" on {int(m['rung_questions'])} q" if _is_number(m.get("rung_questions")) else ""
    peers = f", {rung['peers']} peers" if _is_number(rung.get("peers")) else ""
    return f"stopped at rung {k}" + (f" ({shown[0]}{where}{peers})" if shown else "")


def _running_note(r: dict[str, Any]) -> str:
    """What a running trial is doing, from its progress.json: `training, epoch 1.25/2, step 120/400, loss 2.31`."""
    from distilbo import progress

    st = progress.read(r["trial_dir"]) if r.get("trial_dir") else None
    if st is None:
        return ""
    parts = [st["phase"]]
    if st["phase"] in ("training", "evaluating") and _is_number(st.get("total_steps")):
        if _is_number(st.get("epoch")) and _is_number(st.get("epochs")):
            parts.append(f"epoch {st['epoch']:.2f}/{st['epochs']:g}")
        parts.append(f"step {st.get('step', 0)}/{st['total_steps']}")
        if _is_number(st.get("loss")):
            parts.append(f"loss {st['loss']:.3g}")
    return ", ".join(parts)


NOTE_MIN = 12
"""Characters kept for the failure / note column (a fifth of the width on wider terminals) before parameter
columns are added (`status_table`)."""


def status_table(recs: list[dict[str, Any]], *, width: int | None = None, metrics: tuple[str, ...] = ("exact", "f1"),
                 columns: list[str] | None = None) -> str:
    """A text table for `distilbo status`, at most `width` characters wide (default: the terminal's width).

    Columns: #, status, `metrics` (the study's objectives first), params, latency, then one column per searched
    parameter, architecture first, as many as fit, and the failure / note (cut to what is left). `columns` (names
    of searched parameters and metrics) replaces everything between status and the note, in that order. `*` marks
    the baseline, `F` the Pareto front; a trial that ran but misses a constraint of the study is "ok (infeasible)"
    and its note names the constraint; a running trial's note is its progress (phase, epoch, step, loss)."""
    import shutil
    import textwrap

    width = width or shutil.get_terminal_size().columns
    ok = [r["status"] == "ok" for r in recs]
    misses = [_misses(r) if good else [] for r, good in zip(recs, ok)]
    params = _param_order(list(dict.fromkeys(k for r in recs for k in r["params"])))

    def metric_col(k: str) -> list[str]:
        return [_fmt(r["metrics"].get(k)) if good else "" for r, good in zip(recs, ok)]

    def size_col() -> list[str]:
        return [f"{r['metrics']['num_parameters'] / 1e6:.2f}M" if _is_number(r["metrics"].get("num_parameters"))
                else "" for r in recs]

    cols: dict[str, list[str]] = {
        "#": [f"{r['number']}{'*' if r['is_baseline'] else ''}{'F' if r['on_front'] else ''}" for r in recs],
        "status": ["ok (infeasible)" if miss else r["status"] for r, miss in zip(recs, misses)]}
    if columns is None:
        for k in dict.fromkeys(m for m in metrics if m not in ("num_parameters", "latency_ms")):
            cols[k] = metric_col(k)
        cols["params"], cols["lat_ms"] = size_col(), metric_col("latency_ms")
        fixed, optional = list(cols), params
    else:
        known = set().union(*(r["metrics"] for r in recs)) if recs else set()
        for k in columns:
            if k in params:
                cols[k] = [_fmt(r["params"].get(k)) for r in recs]
            elif k in ("params", "num_parameters"):
                cols[k] = size_col()
            elif k in known or k in metrics:
                cols[k] = metric_col(k)
            else:
                raise UserError(f"--columns {k}: not a column of this study; pick from the searched parameters "
                                f"({', '.join(params) or 'none'}) and the metrics ({', '.join(sorted(known)) or 'none'})")
        fixed, optional = list(cols), []
    for k in optional:
        cols[k] = [_fmt(r["params"].get(k)) for r in recs]
    notes = []
    for r, miss in zip(recs, misses):
        note = r["failure"] or (f"skipped: {r['skipped']}" if r["skipped"] else "") or (
            f"not run: {r['surplus']}" if r.get("surplus") else "") or (
            _stopped_note(r) if r.get("stopped_at_rung") is not None else "")
        if miss:
            note = "misses " + "; ".join(miss)
        elif r["status"] == "running":
            note = _running_note(r)
        notes.append(note)
    w = {k: max(len(k), *(len(c) for c in v)) if v else len(k) for k, v in cols.items()}

    def total(names: list[str]) -> int:
        return sum(w[k] for k in names) + 2 * (len(names) - 1)

    chosen = list(fixed)
    if columns is None:
        while len(chosen) > 2 and total(chosen) > width:
            chosen.pop()
    longest_note = max((len(n) for n in notes), default=0)
    reserve = min(max(NOTE_MIN, width // 5), longest_note) + 2 if longest_note else 0
    hidden = []
    for k in optional:
        if not hidden and total(chosen + [k]) + reserve <= width:
            chosen.append(k)
        else:
            hidden.append(k)
    room = width - total(chosen) - 2  # what is left for the last column, the failure / note
    if longest_note and room >= min(longest_note, 8):
        cols["failure / note"] = [n if len(n) <= room else n[:room - 3] + "..." for n in notes]
        w["failure / note"] = 0  # the last column: not padded
        chosen.append("failure / note")
    lines = ["  ".join(cells).rstrip() for cells in
             zip(*[[k.ljust(w[k])] + [c.ljust(w[k]) for c in cols[k]] for k in chosen])]
    if columns is None:
        lines = [ln[:width] for ln in lines]
    done = sum(r["state"] == "COMPLETE" or r["status"] == "stopped" for r in recs)
    failed = sum(r["status"] in ("failed", "interrupted") for r in recs)
    infeasible = sum(bool(m) for m in misses)
    stopped = sum(r["status"] == "stopped" for r in recs)
    foot = (f"{done} finished ({failed} failed{f', {infeasible} infeasible' if infeasible else ''}"
            f"{f', {stopped} stopped early' if stopped else ''}), "
            f"{sum(r['status'] == 'running' for r in recs)} running; * baseline, F Pareto front")
    lines += textwrap.wrap(foot, width)
    if hidden:
        more = f"not shown: {', '.join(hidden)} (a wider terminal, or --columns NAME,...)"
        for i in range(len(hidden) - 1, 0, -1):
            if len(more) <= width:
                break
            more = f"not shown: {', '.join(hidden[:i])} and {len(hidden) - i} more (--columns NAME,...)"
        lines.append(more[:width])
    return "\n".join(lines)


def load_study(cfg: Config) -> optuna.Study:
    """The config's existing study, read-only (never creates one): UserError naming the storage and the fix when
    absent."""
    url = cfg.storage_url
    name = cfg.run.study
    local_file = storage_file(url)
    if local_file is not None and not Path(local_file).is_file():
        raise UserError(f"no study at {mask_url(url)}; run `distilbo search` first or pass --storage/--study")
    store = open_storage(cfg, url)
    try:
        study = optuna.load_study(study_name=name, storage=store)
    except KeyError:
        names = optuna.get_all_study_names(store)
        raise UserError(f"no study '{name}' in {mask_url(url)} (it has: {', '.join(names) or 'none'}); "
                        "pass --study NAME") from None
    study._distilbo_url = url  # type: ignore[attr-defined]  (study_dir's marker check)
    return study


def status(cfg: Config, *, width: int | None = None, columns: list[str] | None = None) -> str:
    """`distilbo status`: the trials table of the config's study (UserError when there is none yet); `width` and
    `columns` as in `status_table`."""
    objectives = tuple(o["metric"] for o in cfg.search.objectives)
    metrics = tuple(dict.fromkeys(objectives + ("exact", "f1")))
    return status_table(records(load_study(cfg), curves=False), metrics=metrics,
                        width=width, columns=columns)
