"""distilbo: distill a BERT-family SQuAD 2.0 teacher into smaller students and find the accuracy/size/speed
Pareto frontier with constrained multi-objective Bayesian optimization."""

__version__ = "0.1.0"
