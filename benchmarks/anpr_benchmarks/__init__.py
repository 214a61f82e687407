"""Benchmarks: bounded in time, with progress bars, writing JSON and PNG plots to benchmarks/results/."""
