"""Bad input through the real CLI: config files, flags, data files, model folders, storage URLs and study names.

Every case must end in ONE line `distilbo: error: ...` naming the problem and its fix, exit code 2, no traceback,
and leave the existing study database byte-identical. A study of 2 trials is created first (tiny real models and
real shared questions in the config, a synthetic trial function); its file is hashed before and after every case.
Some cases run `python -m distilbo.cli` in a subprocess (nothing but that line may reach stderr); the rest call
`distilbo.cli.main([...])` in-process.

Run: python -m pytest tests/test_bad_input.py -q
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

import _search_trials as st
from _tiny import tiny_bert
from _tiny import tiny_config as make_tiny_config
from conftest import DEV_JSON
from distilbo.cli import main

torch.set_num_threads(1)


@dataclass
class World:
    base: Path
    config: Path
    db: Path

    def sub(self, text: str) -> str:
        return text.format(base=self.base, cfg=self.config, dev=DEV_JSON)


def _other_vocab_encoder(folder: Path) -> Path:
    """A tiny BertModel whose (fast) tokenizer has another vocabulary than the teacher's."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    vocab = {t: i for i, t in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "a", "of", "in"])}
    tok = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                                   sep_token="[SEP]", mask_token="[MASK]")
    BertModel(BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=64)).save_pretrained(folder)
    fast.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    from distilbo.config import load_config
    from distilbo.search import run_search

    base = tmp_path_factory.mktemp("bad")
    config = make_tiny_config(base)
    text = config.read_text()
    tiny_bert(base / "plain", qa=False, seed=5)  # an encoder without a QA head
    _other_vocab_encoder(base / "othervocab")
    binonly = base / "binonly"  # config + tokenizer + pickle weights only
    shutil.copytree(base / "init", binonly)
    (binonly / "model.safetensors").rename(binonly / "pytorch_model.bin")
    (base / "broken.json").write_text('{"version": "v2.0", "data": [')
    (base / "notsquad.json").write_text(json.dumps({"version": "v2.0", "articles": []}))
    variants = {
        "unknown_key": text.replace("[run]\n", "[run]\nbogus = 1\n"),
        "unknown_section": text + "\n[runn]\nout = 'x'\n",
        "wrong_type": text.replace("batch_size = 8", 'batch_size = "eight"'),
        "impossible": text.replace("doc_stride = 32", "doc_stride = 200"),
        "space_range": text + '\n[search.space]\nn_layers = { type = "int", low = 5, high = 2 }\n',
        "direction": text + '\n[search]\nobjectives = [{ metric = "exact", direction = "up" }]\n',
        "not_toml": "[run\n" + text,
        "other_objectives": text + '\n[search]\nobjectives = [{ metric = "exact", direction = "maximize" }, '
                                   '{ metric = "latency_ms", direction = "minimize" }]\n',
        "no_study_here": text.replace(f'out = "{base / "run"}"', f'out = "{base / "empty-run"}"'),
    }
    for name, body in variants.items():
        (base / f"{name}.toml").write_text(body)
    run_search(load_config(config), n_trials=2, trial_fn=st.smooth, estimate_fn=None, progress=False)
    db = base / "run" / "study.db"
    assert db.is_file()
    return World(base=base, config=config, db=db)


