"""`distilbo score DATA.json PREDS.json [--na-prob-file NA.json]`: the official SQuAD 2.0 evaluation on files.

Prints the same JSON keys and values as the official `evaluate-v2.0.py` on the same files; bad files get a
one-line error naming the file and the problem.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from distilbo.errors import DataError


def _read(path: str, what: str) -> Any:
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{path}: {what} not found")
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: malformed JSON ({getattr(e, 'msg', e)}); fix the file") from None


def score_files(data_file: str, pred_file: str, *, na_prob_file: str | None = None,
                na_prob_thresh: float = 1.0) -> dict[str, Any]:
    from distilbo.data.squad import parse_squad_json
    from distilbo.qa.squad_v2 import evaluate

    dataset = _read(data_file, "data file")
    parse_squad_json(dataset, where=data_file)  # validate: one clear error instead of a KeyError deep inside
    preds = _read(pred_file, "predictions file")
    if not isinstance(preds, dict) or not all(isinstance(v, str) for v in preds.values()):
        raise DataError(f"{pred_file}: predictions must be a JSON object {{question id: answer text}}")
    na_probs = None
    if na_prob_file:
        na_probs = _read(na_prob_file, "no-answer probability file")
        if not isinstance(na_probs, dict) or not all(isinstance(v, (int, float)) for v in na_probs.values()):
            raise DataError(f"{na_prob_file}: must be a JSON object {{question id: probability}}")
    return evaluate(dataset, preds, na_probs, na_prob_thresh=na_prob_thresh)
