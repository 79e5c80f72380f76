"""Pure question-answering rules: logits -> answers (`postprocess.py`) and the official SQuAD 1.1 / 2.0 scoring
(`squad_v2.py`). No Optuna, no files."""
