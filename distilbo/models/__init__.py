"""Student models: `student.py` builds stock BERT / DistilBERT / ALBERT QA students seeded from a checkpoint;
`_factorize.py` holds the pure math of factorized embedding tables."""
