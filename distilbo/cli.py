"""The `distilbo` command line: each subcommand is a thin call into one library function.

    distilbo --help
    distilbo search --config configs/cpu-squad2.toml --trials 6
    distilbo evaluate --model ../shared/teachers/minilm-l6-h384-squad2 --data ../shared/data/squad2/dev.json

Bad input (config, flags, data, model folders, storage) prints one line `distilbo: error: ...` and exits 2.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from typing import Any, Sequence

from distilbo.config import SAMPLERS, DataConfig, TrainConfig
from distilbo.errors import UserError

DEFAULT_CONFIG = "configs/cpu-squad2.toml"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2 (argparse prints usage first by default)
        raise UserError(f"{self.prog}: {message} (see `{self.prog} --help`)")


_STUDY_SETTINGS = ("out", "study", "storage", "objectives")
COMMAND_SETTINGS: dict[str, tuple[str, ...]] = {
    "status": _STUDY_SETTINGS,
    "report": (*_STUDY_SETTINGS, "constraints", "size_tolerance", "exact_tolerance"),
    # export re-scores the model on the config's dev set and times it (distilbo/export.py)
    "export": (*_STUDY_SETTINGS, "constraints", "sampler", "size_tolerance", "exact_tolerance", "cache_dir",
               "dev_file", "version_2_with_negative", "max_seq_length", "doc_stride", "max_query_length",
               "max_eval_samples", "n_best_size", "max_answer_length", "null_score_diff_threshold",
               "eval_batch_size", "latency_batch_size", "latency_repeats"),
}
"""The settings each command that takes --config but runs no training reads (its --help lists only these)."""


def settings_help(names: Sequence[str] | None = None, *, width: int | None = None) -> str:
    """The flat settings `names` (default: every one) with section and docstring, each docstring in full (wrapped):
    the epilog of the commands that take --config."""
    import shutil
    import textwrap

    from distilbo.config import FIELD_DOCS, FIELD_SECTION

    width = width or min(140, max(70, shutil.get_terminal_size().columns - 2))
    chosen = [n for n in FIELD_SECTION if names is None or n in names]
    if names is None:
        lines = ["settings (config [section] name; use the name with --set NAME=VALUE or in [search.space]):"]
    else:
        lines = ["settings this command reads (config [section] name; use the name with --set NAME=VALUE). Other "
                 "settings are accepted (so a search's --config/--set flags work here unchanged) but not used:"]
        lines = textwrap.wrap(lines[0], width)
    indent = " " * 31
    for name in chosen:
        text = f"[{FIELD_SECTION[name]}] {FIELD_DOCS.get(name, '')}".strip()
        lines += textwrap.wrap(text, width, initial_indent=f"  {name:<28} ", subsequent_indent=indent)
    return "\n".join(lines)


def _add_config(p: argparse.ArgumentParser, *, required: bool = False, reads: Sequence[str] | None = None) -> None:
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.epilog = settings_help(reads)
    if reads is not None:  # status/report/export: a study opens from --storage alone
        p.add_argument("--config", default=None, help="TOML config file (default: with --storage, the config the "
                       f"study was searched with, stored in it; else {DEFAULT_CONFIG})")
    else:
        p.add_argument("--config", default=None if required else DEFAULT_CONFIG, required=required,
                       help=f"TOML config file (default: {DEFAULT_CONFIG})")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="NAME=VALUE",
                   help="override a config setting by its flat name, e.g. --set n_layers=3 (repeatable)")


def _add_study(p: argparse.ArgumentParser) -> None:
    p.add_argument("--storage", default=None, help="Optuna storage URL (sqlite:///PATH.db, "
                   "postgresql://USER:PASSWORD@HOST/DB) or a journal file ending in .log (default: [run] storage of "
                   "the config, else the SQLite file study.db in the run folder)")
    p.add_argument("--study", default=None, help="study name (default: from the config)")


def build_parser() -> argparse.ArgumentParser:
    from distilbo import __version__

    top = _Parser(prog="distilbo", description="Distill a BERT-family SQuAD 2.0 teacher into smaller students and "
                  "find the accuracy/size/speed Pareto frontier with constrained multi-objective Bayesian optimization.")
    top.add_argument("--version", action="version", version=f"distilbo {__version__}")
    top.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = top.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser("search", help="run (or resume) the multi-objective search; then write its report")
    _add_config(p)
    _add_study(p)
    p.add_argument("--trials", type=int, default=None, help="trial budget of the study (default: config n_trials)")
    p.add_argument("--timeout", type=float, default=None, help="stop starting trials after this many seconds")
    p.add_argument("--workers", type=int, default=None, help="local worker processes, or with --ray trials at once "
                   "(default: config workers)")
    p.add_argument("--ray", default=None, metavar="ADDRESS", help="run each trial as a task on the Ray cluster at "
                   "ADDRESS (auto, HOST:6379, ray://HOST:10001, or local); sets [run] executor = \"ray\" (needs "
                   "pip install 'distilbo[ray]')")
    p.add_argument("--trial-memory-limit", default=None, help="CPU memory limit per trial, e.g. 4GB (emulates a device)")
    p.add_argument("--trial-timeout", type=float, default=None, help="seconds before a trial is killed and recorded as failed")
    p.add_argument("--sampler", choices=SAMPLERS, default=None,
                   help="optimizer (default: the config's [search] sampler)")
    p.add_argument("--keep", choices=["frontier", "all"], default=None,
                   help="model checkpoints kept: frontier (the Pareto front and the baseline; default) or all")
    p.add_argument("--no-report", action="store_true", help="do not write the report at the end")

    p = sub.add_parser("confirm", help="retrain the frontier trials and the baseline with more seeds (dev + test "
                       "split); resumable")
    _add_config(p)
    _add_study(p)
    p.add_argument("--seeds", type=int, default=None, help="more seeds per trial (default: [report] confirm_seeds)")
    p.add_argument("--workers", type=int, default=None, help="runs in parallel (default: config workers)")
    p.add_argument("--trial", type=int, action="append", default=None, dest="trials", metavar="N",
                   help="confirm trial N instead of the frontier and baseline (repeatable)")
    p.add_argument("--keep", choices=["frontier", "all"], default=None,
                   help="all: keep each run's model weights (default: deleted after scoring)")
    p.add_argument("--no-report", action="store_true", help="do not rewrite the report at the end")

    p = sub.add_parser("status", help="print the trials table of a study")
    _add_config(p, reads=COMMAND_SETTINGS["status"])
    _add_study(p)
    p.add_argument("--columns", default=None, metavar="NAMES",
                   help="comma-separated searched parameters and metrics to show, in this order, e.g. "
                        "--columns n_layers,dim,exact,latency_ms (default: the objectives, then as many parameters "
                        "as fit, architecture first)")
    p.add_argument("--width", type=int, default=None, help="table width in characters (default: the terminal's)")

    p = sub.add_parser("report", help="write frontier.png, report.html, trials.csv and frontier.json")
    _add_config(p, reads=COMMAND_SETTINGS["report"])
    _add_study(p)
    p.add_argument("--out", default=None, help="output folder (default: <run folder>/report)")

    p = sub.add_parser("export", help="export a trial's student as a Hugging Face folder (+ ONNX, int8)")
    _add_config(p, reads=COMMAND_SETTINGS["export"])
    _add_study(p)
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--trial", type=int, help="trial number")
    g.add_argument("--scenario", help="scenario name: baseline, retain-size, minimize-size, retain-performance")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--onnx", action="store_true", help="also write model.onnx, checked against PyTorch logits")
    p.add_argument("--quantize", choices=["int8"], default=None, help="also write a dynamically quantized variant")
    p.add_argument("--force", action="store_true", help="replace an earlier export in --out (else a non-empty --out "
                   "is refused)")

    p = sub.add_parser("answer", help="answer a question from a context with an exported model")
    p.add_argument("--model", required=True, help="model folder (or hub id)")
    p.add_argument("--question", required=True)
    p.add_argument("--context", required=True)
    p.add_argument("--null-threshold", type=float, default=None,
                   help="answer \"\" when null - best span score > this (default: the threshold the model ships "
                        "with, calibrated on dev by distilbo export; else 0)")

    p = sub.add_parser("distill", help="run one distillation trial by hand")
    _add_config(p)
    p.add_argument("--out", required=True, help="trial folder (metrics.json, curves.jsonl, model/)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")

    p = sub.add_parser("baseline", help="run the reference baseline (DistilBERT recipe) as one trial")
    _add_config(p)
    p.add_argument("--out", required=True, help="trial folder")
    p.add_argument("--quiet", action="store_true", help="no progress bars")

    p = sub.add_parser("evaluate", help="score a QA model on SQuAD data (official rules)")
    p.add_argument("--model", default="../shared/teachers/minilm-l6-h384-squad2", help="model folder or hub id")
    p.add_argument("--data", default="../shared/data/squad2/dev.json", help="SQuAD JSON, saved dataset folder or hub:NAME")
    p.add_argument("--out", default=None, help="write metrics.json, predictions.json, na_probs.json here")
    p.add_argument("--max-eval-samples", type=int, default=None, help="first N questions only")
    p.add_argument("--max-seq-length", type=int, default=DataConfig.max_seq_length)
    p.add_argument("--doc-stride", type=int, default=DataConfig.doc_stride, help="overlap between windows, in tokens")
    p.add_argument("--max-query-length", type=int, default=DataConfig.max_query_length)
    p.add_argument("--batch-size", type=int, default=TrainConfig.eval_batch_size)
    p.add_argument("--null-score-diff-threshold", type=float, default=None,
                   help="answer \"\" when null - best span score > this (default: the model's own, else 0)")
    p.add_argument("--squad-v1", action="store_true", help="SQuAD 1.1 rules: no null answer")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--trust-remote-code", action="store_true", help="allow custom model code (off by default)")

    p = sub.add_parser("score", help="score predictions like the official evaluate-v2.0.py")
    p.add_argument("data_file", metavar="DATA.json")
    p.add_argument("pred_file", metavar="PREDS.json")
    p.add_argument("--na-prob-file", default=None, metavar="NA.json")
    p.add_argument("--na-prob-thresh", type=float, default=1.0)

    p = sub.add_parser("teacher", help="fine-tune a BERT-family encoder into a SQuAD QA teacher")
    p.add_argument("--model", required=True, help="encoder folder, package:NAME or hub id")
    p.add_argument("--train-file", required=True)
    p.add_argument("--dev-file", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--epochs", type=float, default=2.0)
    p.add_argument("--lr", type=float, default=5e-5)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--warmup-ratio", type=float, default=0.1)
    p.add_argument("--weight-decay", type=float, default=0.01)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-seq-length", type=int, default=DataConfig.max_seq_length)
    p.add_argument("--doc-stride", type=int, default=DataConfig.doc_stride)
    p.add_argument("--max-train-samples", type=int, default=None)
    p.add_argument("--max-eval-samples", type=int, default=None)
    p.add_argument("--squad-v1", action="store_true", help="SQuAD 1.1 rules: no null answer")
    p.add_argument("--logging-steps", type=int, default=20, help="log the training loss every N optimizer steps")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--trust-remote-code", action="store_true", help="allow custom model code (off by default)")
    return top


def _config(args: argparse.Namespace) -> Any:
    """The command's config: --config (+ --set and flags); for status/report/export given --storage and no
    --config, the config stored with the study (`distilbo.search.stored`), so they run from any folder."""
    from distilbo.config import load_config, parse_set

    extra = {}
    for flag, name in (("storage", "storage"), ("study", "study"), ("trial_memory_limit", "trial_memory_limit"),
                       ("trial_timeout", "trial_timeout"), ("sampler", "sampler"), ("keep", "keep"),
                       ("ray", "ray_address")):
        if getattr(args, flag, None) is not None:
            extra[name] = getattr(args, flag)
    if "ray_address" in extra:
        extra["executor"] = "ray"
    if args.command in COMMAND_SETTINGS and args.config is None:
        if args.storage is not None:
            from distilbo.search.stored import config_from_storage

            return config_from_storage(args.storage, args.study, parse_set(args.overrides))
        if not os.path.isfile(DEFAULT_CONFIG):
            raise UserError(f"{DEFAULT_CONFIG}: config file not found; pass --storage URL [--study NAME] to open a "
                            "study from its storage alone, or --config with the search's .toml file")
    return load_config(args.config or DEFAULT_CONFIG, {**parse_set(args.overrides), **extra})


def _quiet_libraries(verbose: bool) -> None:
    """Library log lines (Optuna's INFO "A new study created in memory ...") only with --verbose. Optuna sets its
    logger's level once, when first imported (here, by the search package), so the level is set after that."""
    import distilbo.search.study  # noqa: F401  (imports optuna)

    logging.getLogger("optuna").setLevel(logging.DEBUG if verbose else logging.WARNING)


def run(args: argparse.Namespace) -> int:
    cmd = args.command
    if cmd in COMMAND_SETTINGS:
        _quiet_libraries(args.verbose)
    if cmd == "score":
        from distilbo.score import score_files

        print(json.dumps(score_files(args.data_file, args.pred_file, na_prob_file=args.na_prob_file,
                                     na_prob_thresh=args.na_prob_thresh), indent=2))
    elif cmd == "evaluate":
        from distilbo.evaluate import evaluate

        m = evaluate(model=args.model, data=args.data, out=args.out, max_eval_samples=args.max_eval_samples,
                     max_seq_length=args.max_seq_length, doc_stride=args.doc_stride, max_query_length=args.max_query_length,
                     version_2_with_negative=not args.squad_v1, batch_size=args.batch_size, device=args.device,
                     null_score_diff_threshold=args.null_score_diff_threshold, trust_remote_code=args.trust_remote_code)
        _print_summary(m)
    elif cmd == "teacher":
        from distilbo.teacher import finetune_teacher

        logging.getLogger("distilbo.teacher").setLevel(logging.INFO)  # its per-epoch dev scores are the output
        finetune_teacher(model=args.model, train_file=args.train_file, dev_file=args.dev_file, out=args.out,
                         epochs=args.epochs, lr=args.lr, batch_size=args.batch_size, warmup_ratio=args.warmup_ratio,
                         weight_decay=args.weight_decay, seed=args.seed, max_seq_length=args.max_seq_length,
                         doc_stride=args.doc_stride, max_train_samples=args.max_train_samples,
                         max_eval_samples=args.max_eval_samples, version_2_with_negative=not args.squad_v1,
                         device=args.device, trust_remote_code=args.trust_remote_code,
                         logging_steps=args.logging_steps)
        print(f"saved the teacher to {args.out}")
    elif cmd in ("distill", "baseline"):
        from distilbo.config import parse_set
        from distilbo.distill.trial import baseline_command, distill_command

        fn = distill_command if cmd == "distill" else baseline_command
        m = fn(config=args.config, out=args.out, overrides=parse_set(args.overrides), progress=not args.quiet)
        _print_summary(m)
    elif cmd == "search":
        from distilbo.search import run_search

        _quiet_libraries(args.verbose)
        cfg = _config(args)
        run_search(cfg, n_trials=args.trials, timeout=args.timeout, workers=args.workers)
        if cfg.report.confirm_seeds > 0:
            from distilbo.search.confirm import confirm

            confirm(cfg, workers=args.workers)
        if not args.no_report:
            from distilbo.report.command import report

            paths = report(cfg)
            print(f"report: {paths['html']}")
        print(_next_commands(args, cfg))
    elif cmd == "confirm":
        from distilbo.search.confirm import confirm

        cfg = _config(args)
        confirm(cfg, seeds=args.seeds, workers=args.workers, trials=args.trials)
        if not args.no_report:
            from distilbo.report.command import report

            print(f"report: {report(cfg)['html']}")
    elif cmd == "status":
        from distilbo.search.study import status

        columns = [c.strip() for c in args.columns.split(",") if c.strip()] if args.columns else None
        if args.width is not None and args.width < 20:
            raise UserError(f"--width {args.width}: must be at least 20 (characters)")
        print(status(_config(args), columns=columns, width=args.width))
    elif cmd == "report":
        from distilbo.report.command import report

        paths = report(_config(args), out=args.out)
        for name, path in paths.items():
            print(f"{name}: {path}")
    elif cmd == "export":
        from distilbo.export import export

        out = export(_config(args), trial=args.trial, scenario=args.scenario, out=args.out, onnx=args.onnx,
                     quantize=args.quantize, force=args.force)
        print(f"exported to {out}")
    elif cmd == "answer":
        from distilbo.export import answer

        print(json.dumps(answer(model=args.model, question=args.question, context=args.context,
                                null_score_diff_threshold=args.null_threshold), indent=1))
    return 0


def _next_commands(args: argparse.Namespace, cfg: Any) -> str:
    """What a finished search prints last: the status / report / export commands of this very study, with the
    --config, --set, --study and --storage flags the search was given (so they address the same study)."""
    import shlex

    from distilbo._secrets import mask_secrets
    from distilbo.export import scenario_picks
    from distilbo.search.study import load_study, study_dir

    flags = ["--config", args.config] if args.config else []
    for item in args.overrides:
        flags += ["--set", item]
    for flag in ("study", "storage"):
        if getattr(args, flag, None) is not None:
            flags += [f"--{flag}", getattr(args, flag)]
    study = load_study(cfg)
    home = study_dir(cfg, study)
    base = " ".join(shlex.quote(f) for f in flags)

    def shown(path: Any) -> str:  # relative to the working directory when that is shorter
        rel = os.path.relpath(path)
        return rel if len(rel) < len(str(path)) else str(path)

    lines = [f"study '{study.study_name}': trials and report in {home}; to see, report or export it:",
             f"  distilbo status {base}", f"  distilbo report {base}"]
    if cfg.report.confirm_seeds == 0:  # the picks below are single draws until confirmed (2 more seeds each)
        lines.append(f"  distilbo confirm {base} --seeds 2")
    picks = {k: v for k, v in scenario_picks(cfg).items() if v is not None}
    for scenario in picks:
        lines.append(f"  distilbo export {base} --scenario {scenario} --out "
                     f"{shlex.quote(shown(home / 'exports' / scenario))}")
    if not picks:
        lines.append(f"  (no feasible trial to export yet; later: distilbo export {base} --trial N --out "
                     f"{shlex.quote(shown(home / 'exports' / 'trial-N'))})")
    return mask_secrets("\n".join(lines))


def _print_summary(m: dict) -> None:
    keys = ("exact", "f1", "HasAns_exact", "NoAns_exact", "calibrated_exact", "calibrated_f1", "null_threshold",
            "HasAns_forced_exact", "HasAns_forced_f1",
            "num_parameters", "latency_ms", "total", "examples_per_second")
    print(" ".join(f"{k}={m[k]:.4g}" if isinstance(m[k], float) else f"{k}={m[k]}" for k in keys if k in m))


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                            format="distilbo: %(levelname)s: %(message)s")
        if args.command is None:
            parser.print_help()
            return 2
        return run(args)
    except UserError as e:
        from distilbo._secrets import mask_secrets

        print(f"distilbo: error: {mask_secrets(str(e))}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("distilbo: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `distilbo status | head`: the reader left; nothing to report
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except OSError as e:
        if e.filename is None and e.errno is None:
            raise
        from distilbo._secrets import mask_secrets

        where = f"{e.filename}: " if e.filename else ""
        print(f"distilbo: error: {mask_secrets(where + (e.strerror or str(e)))}; check the path, its permissions and free disk space",
              file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
