"""Helpers for testing gpusafe and rewrites built on it (need the `dev` extra)."""
