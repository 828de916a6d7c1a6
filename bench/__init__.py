"""Benchmarks: scripts that print tables (and write JSON) against the simulator's ground truth."""
