"""The audits' pipelines, functions of data: ``scoring`` scores a dataset with ONNX Runtime on Spark and aggregates
per-group confusion counts in one pass; ``fairness`` turns those counts into the fairness figures through fairlearn
and aif360. docs/audits.md."""


class AuditError(ValueError):
    """The data or the model cannot be audited (the message names why, for the job's error)."""
