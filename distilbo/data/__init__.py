"""SQuAD data: loading and validating SQuAD JSON (`squad.py`), tokenized windows as numpy arrays (`types.py`:
`Example`, `Features`), and batching them for a model (`batches.py`)."""
