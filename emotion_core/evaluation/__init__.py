"""Judging a model: confusion matrices and per-class metrics, evaluation of splits and runs."""
