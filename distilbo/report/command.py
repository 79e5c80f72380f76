"""`distilbo report`: read a study, its parameter importance (`distilbo.search.importance`), write the report files.

    paths = report(load_config("configs/cpu-squad2.toml"))   # -> {"html": ..., "png": ..., "csv": ..., "json": ...}

The glue between the study (search/) and the pure report (report/frontier.py, report/html.py); no Optuna here.
"""

from __future__ import annotations

from pathlib import Path


from distilbo.config import Config


def report(cfg: Config, *, out: str | None = None) -> dict[str, Path]:
    """Write the study's report into `out`, default `<run folder>/<study folder>/report/` (`study.study_dir`)."""
    from distilbo.report.html import write_report
    from distilbo.search.confirm import confirmation_runs
    from distilbo.search.importance import importances
    from distilbo.search.study import load_study, mask_url, records, study_dir

    study = load_study(cfg)
    recs = records(study)
    objectives, constraints = cfg.search.objectives, cfg.search.constraints
    y_metric, x_metric = plotted_metrics(objectives)
    scenarios, confirmed, marks = scenarios_of(cfg, recs, confirmation_runs(study))
    imp, spread = importances(recs, objectives)
    out_dir = Path(out) if out else study_dir(cfg, study) / "report"  # each study its own report
    return write_report(recs, out_dir=out_dir, study_name=study.study_name, objectives=objectives,
                        constraints=constraints, scenarios=scenarios, importances=imp or None,
                        importance_spread=spread or None, storage_label=mask_url(cfg.storage_url),
                        x_metric=x_metric, y_metric=y_metric, confirmed=confirmed or None, marks=marks)


def plotted_metrics(objectives: list[dict]) -> tuple[str, str]:
    """(the first maximized objective, the first minimized one): the report's y and x, the scenarios' metric and
    size (default exact, num_parameters)."""
    y = next((o["metric"] for o in objectives if o["direction"] == "maximize"), "exact")
    x = next((o["metric"] for o in objectives if o["direction"] == "minimize"), "num_parameters")
    return y, x


def scenarios_of(cfg: Config, recs: list[dict], runs: list[dict]) -> tuple[list[dict], list[dict], dict[int, str]]:
    """(scenario rows, confirmed records, their marks): with confirmation runs the scenarios pick among the
    confirmed trials by their mean over seeds (`report.confirmed`), else among all trials by their single draw."""
    from distilbo.report.confirmed import confirmed_marks, confirmed_only, confirmed_records, with_confirmed
    from distilbo.report.frontier import scenario_table

    objectives, constraints = cfg.search.objectives, cfg.search.constraints
    y_metric, x_metric = plotted_metrics(objectives)
    confirmed = confirmed_only(confirmed_records(recs, runs))
    pool = confirmed or recs
    rows = scenario_table(pool, metric=y_metric, size_metric=x_metric, size_tolerance=cfg.report.size_tolerance,
                          exact_tolerance=cfg.report.exact_tolerance, objectives=objectives, constraints=constraints)
    if confirmed:
        rows = with_confirmed(rows, confirmed, metric=y_metric)
    return rows, confirmed, confirmed_marks(confirmed, objectives, constraints)
