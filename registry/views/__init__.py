"""The registry's pages: models, datasets and use cases, read-only.

Every page reads through ``Model.objects.restrict(user)``, so another team's object is a 404 exactly like a missing
one. Nothing here writes: registration and lifecycle changes go through the API and the CLI (registry.actions).
List pages run a fixed number of queries whatever the number of rows (tests/registry/test_ui.py checks it).

The page sizes live here and the modules read them from here when a page is built, so that one setting (or a test's
monkeypatch) changes every page.
"""

from __future__ import annotations

PAGE_SIZE = 50
VERSION_PAGE_SIZE = 50
AUDIT_TRAIL_SIZE = 50
HISTORY_SIZE = 100

# The modules read the sizes above through this package: they are imported after them.
from registry.views._shared import PRIVACY_FLAGS, _flat_metrics  # noqa: E402
from registry.views.datasets import dataset_detail, dataset_list, dataset_version_detail  # noqa: E402
from registry.views.models import _contract_rows, model_detail, model_list, model_version_detail  # noqa: E402
from registry.views.use_cases import use_case_detail, use_case_list  # noqa: E402

__all__ = [
    "PRIVACY_FLAGS",
    "_contract_rows",
    "_flat_metrics",
    "dataset_detail",
    "dataset_list",
    "dataset_version_detail",
    "model_detail",
    "model_list",
    "model_version_detail",
    "use_case_detail",
    "use_case_list",
]
