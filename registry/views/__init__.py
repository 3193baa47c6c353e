"""The registry's pages: models, datasets, use cases and feature views, and the forms that start Spark jobs.

Every page reads through ``Model.objects.restrict(user)``, so another team's object is a 404 exactly like a missing
one. The writes are the edit forms of use cases, datasets and models (``editing``: the same actions as the API's
PATCH, for the same people) and the job requests of the feature view and model pages (``features.materialize``,
``models.model_train``): they call the same actions as the API (registry.actions.do_request_materialization and
do_request_training), for the team's engineers and admins only. Registration and lifecycle changes go through the
API and the CLI. List pages run a fixed number of queries whatever the number of rows (tests/registry/test_ui.py
checks it).

What the modules share is in ``registry.views.shared`` (page sizes, the audit trail card, job forms), ``core.ui``
(lists, filters, pagination) and ``registry.presentation`` (how metrics and contracts read).
"""

from __future__ import annotations

from registry.views.datasets import dataset_detail, dataset_edit, dataset_list, dataset_version_detail
from registry.views.features import (
    feature_set_version_detail,
    feature_view_detail,
    feature_view_list,
    materialize,
)
from registry.views.models import model_detail, model_edit, model_list, model_train, model_version_detail
from registry.views.use_cases import use_case_detail, use_case_edit, use_case_list

__all__ = [
    "dataset_detail",
    "dataset_edit",
    "dataset_list",
    "dataset_version_detail",
    "feature_set_version_detail",
    "feature_view_detail",
    "feature_view_list",
    "materialize",
    "model_detail",
    "model_edit",
    "model_list",
    "model_train",
    "model_version_detail",
    "use_case_detail",
    "use_case_edit",
    "use_case_list",
]
