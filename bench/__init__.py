"""Benchmarks of the audit log and its API: ``make bench`` (``python -m bench``)."""
