"""The registry's pages: models, datasets, use cases and feature views, and the forms that start Spark jobs.

Every page reads through ``Model.objects.restrict(user)``, so another team's object is a 404 exactly like a missing
one. The only writes are the job requests of the feature view and model pages (``features.materialize``,
``models.model_train``): they call the same actions as the API (registry.actions.do_request_materialization and
do_request_training), for the team's engineers and admins only. Registration and lifecycle changes go through the
API and the CLI. List pages run a fixed number of queries whatever the number of rows (tests/registry/test_ui.py
checks it).

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
from registry.views.features import (  # noqa: E402
    feature_set_version_detail,
    feature_view_detail,
    feature_view_list,
    materialize,
)
from registry.views.models import (  # noqa: E402
    _contract_rows,
    model_detail,
    model_list,
    model_train,
    model_version_detail,
)
from registry.views.use_cases import use_case_detail, use_case_list  # noqa: E402

__all__ = [
    "PRIVACY_FLAGS",
    "_contract_rows",
    "_flat_metrics",
    "dataset_detail",
    "dataset_list",
    "dataset_version_detail",
    "feature_set_version_detail",
    "feature_view_detail",
    "feature_view_list",
    "materialize",
    "model_detail",
    "model_list",
    "model_train",
    "model_version_detail",
    "use_case_detail",
    "use_case_list",
]
