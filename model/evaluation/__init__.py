"""Evaluation: binary metrics, the public-test-split table and its plots. Never imported by
the runtime scorers."""
