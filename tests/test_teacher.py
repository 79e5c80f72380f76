"""`distilbo teacher` fine-tunes an encoder into a QA model that distilbo and plain transformers load."""

from __future__ import annotations

import json

from _tiny import tiny_bert
from conftest import DEV_JSON, TRAIN_JSON
from distilbo.cli import main


def test_teacher_command_finetunes_and_saves_a_loadable_qa_model(tmp_path, capsys, caplog):
    init = tiny_bert(tmp_path / "enc", qa=False, seed=5)
    out = tmp_path / "teacher"
    code = main(["teacher", "--model", str(init), "--train-file", str(TRAIN_JSON), "--dev-file", str(DEV_JSON),
                 "--out", str(out), "--epochs", "2", "--lr", "1e-3", "--batch-size", "8", "--max-seq-length", "96",
                 "--doc-stride", "32", "--max-train-samples", "24", "--max-eval-samples", "12", "--device", "cpu",
                 "--logging-steps", "1"])
    assert code == 0
    printed = capsys.readouterr().err + caplog.text  # a log line (stderr), not a print from library code
    assert printed.count("epoch done: dev exact") == 2  # per-epoch dev EM/F1
    log = json.loads((out / "training_log.json").read_text())
    losses = [r["loss"] for r in log["curves"] if "loss" in r]
    assert losses[-1] < losses[0]
    from transformers import AutoModelForQuestionAnswering

    model = AutoModelForQuestionAnswering.from_pretrained(str(out))
    assert type(model).__name__ == "BertForQuestionAnswering"
    assert (out / "model.safetensors").is_file() and (out / "tokenizer.json").is_file()
    # and distilbo can evaluate it
    assert main(["evaluate", "--model", str(out), "--data", str(DEV_JSON), "--max-eval-samples", "12",
                 "--max-seq-length", "96", "--doc-stride", "32", "--device", "cpu"]) == 0
    assert "total=12" in capsys.readouterr().out
