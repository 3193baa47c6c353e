"""The audits' pipelines, functions of data: ``scoring`` scores a dataset with ONNX Runtime on Spark and aggregates
per-group confusion counts in one pass; ``fairness`` turns those counts into the fairness figures through fairlearn
and aif360. docs/audits.md."""
