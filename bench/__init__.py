"""Benchmarks of the dispatch hub against the targets in GOALS.md (see bench/README.md)."""
