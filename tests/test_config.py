"""Every shipped config loads; bad configs and --set values give one-line errors naming the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from distilbo.config import FIELD_DOCS, FIELD_SECTION, load_config, parse_set
from distilbo.errors import ConfigError
from distilbo.config import parse_space

REPO = Path(__file__).resolve().parents[1]
CONFIGS = sorted((REPO / "configs").glob("*.toml"))


def test_there_are_shipped_configs():
    assert {p.name for p in CONFIGS} >= {"cpu-squad2.toml", "squad2-bert-base.toml"}


def test_the_cpu_config_points_at_real_files_and_its_baseline_is_the_distilbert_recipe():
    """Its data and teacher exist beside the repo, and the baseline trial is every other teacher layer at full
    width with full-width embedding tables (what benchmarks/README.md compares the frontier against)."""
    from distilbo.distill.trial import student_spec

    cfg = load_config(REPO / "configs/cpu-squad2.toml")
    for name in ("train_file", "dev_file", "teacher"):
        assert Path(cfg.path(cfg.get(name))).exists(), name
    spec, teacher = student_spec(cfg)
    assert cfg.student_init_path == cfg.path(cfg.models.teacher)
    assert (spec.n_layers, spec.dim, spec.hidden_dim) == (teacher.num_hidden_layers // 2, teacher.hidden_size,
                                                          teacher.intermediate_size)
    assert spec.layer_selection == "stride" and not spec.factorized and spec.architecture == "bert"


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_every_shipped_config_loads_and_its_space_parses(path):
    cfg = load_config(path)
    params = parse_space(cfg.search.space, where=str(path))
    assert params and all(FIELD_SECTION[p.name] in ("student", "train", "data") for p in params)
    # every searched parameter's default (the baseline) lies inside its range, except the reference's
    # weight decay 0, which a log range [1e-7, 1e-2] cannot hold (the baseline trial is enqueued with it anyway)
    for p in params:
        if p.kind in ("int", "float") and not (p.name == "weight_decay" and cfg.get(p.name) == 0):
            assert p.low <= cfg.get(p.name) <= p.high, p.name


def test_every_field_has_a_docstring():
    assert set(FIELD_DOCS) == set(FIELD_SECTION)


def test_set_overrides_parse_by_field_type():
    cfg = load_config(REPO / "configs/cpu-squad2.toml", parse_set(["n_layers=2", "learning_rate=1e-4",
                                                                  "group_by_length=false", "max_train_samples=none"]))
    assert cfg.student.n_layers == 2 and cfg.train.learning_rate == 1e-4
    assert cfg.train.group_by_length is False and cfg.data.max_train_samples is None


def write(tmp_path, text):
    p = tmp_path / "c.toml"
    p.write_text(text)
    return p


BAD = [
    ("[train]\nlearning_rat = 1e-4\n", ["[train]", "learning_rat", "learning_rate"]),
    ("[nonsense]\nx = 1\n", ["unknown section", "nonsense"]),
    ("[train]\nbatch_size = 'eight'\n", ["batch_size", "integer"]),
    ("[train]\nlearning_rate = -1.0\n", ["learning_rate", "> 0"]),
    ("[train]\nn_layers = 3\n", ["n_layers", "[student]"]),
    ("[search.space]\nlearning_rate = {type = 'float', low = 1e-2, high = 1e-5}\n", ["learning_rate", "low", "swap"]),
    ("[search.space]\nlearning_rate = {type = 'float', low = 0.0, high = 1e-2, log = true}\n", ["learning_rate", "log", "low > 0"]),
    ("[search.space]\nbogus = {type = 'int', low = 1, high = 2}\n", ["bogus", "unknown parameter"]),
    ("[search.space]\nn_layers = {type = 'float', low = 1, high = 2}\n", ["n_layers", "int"]),
    ("[search]\nobjectives = [{metric = 'accuracy', direction = 'maximize'}]\n", ["accuracy", "unknown metric"]),
    ("[search]\nsampler = 'cmaes'\n", ["sampler", "gp"]),
    ("[data]\ndoc_stride = 500\n", ["doc_stride", "max_seq_length"]),
    ("[train\nx=1\n", ["not valid TOML"]),
]


@pytest.mark.parametrize("text,words", BAD, ids=[str(i) for i in range(len(BAD))])
def test_bad_config_is_one_clear_error(tmp_path, text, words):
    p = write(tmp_path, text)
    with pytest.raises(ConfigError) as e:
        load_config(p)
    msg = str(e.value)
    assert "\n" not in msg and str(p) in msg
    for w in words:
        assert w in msg, (w, msg)


def test_bad_set_values():
    with pytest.raises(ConfigError, match="unknown setting 'n_layer'.*n_layers"):
        load_config(None, {"n_layer": "3"})
    with pytest.raises(ConfigError, match="not a number"):
        load_config(None, {"learning_rate": "fast"})
    with pytest.raises(ConfigError, match="NAME=VALUE"):
        parse_set(["n_layers"])


def test_the_baseline_recipe_is_the_reference_experiments():
    """`distilbo baseline` = the reference's DistilBERT defaults (written out here by hand), whatever the config says."""
    from distilbo.distill.trial import baseline_overrides

    cfg = load_config(REPO / "configs/cpu-squad2.toml", {"learning_rate": "3e-4", "n_layers": "5", "alpha_ce": "1"})
    recipe = cfg.with_overrides(baseline_overrides(cfg))
    assert (recipe.train.learning_rate, recipe.train.batch_size, recipe.train.alpha_ce, recipe.train.temperature) == (
        5e-5, 8, 0.5, 1.0)
    assert (recipe.train.beta_1, recipe.train.beta_2, recipe.train.adam_epsilon, recipe.train.weight_decay) == (
        0.9, 0.999, 1e-8, 0.0)
    assert recipe.train.warmup_steps == 0 and recipe.train.warmup_ratio == 0.0 and recipe.alpha_squad == 0.5
    assert (recipe.student.dropout, recipe.student.attention_dropout, recipe.student.qa_dropout) == (0.1, 0.1, 0.1)
    assert recipe.student.n_layers is None and recipe.student.dim is None and recipe.student.layer_selection == "stride"
    assert recipe.train.num_train_epochs == cfg.train.num_train_epochs  # fidelity stays the config's
