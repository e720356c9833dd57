"""Audits: fairness and performance measured on real predictions (`fairness` is the
vectorised core, equal to Fairlearn), the data they are read from (`data`), and the
Evaluation statements that record them (`evaluations`)."""