# (id, argv with {cfg}/{base}/{dev}, words the one line must contain, run in a subprocess)
CASES = [
    # config files
    ("config: unknown key", "status --config {base}/unknown_key.toml",
     ["unknown_key.toml: [run] unknown key 'bogus'", "see `distilbo distill --help`"], True),
    ("config: unknown section", "search --config {base}/unknown_section.toml",
     ["unknown section [runn]", "valid sections: run, data"], False),
    ("config: wrong type", "search --config {base}/wrong_type.toml",
     ["[train] batch_size", "expected an integer, got 'eight'"], False),
    ("config: impossible value", "search --config {base}/impossible.toml",
     ["[data] doc_stride = 200", "must be > 0 and < max_seq_length"], False),
    ("config: empty search range", "search --config {base}/space_range.toml",
     ["[search.space] n_layers", "low (5) > high (2)", "swap them"], False),
    ("config: bad objective direction", "search --config {base}/direction.toml",
     ["[search] objectives", "maximize or minimize"], False),
    ("config: not TOML", "search --config {base}/not_toml.toml", ["not valid TOML", "fix the syntax"], False),
    ("config: missing file", "search --config {base}/nope.toml", ["nope.toml: config file not found", "--config"],
     False),
    # flags
    ("flag: unknown", "search --config {cfg} --bogus", ["unrecognized arguments: --bogus", "--help"], True),
    ("flag: --set without =", "search --config {cfg} --set n_layers", ["--set n_layers", "NAME=VALUE"], True),
    ("flag: --set unknown name", "search --config {cfg} --set nlayers=3",
     ["unknown setting 'nlayers'", "did you mean n_layers"], False),
    ("flag: --set not a number", "search --config {cfg} --set n_layers=three", ["--set n_layers", "not a number"],
     False),
    ("flag: bad --trial-memory-limit", "search --config {cfg} --trial-memory-limit lots",
     ["trial_memory_limit = 'lots'", "write a size like '4GB'"], False),
    ("flag: negative --trials", "search --config {cfg} --trials -3", ["--trials -3", "must be >= 1"], True),
    ("flag: --workers 0", "search --config {cfg} --workers 0", ["--workers 0", "must be >= 1"], False),
    ("flag: negative --trial-timeout", "search --config {cfg} --trial-timeout -5",
     ["trial_timeout = -5.0", "must be > 0 seconds"], False),
    ("flag: unknown --sampler", "search --config {cfg} --sampler bogo", ["invalid choice: 'bogo'", "--help"], False),
    # data files
    ("data: train file missing", "search --config {cfg} --set train_file={base}/missing.json",
     ["missing.json: data file not found", "pass an official SQuAD JSON file"], False),
    ("data: dev file not JSON", "search --config {cfg} --set dev_file={base}/broken.json",
     ["broken.json: malformed JSON", "fix the file"], False),
    ("data: JSON but not SQuAD", "search --config {cfg} --set dev_file={base}/notsquad.json",
     ["notsquad.json", "missing field 'data'", 'expected {"version": ..., "data": [articles]}'], False),
    ("data: evaluate on a missing file", "evaluate --model {base}/teacher --data {base}/missing.json",
     ["missing.json: data file not found"], False),
    # model folders
    ("model: teacher folder missing", "search --config {cfg} --set teacher={base}/gone",
     ["[models] teacher", "gone", "not found", "pass an existing folder"], False),
    ("model: teacher is not a QA model", "search --config {cfg} --set teacher={base}/plain",
     ["[models] teacher", "not a question-answering model (no qa_outputs weights)", "distilbo teacher"], True),
    ("model: other tokenizer with alpha_cos", "search --config {cfg} --set student_init={base}/othervocab --set alpha_cos=0.5",
     ["alpha_cos = 0.5", "needs a student_init with the teacher's tokenizer", "set alpha_cos = 0"], False),
    ("model: student init with pickle weights only", "search --config {cfg} --set student_init={base}/binonly",
     ["[models] student_init", "binonly", "safetensors"], False),
    ("model: evaluate a folder without a QA head", "evaluate --model {base}/plain --data {dev}",
     ["plain", "not a question-answering model"], False),
    # storage URLs
    ("storage: unreachable postgres", "status --config {cfg} --storage postgresql://u:SECRET@127.0.0.1:1/x",
     ["storage postgresql://u:***@127.0.0.1:1/x: cannot open", "check the URL"], True),
    ("storage: wrong scheme", "status --config {cfg} --storage foo://x",
     ["storage foo://x: cannot open", "check the URL (sqlite:///PATH.db"], True),
    ("storage: neither URL nor journal", "search --config {cfg} --storage {base}/study.txt",
     ["not a URL and not a journal file", "ending in .log"], False),
    # study names
    ("study: missing for status", "status --config {cfg} --study nope",
     ["no study 'nope'", "it has: tiny", "pass --study NAME"], False),
    ("study: missing for report", "report --config {cfg} --study nope", ["no study 'nope'", "pass --study NAME"],
     True),
    ("study: missing for export", "export --config {cfg} --study nope --trial 0 --out {base}/exported",
     ["no study 'nope'", "pass --study NAME"], False),
    ("study: none in the run folder", "status --config {base}/no_study_here.toml",
     ["no study at sqlite:///", "run `distilbo search` first"], False),
    ("study: same name, other objectives", "search --config {base}/other_objectives.toml",
     ["study 'tiny'", "has objectives exact (maximize), num_parameters (minimize)",
      "asks for exact (maximize), latency_ms (minimize)", "use another study name (--study NAME)"], False),
    ("study: export a trial it does not have", "export --config {cfg} --trial 99 --out {base}/exported",
     ["--trial 99", "has no such trial"], False),
]


def _hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_exit_2_and_changes_nothing(world, case, capsys):
    _, argv, words, in_subprocess = case
    args = world.sub(argv).split()
    before = _hash(world.db)
    if in_subprocess:
        r = subprocess.run([sys.executable, "-m", "distilbo.cli", *args], capture_output=True, text=True, timeout=300)
        code, out, err = r.returncode, r.stdout, r.stderr
    else:
        code = main(args)
        out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert code == 2, (code, err[-3000:])
    assert "Traceback" not in err and len(lines) == 1, err[-3000:]
    assert lines[0].startswith("distilbo: error: ")
    for w in words:
        assert w in lines[0], f"{w!r} not in: {lines[0]}"
    assert "SECRET" not in err + out
    assert _hash(world.db) == before, "the study database changed"
    assert not (world.base / "exported").exists() and not (world.base / "empty-run").exists()


def test_the_same_world_with_good_input_succeeds(world, capsys):
    """The control for the matrix: each exit 2 above comes from its bad input, not from a broken world."""
    before = _hash(world.db)
    assert main(world.sub("status --config {cfg}").split()) == 0
    out = capsys.readouterr().out
    assert "finished" in out and out.splitlines()[1].startswith("0*")  # the world's study, its baseline first
    assert _hash(world.db) == before
