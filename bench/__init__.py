"""Benchmarks, run by hand (not collected by pytest); see README.md."""
