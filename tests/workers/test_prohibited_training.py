"""A training job whose features are computed from a column its data marks prohibited: Spark trains, and the
registration refuses the model (registry.prohibited), so the job fails naming the feature and the column and
registers nothing. Run in this process on the session's ``spark`` fixture, as test_spark_job_kinds.py runs jobs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core.choices import AuditEventType, JobStatus
from core.models import AuditEvent
from registry import actions
from registry.models import FeatureSetVersion, ModelVersion
from tests.registry.factories import EVENTS_SCHEMA, make_dataset, make_dataset_version, make_feature_view, make_model
from tests.workers.conftest import SPINE_SCHEMA
from tests.workers.test_spark_job_kinds import run


def test_a_training_job_on_a_feature_from_a_prohibited_column_fails_and_registers_nothing(
    transactional_db: None, cast: Any, lake: Path, spark: Any, settings: Any
) -> None:
    settings.TRAINING_PARITY_TOLERANCE = 0.01
    engineer = cast.engineer_a
    # GIVEN events whose ``channel`` column is marked prohibited, and a feature computed from it
    flagged = {
        "columns": [{**column, "prohibited_input": column["name"] == "channel"} for column in EVENTS_SCHEMA["columns"]]
    }
    events = make_dataset(cast.team_a, engineer, name="Events", location="lake://events")
    events_version = make_dataset_version(events, engineer, schema=flagged)
    labels = make_dataset(cast.team_a, engineer, name="Churn labels", location="lake://labels")
    labels_version = make_dataset_version(labels, engineer, schema=SPINE_SCHEMA)
    features = [
        {"name": "spend_30d", "definition": "amount", "aggregation": "sum", "window": "30d"},
        {
            "name": "web_share_30d",
            "definition": "case when channel = 'web' then 1.0 else 0.0 end",
            "aggregation": "mean",
            "window": "30d",
        },
    ]
    view = make_feature_view(cast.team_a, engineer, events, features=features)
    materialized = run(
        actions.do_request_materialization(
            view, actor=engineer, dataset_version=events_version.pk, spine_dataset_version=labels_version.pk
        )[0]
    )
    assert materialized.status == JobStatus.SUCCEEDED, materialized.error
    feature_set = FeatureSetVersion.objects.get(job=materialized)
    model = make_model(cast.team_a, engineer)
    # WHEN a model is trained on the feature set
    training = run(
        actions.do_request_training(
            model,
            actor=engineer,
            feature_set_version=feature_set.pk,
            label="churned",
            algorithm="logistic_regression",
            params={"maxIter": 5},
        )[0]
    )
    # THEN the job failed naming the feature and the prohibited column, and no version was registered
    assert training.status == JobStatus.FAILED
    assert training.error == (
        "The trained model was not registered: The model reads the feature 'web_share_30d', computed from 'channel' "
        f"of {events_version} (through {feature_set}), which is marked as a prohibited input: a prohibited column "
        "may not be a model input."
    )
    assert not ModelVersion.objects.filter(model=model).exists()
    refusal = AuditEvent.objects.get(event_type=AuditEventType.MODEL_VERSION_REFUSED)
    assert (refusal.metadata["reason"], refusal.metadata["column"]) == ("prohibited_input", "channel")
    assert refusal.metadata["feature"] == "web_share_30d"
    stored = Path(settings.ARTIFACT_ROOT) / "sha256"
    assert not stored.exists() or not any(path.is_file() for path in stored.rglob("*"))
