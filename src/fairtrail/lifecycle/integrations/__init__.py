"""Helpers for the tools ML teams already use (scikit-learn, MLflow)."""
