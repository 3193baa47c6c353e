"""Every registry endpoint, tried by every persona of the cast and by an anonymous client (see tests/api_cases.py).

Engineers and admins of team A (and platform administrators) create and edit; the team's compliance officer,
auditor and reviewers read; the engineer of team B sees nothing (404, or 400 naming a team that "does not exist").
Approving a version is the reviewers', compliance officers' and admins' call, not the engineers'.
"""

from __future__ import annotations

from typing import Any

import pytest

from core.choices import AuditEventType
from registry import actions
from registry.models import (
    Dataset,
    DatasetVersion,
    FeatureSetVersion,
    FeatureView,
    KpiObservation,
    ModelVersion,
    RegisteredModel,
    UseCase,
)
from tests.api_cases import PERSONAS, TEAM_A, ApiCase, World, matrix, run_case
from tests.registry import factories
from tests.registry.factories import (
    FEATURES,
    fingerprint,
    make_dataset,
    make_dataset_version,
    make_events_dataset,
    make_feature_view,
    make_model,
    make_model_version,
    make_use_case,
)

# Shared fixtures (tests/registry/conftest.py belongs to the pure modules' tests).
_empty_cache = factories._empty_cache
artifact_root = factories.artifact_root
world = factories.world

EVERYONE = dict.fromkeys(PERSONAS, 200)
TEAM_A_AND_ROOT = ("superuser", *TEAM_A)
WRITERS = ("superuser", "admin_a", "engineer_a")


def only(status: int, personas: tuple[str, ...]) -> dict[str, int]:
    return dict.fromkeys(personas, status)


def reads(status: int = 200) -> dict[str, int]:
    return {**only(status, TEAM_A_AND_ROOT), "engineer_b": 404}


def writes(status: int, *, outsider: int = 404) -> dict[str, int]:
    return {**only(status, WRITERS), "engineer_b": outsider}


def _use_case(world: World) -> dict[str, Any]:
    return {"use_case": make_use_case(world.cast.team_a, world.cast.engineer_a)}


def _dataset(world: World) -> dict[str, Any]:
    dataset = make_dataset(world.cast.team_a, world.cast.engineer_a)
    return {"dataset": dataset, "dataset_version": make_dataset_version(dataset, world.cast.engineer_a)}


def _model_version(world: World) -> dict[str, Any]:
    model = make_model(world.cast.team_a, world.cast.engineer_a)
    return {"model": model, "version": make_model_version(model, world.cast.engineer_a, LOGISTIC[0])}


def _in_review(world: World) -> dict[str, Any]:
    objects = _model_version(world)
    actions.do_change_version_status(
        objects["version"], actor=world.cast.engineer_a, to_status="in_review", reason="Ready for review"
    )
    return objects


def _feature_view(world: World) -> dict[str, Any]:
    dataset, dataset_version = make_events_dataset(world.cast.team_a, world.cast.engineer_a)
    view = make_feature_view(world.cast.team_a, world.cast.engineer_a, dataset)
    actions.do_register_feature_set_version(view, actor=world.cast.engineer_a, dataset_versions=[dataset_version.pk])
    return {"dataset": dataset, "dataset_version": dataset_version, "view": view}


LOGISTIC: list[Any] = []


@pytest.fixture(autouse=True)
def _logistic(models: Any) -> None:
    LOGISTIC[:] = [models.logistic]


def _versions_url(world: World) -> str:
    return f"/api/v1/models/{world.model.pk}/versions/1/"


