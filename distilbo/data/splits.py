"""The evaluation splits of a config: the dev questions every trial is scored (and selected) on, and the held-out
test questions only confirmed trials and exports are scored on.

    dev = dev_examples(cfg)     # [data] dev_file less the test articles when both come from one file; first max_eval_samples
    test = test_examples(cfg)   # [data] test_file's test_articles (all its articles when none are named), or None
    cal = calibration_examples(cfg)  # [data] calibration_file, resampled to calibration_unanswerable, or None

The test split is cut by article (`test_articles`, titles in the file), so with the dev file as test file no
paragraph is in both; `check_disjoint` refuses a pair of splits that share a paragraph.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from distilbo.data.squad import load_examples
from distilbo.data.types import Example
from distilbo.errors import DataError

if TYPE_CHECKING:
    from distilbo.config import Config


def _same_file(a: str, b: str) -> bool:
    return a == b or (Path(a).exists() and Path(b).exists() and Path(a).resolve() == Path(b).resolve())


def test_examples(cfg: "Config") -> list[Example] | None:
    """The held-out test questions, or None when `[data] test_file` is unset. DataError naming the title when a
    `test_articles` entry is not an article of the file."""
    d = cfg.data
    if not d.test_file:
        return None
    source = cfg.path(d.test_file)
    examples = load_examples(source, version_2_with_negative=d.version_2_with_negative)
    if d.test_articles:
        titles = list(dict.fromkeys(e.title for e in examples))
        missing = [a for a in d.test_articles if a not in titles]
        if missing:
            raise DataError(f"{cfg.source}: [data] test_articles: {missing[0]!r} is not an article of {d.test_file} "
                            f"(it has {', '.join(map(repr, titles[:6]))}{', ...' if len(titles) > 6 else ''}); "
                            "fix the title")
        keep = set(d.test_articles)
        examples = [e for e in examples if e.title in keep]
    if not examples:
        raise DataError(f"{cfg.source}: [data] test_file = {d.test_file!r}: no questions; point it at a labeled SQuAD file")
    return examples


def dev_examples(cfg: "Config") -> list[Example]:
    """The dev questions: `[data] dev_file`, less the test split's articles when the test split comes from the same
    file, then the first `max_eval_samples`."""
    d = cfg.data
    source = cfg.path(d.dev_file)
    shared = bool(d.test_file) and _same_file(source, cfg.path(d.test_file))
    examples = load_examples(source, version_2_with_negative=d.version_2_with_negative,
                             max_samples=None if shared else d.max_eval_samples)
    if shared:
        held_out = set(d.test_articles) if d.test_articles else {e.title for e in examples}
        examples = [e for e in examples if e.title not in held_out]
        if not examples:
            raise DataError(f"{cfg.source}: [data] test_file is the dev_file and holds out all of it; name the test "
                            "articles in test_articles, or use another test_file")
        if d.max_eval_samples is not None:
            examples = examples[:d.max_eval_samples]
    return examples


def calibration_examples(cfg: "Config") -> list[Example] | None:
    """The questions the no-answer threshold is set on (`[data] calibration_file`), or None (the dev questions).
    With `calibration_unanswerable`, every question of the scarcer kind (answerable or not) is kept and the other
    kind drawn (fixed seed, file order kept) so unanswerable ones make up that share."""
    d = cfg.data
    if not d.calibration_file:
        return None
    examples = load_examples(cfg.path(d.calibration_file), version_2_with_negative=d.version_2_with_negative)
    if d.calibration_unanswerable is not None:
        examples = resample_unanswerable(examples, d.calibration_unanswerable)
    if not examples or all(e.answers for e in examples) or not any(e.answers for e in examples):
        raise DataError(f"{cfg.source}: [data] calibration_file = {d.calibration_file!r}: a threshold needs both "
                        "answerable and unanswerable questions; point it at a labeled SQuAD 2.0 file")
    return examples


def resample_unanswerable(examples: list[Example], share: float, *, seed: int = 0) -> list[Example]:
    """The questions with unanswerable ones making up `share` of them: all of the scarcer kind, the other drawn
    without replacement (seeded), in file order."""
    blank = [i for i, e in enumerate(examples) if not e.answers]
    answered = [i for i, e in enumerate(examples) if e.answers]
    if len(blank) < share * len(examples):  # unanswerable ones are scarce: keep them, draw answerable ones
        keep, pool, n = blank, answered, round(len(blank) * (1 - share) / share)
    else:
        keep, pool, n = answered, blank, round(len(answered) * share / (1 - share))
    drawn = np.random.default_rng(seed).choice(len(pool), size=min(n, len(pool)), replace=False)
    chosen = sorted(keep + [pool[int(i)] for i in drawn])
    return [examples[i] for i in chosen]


def check_disjoint(dev: list[Example], test: list[Example], *, where: str, what: str = "the test split",
                   other: str = "the dev questions",
                   fix: str = "cut the test split by article with test_articles, or use another test_file") -> None:
    """DataError when a paragraph (context) is in both splits: a held-out score must be on unseen text."""
    dev_contexts = {e.context for e in dev}
    both = {e.context for e in test if e.context in dev_contexts}
    if both:
        title = next(e.title for e in test if e.context in both)
        raise DataError(f"{where}: {what} shares {len(both)} paragraph(s) with {other} (first in "
                        f"article {title!r}); {fix}")


__all__ = ["dev_examples", "test_examples", "calibration_examples", "resample_unanswerable", "check_disjoint"]
