"""`[data] train_extra_file`: more labeled questions appended after train_file's, with their labels.

    PYTHONPATH=$PWD python -m pytest -q tests/test_train_extra.py
"""

from __future__ import annotations

import pytest

from _tiny import tiny_config, tokenizer
from conftest import SHARED, TRAIN_JSON
from distilbo.config import load_config
from distilbo.data.squad import load_examples
from distilbo.distill.trial import load_train
from distilbo.errors import UserError

EXTRA_JSON = SHARED / "data" / "squad2" / "train-extra.json"


def test_extra_questions_follow_the_train_file_with_their_answers(tmp_path):
    cfg = load_config(tiny_config(tmp_path, train_samples=6), {"train_extra_file": str(EXTRA_JSON),
                                                                "max_train_extra_samples": "4"})
    examples, feats = load_train(cfg, tokenizer())
    first, extra = load_examples(str(TRAIN_JSON), max_samples=6), load_examples(str(EXTRA_JSON), max_samples=4)
    assert [e.id for e in examples] == [e.id for e in first] + [e.id for e in extra]
    assert [e.answers for e in examples[6:]] == [e.answers for e in extra]
    assert set(feats.example_index.tolist()) == set(range(10))
    labeled = [i for i in range(len(feats)) if feats.example_index[i] >= 6 and feats.start_positions[i] > 0]
    assert labeled  # the extra questions' windows carry answer positions (hard labels), not only soft targets


def test_a_bad_extra_sample_count_names_the_field(tmp_path):
    with pytest.raises(UserError, match="max_train_extra_samples"):
        load_config(tiny_config(tmp_path), {"train_extra_file": str(EXTRA_JSON), "max_train_extra_samples": "0"})
