"""Datasets, samples, labels, search, stats and counts."""
