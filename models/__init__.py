"""Recommender logic: plain functions on arrays and frames (no Prefect, no I/O)."""
