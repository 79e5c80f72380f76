"""Plain data types shared by data loading, postprocessing, training and evaluation.

Shape glossary:
    N  number of features (windows); one question may have several windows
    L  max_seq_length (features are stored padded to L; batches are cut to their longest row)
    Q  number of questions (examples)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Example:
    """One SQuAD question with its context and gold answers (SQuAD 2.0: `answers` empty if unanswerable)."""

    id: str
    title: str
    context: str
    question: str
    answers: list[dict] = field(default_factory=list)
    """[{"text": str, "answer_start": int}, ...]; the first is the training label."""
    is_impossible: bool = False


@dataclass
class Features:
    """Tokenized windows of question + context, stored as padded numpy arrays (memory-mappable)."""

    input_ids: np.ndarray
    """(N, L) int32, padded with the tokenizer's pad id beyond `lengths`."""
    token_type_ids: np.ndarray
    """(N, L) int8: 0 for [CLS] question [SEP], 1 for context [SEP]."""
    lengths: np.ndarray
    """(N,) int32 real tokens per window; attention_mask = arange(L) < length."""
    offsets: np.ndarray
    """(N, L, 2) int32 character span of each token in the context; (-1, -1) for non-context tokens."""
    example_index: np.ndarray
    """(N,) int32 index of the window's question in the examples list."""
    start_positions: np.ndarray
    """(N,) int32 token index of the answer start; the CLS index (0) if unanswerable or outside the window."""
    end_positions: np.ndarray
    """(N,) int32 token index of the answer end; the CLS index (0) likewise."""

    def __len__(self) -> int:
        return int(self.input_ids.shape[0])

    def token_counts(self, vocab_size: int) -> np.ndarray:
        """(vocab_size,) int64: how often each token id occurs in the windows (padding excluded)."""
        real = np.arange(self.input_ids.shape[1])[None, :] < self.lengths[:, None]
        return np.bincount(self.input_ids[real].astype(np.int64), minlength=vocab_size)[:vocab_size]

    def subset(self, idx: np.ndarray) -> "Features":
        return Features(*(getattr(self, f)[idx] for f in FEATURE_FIELDS))

    def concat(self, other: "Features") -> "Features":
        """These rows, then `other`'s (its example_index shifted past this set's examples); same L needed."""
        shift = int(self.example_index.max()) + 1 if len(self) else 0
        return Features(*(np.concatenate([getattr(self, f), getattr(other, f) + (shift if f == "example_index" else 0)])
                          for f in FEATURE_FIELDS))


FEATURE_FIELDS = ("input_ids", "token_type_ids", "lengths", "offsets", "example_index", "start_positions", "end_positions")
