"""Benchmarks behind ``gpusafe bench``."""
