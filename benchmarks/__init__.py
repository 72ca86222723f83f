"""Benchmarks: each prints a table. Run them from the project's root as `python -m benchmarks.<name>`."""