CASES = [
    # --- use cases -------------------------------------------------------------------------------------------------
    ApiCase(
        "use_cases.list",
        "get",
        lambda w: "/api/v1/use-cases/",
        statuses=EVERYONE,
        setup=_use_case,
        listed=lambda w: '"name":"Churn prevention"',
        visible_to=TEAM_A_AND_ROOT,
    ),
    ApiCase(
        "use_cases.detail", "get", lambda w: f"/api/v1/use-cases/{w.use_case.pk}/", statuses=reads(), setup=_use_case
    ),
    ApiCase(
        "use_cases.create",
        "post",
        lambda w: "/api/v1/use-cases/",
        data=lambda w: {
            "team": "team-a",
            "name": "Fraud detection",
            "objective": "Stop card fraud.",
            "decision_mode": "automated",
            "risk_tier": "high",
            "owner": "erin-engineer",
            "kpis": [{"name": "fraud_loss", "unit": "EUR", "baseline": 100, "target": 60}],
        },
        statuses=writes(201, outsider=400),
        event=AuditEventType.USE_CASE_CREATED,
        counted=(UseCase,),
    ),
    ApiCase(
        "use_cases.patch",
        "patch",
        lambda w: f"/api/v1/use-cases/{w.use_case.pk}/",
        data=lambda w: {"risk_tier": "high"},
        setup=_use_case,
        statuses=writes(200),
        event=AuditEventType.USE_CASE_UPDATED,
        counted=(UseCase,),
    ),
    ApiCase(
        "use_cases.observations.list",
        "get",
        lambda w: f"/api/v1/use-cases/{w.use_case.pk}/observations/",
        statuses=reads(),
        setup=_use_case,
    ),
    ApiCase(
        "use_cases.observations.record",
        "post",
        lambda w: f"/api/v1/use-cases/{w.use_case.pk}/observations/",
        data=lambda w: {"kpi": "churn_rate", "value": 11.5, "observed_at": "2026-10-01T00:00:00Z"},
        setup=_use_case,
        statuses=writes(201),
        event=AuditEventType.KPI_OBSERVATION_RECORDED,
        counted=(KpiObservation,),
    ),
    # --- datasets --------------------------------------------------------------------------------------------------
    ApiCase(
        "datasets.list",
        "get",
        lambda w: "/api/v1/datasets/",
        statuses=EVERYONE,
        setup=_dataset,
        listed=lambda w: '"name":"Customers"',
        visible_to=TEAM_A_AND_ROOT,
    ),
    ApiCase("datasets.detail", "get", lambda w: f"/api/v1/datasets/{w.dataset.pk}/", statuses=reads(), setup=_dataset),
    ApiCase(
        "datasets.create",
        "post",
        lambda w: "/api/v1/datasets/",
        data=lambda w: {
            "team": "team-a",
            "name": "Transactions",
            "owner": "erin-engineer",
            "storage_format": "delta",
            "location": "abfss://lake@account.dfs.core.windows.net/transactions",
            "classification": "restricted",
            "legal_basis": "legal_obligation",
        },
        statuses=writes(201, outsider=400),
        event=AuditEventType.DATASET_CREATED,
        counted=(Dataset,),
    ),
    ApiCase(
        "datasets.patch",
        "patch",
        lambda w: f"/api/v1/datasets/{w.dataset.pk}/",
        data=lambda w: {"classification": "restricted"},
        setup=_dataset,
        statuses=writes(200),
        event=AuditEventType.DATASET_UPDATED,
        counted=(Dataset,),
    ),
    ApiCase(
        "dataset_versions.list",
        "get",
        lambda w: f"/api/v1/datasets/{w.dataset.pk}/versions/",
        statuses=reads(),
        setup=_dataset,
    ),
    ApiCase(
        "dataset_versions.detail",
        "get",
        lambda w: f"/api/v1/datasets/{w.dataset.pk}/versions/1/",
        statuses=reads(),
        setup=_dataset,
    ),
    ApiCase(
        "dataset_versions.register",
        "post",
        lambda w: f"/api/v1/datasets/{w.dataset.pk}/versions/",
        data=lambda w: {"schema": w.dataset_version.schema, "content_fingerprint": fingerprint("v2"), "row_count": 10},
        setup=_dataset,
        statuses=writes(201),
        event=AuditEventType.DATASET_VERSION_REGISTERED,
        counted=(DatasetVersion,),
    ),
    ApiCase(
        "dataset_versions.patch_is_not_allowed",
        "patch",
        lambda w: f"/api/v1/datasets/{w.dataset.pk}/versions/1/",
        data=lambda w: {"row_count": 1},
        setup=_dataset,
        default=405,
        counted=(DatasetVersion,),
    ),
    # --- feature views ---------------------------------------------------------------------------------------------
    ApiCase(
        "feature_views.list",
        "get",
        lambda w: "/api/v1/feature-views/",
        statuses=EVERYONE,
        setup=_feature_view,
        listed=lambda w: '"name":"customer_activity"',
        visible_to=TEAM_A_AND_ROOT,
    ),
    ApiCase(
        "feature_views.detail",
        "get",
        lambda w: f"/api/v1/feature-views/{w.view.pk}/",
        statuses=reads(),
        setup=_feature_view,
    ),
    ApiCase(
        "feature_views.create",
        "post",
        lambda w: "/api/v1/feature-views/",
        data=lambda w: {
            "team": "team-a",
            "name": "customer_spend",
            "entity": "customer",
            "source_dataset": w.dataset.pk,
            "event_time_column": "event_time",
            "features": FEATURES,
            "owner": "erin-engineer",
        },
        setup=_feature_view,
        statuses=writes(201, outsider=400),
        event=AuditEventType.FEATURE_VIEW_CREATED,
        counted=(FeatureView,),
    ),
    ApiCase(
        "feature_views.patch",
        "patch",
        lambda w: f"/api/v1/feature-views/{w.view.pk}/",
        data=lambda w: {"description": "Documented."},
        setup=_feature_view,
        statuses=writes(200),
        event=AuditEventType.FEATURE_VIEW_UPDATED,
        counted=(FeatureView,),
    ),
    ApiCase(
        "feature_set_versions.list",
        "get",
        lambda w: f"/api/v1/feature-views/{w.view.pk}/versions/",
        statuses=reads(),
        setup=_feature_view,
    ),
    ApiCase(
        "feature_set_versions.detail",
        "get",
        lambda w: f"/api/v1/feature-views/{w.view.pk}/versions/1/",
        statuses=reads(),
        setup=_feature_view,
    ),
    ApiCase(
        "feature_set_versions.register",
        "post",
        lambda w: f"/api/v1/feature-views/{w.view.pk}/versions/",
        data=lambda w: {"dataset_versions": [w.dataset_version.pk], "statistics": {"spend_7d": {"mean": 3.5}}},
        setup=_feature_view,
        statuses=writes(201),
        event=AuditEventType.FEATURE_SET_VERSION_REGISTERED,
        counted=(FeatureSetVersion,),
    ),
    ApiCase(
        "feature_set_versions.patch_is_not_allowed",
        "patch",
        lambda w: f"/api/v1/feature-views/{w.view.pk}/versions/1/",
        data=lambda w: {"features": []},
        setup=_feature_view,
        default=405,
        counted=(FeatureSetVersion,),
    ),
    # --- registered models -----------------------------------------------------------------------------------------
    ApiCase(
        "models.list",
        "get",
        lambda w: "/api/v1/models/",
        statuses=EVERYONE,
        setup=lambda w: {"model": make_model(w.cast.team_a, w.cast.engineer_a)},
        listed=lambda w: '"name":"Churn scorer"',
        visible_to=TEAM_A_AND_ROOT,
    ),
    ApiCase(
        "models.detail",
        "get",
        lambda w: f"/api/v1/models/{w.model.pk}/",
        statuses=reads(),
        setup=lambda w: {"model": make_model(w.cast.team_a, w.cast.engineer_a)},
    ),
    ApiCase(
        "models.create",
        "post",
        lambda w: "/api/v1/models/",
        data=lambda w: {"team": "team-a", "name": "Fraud scorer", "owner": "erin-engineer", "tags": ["fraud"]},
        statuses=writes(201, outsider=400),
        event=AuditEventType.MODEL_CREATED,
        counted=(RegisteredModel,),
    ),
    ApiCase(
        "models.patch",
        "patch",
        lambda w: f"/api/v1/models/{w.model.pk}/",
        data=lambda w: {"tags": ["churn", "tier-2"]},
        setup=lambda w: {"model": make_model(w.cast.team_a, w.cast.engineer_a)},
        statuses=writes(200),
        event=AuditEventType.MODEL_UPDATED,
        counted=(RegisteredModel,),
    ),
    ApiCase(
        "model_versions.list",
        "get",
        lambda w: f"/api/v1/models/{w.model.pk}/versions/",
        statuses=reads(),
        setup=_model_version,
    ),
    ApiCase("model_versions.detail", "get", _versions_url, statuses=reads(), setup=_model_version),
    ApiCase(
        "model_versions.patch_is_not_allowed",
        "patch",
        _versions_url,
        data=lambda w: {"metrics": {"auc": 0.99}},
        setup=_model_version,
        default=405,
        counted=(ModelVersion,),
    ),
    ApiCase(
        "model_versions.put_is_not_allowed",
        "put",
        _versions_url,
        data=lambda w: {"metrics": {"auc": 0.99}},
        setup=_model_version,
        default=405,
        counted=(ModelVersion,),
    ),
    ApiCase(
        "model_versions.delete_is_not_allowed",
        "delete",
        _versions_url,
        setup=_model_version,
        default=405,
        counted=(ModelVersion,),
    ),
    ApiCase(
        "model_versions.artifact",
        "get",
        lambda w: f"/api/v1/models/{w.model.pk}/versions/1/artifact/",
        statuses=reads(),
        setup=_model_version,
    ),
    ApiCase(
        "model_versions.submit_for_review",
        "post",
        lambda w: f"/api/v1/models/{w.model.pk}/versions/1/transitions/",
        data=lambda w: {"to_status": "in_review", "reason": "Ready"},
        setup=_model_version,
        statuses=writes(200),
        event=AuditEventType.MODEL_VERSION_STATUS_CHANGED,
    ),
    ApiCase(
        "model_versions.send_back",
        "post",
        lambda w: f"/api/v1/models/{w.model.pk}/versions/1/transitions/",
        data=lambda w: {"to_status": "registered", "reason": "Metrics need another look"},
        setup=_in_review,
        statuses=writes(200),
        event=AuditEventType.MODEL_VERSION_STATUS_CHANGED,
    ),
    ApiCase(
        "model_versions.search",
        "get",
        lambda w: "/api/v1/model-versions/?tag=churn",
        statuses=EVERYONE,
        setup=_model_version,
        listed=lambda w: '"model_name":"Churn scorer"',
        visible_to=TEAM_A_AND_ROOT,
    ),
    ApiCase(
        "model_versions.search_detail",
        "get",
        lambda w: f"/api/v1/model-versions/{w.version.pk}/",
        statuses=reads(),
        setup=_model_version,
    ),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("case", "persona"), matrix(CASES))
def test_matrix(case: ApiCase, persona: str, world: World) -> None:
    run_case(case, persona, world)
