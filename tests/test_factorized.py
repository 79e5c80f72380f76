"""Factorized embeddings (issue 10: narrow students that learn): a BERT student -> a stock ALBERT student.

References are independent of the code under test: the BERT model's own forward pass (full rank, and tables
that lie in a low-rank subspace, where the factorization must be exact), a plain transformers reload, a
parameter recount of the built model, a token recount with collections.Counter.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import torch

from _tiny import tiny_bert, tiny_config, tokenizer
from conftest import DEV_JSON
from distilbo.config import load_config
from distilbo.data.squad import build_features, load_examples
from distilbo.distill.trial import estimate_metrics, student_spec
from distilbo.errors import UserError
from distilbo.evaluate import load_qa_model
from distilbo.models._factorize import ones_orthogonal_basis
from distilbo.models.student import (StudentSpec, count_parameters, factorize_student, model_num_parameters,
                                     random_student, seed_student)


def _windows(n: int = 8):
    return build_features(load_examples(str(DEV_JSON), max_samples=n), tokenizer(), max_seq_length=96, doc_stride=32,
                          max_query_length=24)


def _logits(model, feats):
    ids = torch.as_tensor(feats.input_ids, dtype=torch.long)
    mask = torch.as_tensor(np.arange(ids.shape[1])[None, :] < feats.lengths[:, None]).long()
    with torch.inference_mode():
        out = model(input_ids=ids, attention_mask=mask, token_type_ids=torch.as_tensor(feats.token_type_ids).long())
    return torch.cat([out.start_logits, out.end_logits])


def test_helmert_basis_is_orthonormal_and_orthogonal_to_ones():
    M = ones_orthogonal_basis(7)
    assert torch.allclose(M @ M.T, torch.eye(6, dtype=M.dtype), atol=1e-12)
    assert float((M @ torch.ones(7, dtype=M.dtype)).abs().max()) < 1e-12


def test_full_rank_albert_computes_what_the_bert_model_computes(tmp_path):
    from transformers import AlbertForQuestionAnswering, AutoModelForQuestionAnswering

    bert = load_qa_model(str(tiny_bert(tmp_path / "t", qa=True, seed=3))).eval()
    albert = factorize_student(bert, 32)
    assert type(albert) is AlbertForQuestionAnswering
    feats = _windows()
    assert float((_logits(bert, feats) - _logits(albert, feats)).abs().max()) <= 1e-4
    albert.save_pretrained(tmp_path / "a")  # a plain transformers folder: reloads with the Auto class
    again = AutoModelForQuestionAnswering.from_pretrained(tmp_path / "a").eval()
    assert float((_logits(albert, feats) - _logits(again, feats)).abs().max()) == 0.0


def test_low_rank_tables_are_factorized_exactly(tmp_path):
    """Tables whose centred rows lie in a 7-dim subspace: E = 8 loses nothing, E = 4 does."""
    bert = load_qa_model(str(tiny_bert(tmp_path / "t", qa=True, seed=4))).eval()
    g = torch.Generator().manual_seed(0)
    basis = torch.linalg.qr(torch.randn(32, 7, generator=g, dtype=torch.float64))[0].T  # (7, 32)
    emb = bert.bert.embeddings
    with torch.no_grad():
        for table in (emb.word_embeddings, emb.position_embeddings, emb.token_type_embeddings):
            n = table.weight.shape[0]
            low = torch.randn(n, 7, generator=g, dtype=torch.float64) @ basis * 0.5
            table.weight.copy_((low + torch.randn(n, 1, generator=g, dtype=torch.float64)).float())  # + a row offset
        emb.LayerNorm.weight.copy_(1 + 0.3 * torch.randn(32, generator=g))
        emb.LayerNorm.bias.copy_(0.1 * torch.randn(32, generator=g))
    feats = _windows(4)
    ref = _logits(bert, feats)
    assert float((ref - _logits(factorize_student(bert, 8), feats)).abs().max()) <= 1e-4
    assert float((ref - _logits(factorize_student(bert, 4), feats)).abs().max()) > 1e-2


def test_closed_form_count_matches_the_built_and_the_random_model(tmp_path):
    init = tiny_bert(tmp_path / "t", qa=True, seed=5, layers=3)
    spec = StudentSpec(n_layers=2, n_heads=2, dim=32, hidden_dim=48, architecture="bert", embedding_size=12)
    model, seeding = seed_student(spec, str(init))
    assert model.config.model_type == "albert" and model.config.embedding_size == 12
    assert seeding["embedding_size"] == 12
    want = count_parameters(spec, vocab_size=model.config.vocab_size, max_position_embeddings=512)
    assert want == model_num_parameters(model) == model_num_parameters(random_student(spec, model.config))
    full = count_parameters(StudentSpec(n_layers=2, n_heads=2, dim=32, hidden_dim=48, architecture="bert"),
                            vocab_size=model.config.vocab_size, max_position_embeddings=512)
    v = model.config.vocab_size
    assert full["num_parameters"] - want["num_parameters"] == (v + 512 + 2) * (32 - 12) + 2 * (32 - 12) - (12 * 32 + 32)


def test_word_weights_choose_the_directions_of_the_tokens_used(tmp_path):
    """Weighted by the windows' token counts, the embedding output on those windows is closer to BERT's."""
    bert = load_qa_model(str(tiny_bert(tmp_path / "t", qa=True, seed=6))).eval()
    feats = _windows()
    ids = torch.as_tensor(feats.input_ids, dtype=torch.long)
    tt = torch.as_tensor(feats.token_type_ids, dtype=torch.long)
    with torch.inference_mode():
        ref = bert.bert.embeddings(input_ids=ids, token_type_ids=tt)

        def error(albert) -> float:
            hidden = albert.albert.encoder.embedding_hidden_mapping_in(albert.albert.embeddings(input_ids=ids,
                                                                                                token_type_ids=tt))
            return float((hidden - ref).pow(2).mean())

        counts = torch.from_numpy(feats.token_counts(bert.config.vocab_size) + 1e-3)
        assert error(factorize_student(bert, 12, counts)) < 0.9 * error(factorize_student(bert, 12))


def test_token_counts_recount():
    feats = _windows(3)
    want = Counter()
    for ids, n in zip(feats.input_ids, feats.lengths):
        want.update(int(i) for i in ids[:n])
    got = feats.token_counts(30522)
    assert {i: int(c) for i, c in enumerate(got) if c} == dict(want)


def test_embedding_size_rules(tmp_path):
    with pytest.raises(UserError, match="embedding_size = 16 < dim needs student_architecture = 'bert'"):
        StudentSpec(n_layers=1, n_heads=2, dim=32, hidden_dim=64, architecture="distilbert", embedding_size=16)
    with pytest.raises(UserError, match=r"embedding_size = 40: must be an integer in \[2, dim = 32\]"):
        StudentSpec(n_layers=1, n_heads=2, dim=32, hidden_dim=64, architecture="bert", embedding_size=40)
    # from a config (what a search samples): embedding_size >= dim means unfactorized, below it ALBERT
    cfg_path = tiny_config(tmp_path)
    base = {"student_architecture": "bert", "n_layers": "1", "dim": "32", "hidden_dim": "64"}
    spec, _ = student_spec(load_config(cfg_path, {**base, "embedding_size": "64"}))
    assert not spec.factorized and spec.embedding_size is None
    small = load_config(cfg_path, {**base, "embedding_size": "8"})
    spec, init_config = student_spec(small)
    assert spec.factorized
    known = estimate_metrics(small)  # the count the search knows before training = the built model's
    model, _ = seed_student(spec, small.student_init_path)
    assert known["num_parameters"] == model_num_parameters(model)["num_parameters"]


def test_factorized_trial_records_its_seeded_start_and_saves_a_stock_albert(tmp_path):
    """A whole trial with embedding_size < dim and eval_at_start: `start_*` equals an evaluation of the seeded
    student made here, before any training; the saved folder is a plain ALBERT QA model."""
    import json

    from distilbo.distill.trial import load_data, run_trial
    from distilbo.evaluate import evaluate_model

    cfg = load_config(tiny_config(tmp_path), {"student_architecture": "bert", "n_layers": "2", "dim": "32",
                                              "hidden_dim": "64", "embedding_size": "12", "eval_at_start": "true"})
    metrics = run_trial(cfg, tmp_path / "trial", progress=False)
    assert metrics["embedding_size"] == 12
    config = json.loads((tmp_path / "trial/model/config.json").read_text())
    assert config["architectures"] == ["AlbertForQuestionAnswering"] and config["embedding_size"] == 12
    spec, _ = student_spec(cfg)
    _, train_f, dev_ex, dev_f = load_data(cfg, tokenizer())
    seeded, _ = seed_student(spec, cfg.student_init_path, init_seed=cfg.run.seed,
                             word_weights=torch.from_numpy(train_f.token_counts(30522) + 1.0))
    ref = evaluate_model(seeded.eval(), dev_ex, dev_f).metrics
    assert metrics["start_HasAns_forced_f1"] == pytest.approx(ref["HasAns_forced_f1"], abs=1e-6)
    assert metrics["start_exact"] == pytest.approx(ref["exact"], abs=1e-6)
    rows = [json.loads(line) for line in (tmp_path / "trial/curves.jsonl").read_text().splitlines()]
    assert rows[0]["step"] == 0 and "HasAns_forced_f1" in rows[0]
    # exported ready to serve: ONNX reproduces it (checked inside the export), the card names the architecture
    from distilbo.export import export_trial_dir

    out = export_trial_dir(tmp_path / "trial", tmp_path / "exported", cfg=cfg, onnx=True)
    card = (out / "README.md").read_text()
    assert "AlbertForQuestionAnswering" in card and "embedding tables 12 wide" in card
    assert (out / "model.onnx").is_file()
