"""`distilbo score` and `distilbo evaluate` on real shared data, against independent references."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from conftest import DEV_JSON, TEACHER, minilm_dir
from distilbo.cli import main
from test_squad_v2 import OFFICIAL_V2, _scenario


def test_score_command_prints_the_official_json(tmp_path, capsys):
    data, preds, na_a, _ = _scenario()
    (tmp_path / "p.json").write_text(json.dumps(preds))
    (tmp_path / "na.json").write_text(json.dumps(na_a))
    assert main(["score", str(DEV_JSON), str(tmp_path / "p.json"), "--na-prob-file", str(tmp_path / "na.json")]) == 0
    got = json.loads(capsys.readouterr().out)
    assert list(got) == list(OFFICIAL_V2["na_a"])
    for k, v in OFFICIAL_V2["na_a"].items():
        assert got[k] == pytest.approx(v, abs=1e-9), k
    assert main(["score", str(DEV_JSON), str(tmp_path / "p.json")]) == 0
    assert json.loads(capsys.readouterr().out) == pytest.approx(OFFICIAL_V2["no_na"])


def test_score_command_bad_files(tmp_path, capsys):
    (tmp_path / "p.json").write_text('{"x": 3}')
    assert main(["score", str(DEV_JSON), str(tmp_path / "p.json")]) == 2
    assert "predictions must be" in capsys.readouterr().err
    (tmp_path / "p.json").write_text("{}")
    assert main(["score", str(DEV_JSON), str(tmp_path / "p.json")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "prediction" in err.lower()


def test_real_minilm_encoder_through_features_model_postprocess_score(tmp_path):
    """The real MiniLM encoder (random QA head) end to end on real questions; the score is recomputed by hand."""
    from transformers import AutoModelForQuestionAnswering, AutoTokenizer

    from distilbo.data.squad import build_features, load_examples
    from distilbo.evaluate import evaluate_model
    from distilbo.qa.squad_v2 import compute_exact

    torch.manual_seed(0)
    model = AutoModelForQuestionAnswering.from_pretrained(str(minilm_dir()), use_safetensors=True).eval()
    tok = AutoTokenizer.from_pretrained(str(minilm_dir()))
    examples = load_examples(str(DEV_JSON), max_samples=40)
    feats = build_features(examples, tok, max_seq_length=192, doc_stride=64, max_query_length=32)
    ev = evaluate_model(model, examples, feats, batch_size=16)
    assert ev.metrics["total"] == 40 and set(ev.answers) == {e.id for e in examples}
    # every non-empty answer is a substring of its context; na_probs are probabilities
    for e in examples:
        assert ev.answers[e.id] in e.context
        assert 0.0 <= ev.na_probs[e.id] <= 1.0
    # recount exact match from the answers by the rule ("" is right only when there is no gold answer)
    hand = np.mean([max((compute_exact(a["text"], ev.answers[e.id]) for a in e.answers), default=int(ev.answers[e.id] == ""))
                    for e in examples]) * 100
    assert ev.metrics["exact"] == pytest.approx(hand)
    # logits really come from the model: one feature recomputed alone
    with torch.inference_mode():
        n = int(feats.lengths[3])
        out = model(input_ids=torch.as_tensor(np.array(feats.input_ids[3:4, :n]), dtype=torch.long),
                    token_type_ids=torch.as_tensor(np.array(feats.token_type_ids[3:4, :n]), dtype=torch.long))
    from distilbo.evaluate import model_logits

    s, _ = model_logits(model, feats, batch_size=5)
    np.testing.assert_allclose(s[3, :n], out.start_logits[0].numpy(), atol=1e-4)


@pytest.mark.slow
def test_evaluate_shared_teacher_matches_its_published_dev_scores(tmp_path, capsys):
    """The teacher's README: exact 47.9, f1 51.4, best_exact 52.6, HasAns EM/F1 with null disabled 42.4 / 56.6."""
    code = main(["evaluate", "--model", str(TEACHER), "--data", str(DEV_JSON), "--max-seq-length", "256",
                 "--out", str(tmp_path / "ev")])
    assert code == 0
    m = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert m["exact"] == pytest.approx(47.9, abs=1.0) and m["f1"] == pytest.approx(51.4, abs=1.0)
    assert m["best_exact"] == pytest.approx(52.6, abs=1.0)
    assert m["HasAns_forced_exact"] == pytest.approx(42.4, abs=1.0)
    assert m["HasAns_forced_f1"] == pytest.approx(56.6, abs=1.0)
    preds = json.loads((tmp_path / "ev" / "predictions.json").read_text())
    na = json.loads((tmp_path / "ev" / "na_probs.json").read_text())
    assert len(preds) == len(na) == 1016
    # the written files score the same through `distilbo score`
    capsys.readouterr()
    assert main(["score", str(DEV_JSON), str(tmp_path / "ev" / "predictions.json"), "--na-prob-file",
                 str(tmp_path / "ev" / "na_probs.json")]) == 0
    scored = json.loads(capsys.readouterr().out)
    for k in ("exact", "f1", "best_exact", "best_f1", "HasAns_exact", "NoAns_exact"):
        assert scored[k] == pytest.approx(m[k], abs=1e-9), k
