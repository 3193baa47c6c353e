"""Benchmarks: the audit log and its API (``make bench``, ``python -m bench``) and the registry against MLflow
(``make bench-registry``, ``python -m bench.registry_vs_mlflow``)."""
