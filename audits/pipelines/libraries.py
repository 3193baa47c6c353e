"""The fairness libraries, imported without their side effects.

aif360 logs "... will be unavailable" through the root logger when its optional extras are missing, and
``logging.warning`` on a root logger without handlers calls ``logging.basicConfig``: importing it would add a
stderr handler to the root logger of whatever process imports it (a worker, a test). ``import_aif360`` imports it
with the root logger's handlers swapped for a NullHandler (so basicConfig does nothing and the messages go
nowhere), then restores them. Imported only where the audits run (the Spark worker: requirements/spark.txt).
"""

from __future__ import annotations

import logging
import threading
from types import ModuleType
from typing import Any

_lock = threading.Lock()


def import_aif360() -> tuple[Any, Any]:
    """aif360's ``BinaryLabelDataset`` and ``ClassificationMetric``, the root logger left as it was."""
    with _lock:
        root = logging.getLogger()
        handlers, level = root.handlers[:], root.level
        root.handlers = [logging.NullHandler()]
        try:
            from aif360.datasets import BinaryLabelDataset
            from aif360.metrics import ClassificationMetric
        finally:
            root.handlers = handlers
            root.setLevel(level)
    return BinaryLabelDataset, ClassificationMetric


def import_fairlearn() -> ModuleType:
    """fairlearn.metrics (MetricFrame and the metric functions)."""
    import fairlearn.metrics

    return fairlearn.metrics
