"""One distillation trial: the loss mix (`losses.py`, pure), the teacher-logit cache (`teacher_cache.py`), the
training loop read top to bottom (`train.py`), and the trial that ties data, teacher, student and scores together
(`trial.py`: `run_trial`)."""
