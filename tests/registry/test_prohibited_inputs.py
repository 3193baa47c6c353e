"""A model version whose interface reads a column its data marks ``prohibited_input`` is refused at registration
(registry.prohibited): named directly by a dataset version, or through a feature of a feature-set version computed
from it. Nothing is stored when it is refused."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from core.choices import AuditEventType
from core.models import AuditEvent
from core.refusals import Refusal
from registry import actions
from registry.models import ModelVersion
from tests.api_cases import assert_error_shape
from tests.audits.onnx_models import write_scorer
from tests.registry import factories
from tests.registry.factories import make_dataset, make_dataset_version, make_feature_view, make_model

pytestmark = pytest.mark.django_db

_empty_cache = factories._empty_cache
artifact_root = factories.artifact_root


def schema(*, prohibited: str | None) -> dict[str, Any]:
    """A credit table the test scorer (``income``, ``debt``) reads from; ``prohibited`` flags one column."""
    columns = [
        {"name": "applicant_id", "type": "int64", "nullable": False},
        {"name": "income", "type": "float64", "nullable": False},
        {"name": "debt", "type": "float64", "nullable": False},
        {"name": "ethnicity", "type": "string", "nullable": True, "special_category": True, "personal_data": True},
        {"name": "defaulted", "type": "boolean", "nullable": False},
    ]
    for column in columns:
        column["prohibited_input"] = column["name"] in (prohibited, "ethnicity")
    return {"columns": columns}


@pytest.fixture
def scorer(tmp_path: Path) -> Path:
    return write_scorer(tmp_path / "scorer.onnx")


def upload(client: Any, model: Any, path: Path, **fields: Any) -> Any:
    file = SimpleUploadedFile(path.name, path.read_bytes())
    return client.post(f"/api/v1/models/{model.pk}/versions/", {"file": file, **fields}, format="multipart")


def stored_files(root: Path) -> list[Path]:
    return sorted(path for path in root.rglob("*") if path.is_file())


def test_an_upload_reading_a_prohibited_column_is_refused_naming_it(cast, api_as, scorer, artifact_root):
    """GIVEN a dataset version that marks ``debt`` as a prohibited input
    WHEN a model reading ``income`` and ``debt`` is uploaded naming that dataset version
    THEN the upload is a 400 on ``dataset_versions`` naming ``debt``, and nothing is stored."""
    version = make_dataset_version(
        make_dataset(cast.team_a, cast.engineer_a), cast.engineer_a, schema(prohibited="debt")
    )
    model = make_model(cast.team_a, cast.engineer_a)
    response = upload(api_as(cast.engineer_a), model, scorer, dataset_versions=[version.pk])
    assert response.status_code == 400, response.content
    (message,) = assert_error_shape(response)["fields"]["dataset_versions"]
    assert message == (
        f"The model reads the column 'debt', which {version} marks as a prohibited input: a prohibited column may "
        "not be a model input. Retrain without it."
    )
    assert assert_error_shape(response)["code"] == "prohibited_input"
    assert not ModelVersion.objects.exists()
    assert stored_files(artifact_root) == []
    assert not AuditEvent.objects.filter(event_type=AuditEventType.MODEL_VERSION_REGISTERED).exists()
    # AND the refusal is in the audit log, with what was tried
    refusal = AuditEvent.objects.get(event_type=AuditEventType.MODEL_VERSION_REFUSED)
    assert refusal.actor_id == cast.engineer_a.pk
    assert refusal.target_id == str(model.pk)
    assert refusal.metadata["reason"] == "prohibited_input"
    assert refusal.metadata["column"] == "debt"
    assert refusal.metadata["dataset_version"] == version.pk
    assert refusal.metadata["feature"] == ""
    assert refusal.metadata["sha256"] == hashlib.sha256(scorer.read_bytes()).hexdigest()


def test_an_upload_that_leaves_the_prohibited_column_out_is_registered(cast, api_as, scorer, artifact_root):
    """GIVEN a dataset version whose only prohibited column is ``ethnicity``
    WHEN a model reading ``income`` and ``debt`` is uploaded naming it
    THEN it is registered."""
    version = make_dataset_version(make_dataset(cast.team_a, cast.engineer_a), cast.engineer_a, schema(prohibited=None))
    model = make_model(cast.team_a, cast.engineer_a)
    response = upload(api_as(cast.engineer_a), model, scorer, dataset_versions=[version.pk])
    assert response.status_code == 201, response.content
    assert response.json()["dataset_versions"] == [version.pk]


def test_a_prohibited_column_is_matched_without_case(cast, scorer, artifact_root):
    # Spark matches column names without case: a column written DEBT is the column the input ``debt`` reads.
    shouting = schema(prohibited=None)
    shouting["columns"][2] |= {"name": "DEBT", "prohibited_input": True}
    version = make_dataset_version(make_dataset(cast.team_a, cast.engineer_a), cast.engineer_a, shouting)
    model = make_model(cast.team_a, cast.engineer_a)
    with pytest.raises(Refusal, match="The model reads the column 'debt'"):
        factories.make_model_version(model, cast.engineer_a, scorer, dataset_versions=[version.pk])
    assert not ModelVersion.objects.exists()


@pytest.mark.parametrize(
    ("definition", "aggregation", "refused"),
    [
        ("debt", "none", True),  # the latest value of the prohibited column, under the feature's name
        ("case when debt > 0.5 then 1.0 else 0.0 end", "mean", True),  # computed from it
        ("target_encode(debt_band, defaulted)", "none", False),  # reads other columns only
        ("income", "mean", False),
    ],
)
def test_a_feature_computed_from_a_prohibited_column_is_refused(
    cast, scorer, artifact_root, definition, aggregation, refused
):
    """GIVEN a feature set whose feature ``debt`` is computed by ``definition`` from a dataset version that marks
    the source column ``debt`` prohibited
    WHEN a model reading that feature registers naming the feature set (not the dataset version)
    THEN it is refused on ``feature_set_versions`` naming the feature and the column, or registered."""
    engineer = cast.engineer_a
    table = schema(prohibited="debt")
    table["columns"].append({"name": "event_time", "type": "timestamp", "nullable": False})
    table["columns"].append({"name": "debt_band", "type": "string", "nullable": True})
    dataset = make_dataset(cast.team_a, engineer)
    source = make_dataset_version(dataset, engineer, table)
    features = [
        {"name": "income", "definition": "income", "aggregation": "mean", "window": "90d"},
        {"name": "debt", "definition": definition, "aggregation": aggregation}
        | ({"window": "90d"} if aggregation != "none" else {}),
    ]
    view = make_feature_view(cast.team_a, engineer, dataset, name="applicant", entity="applicant", features=features)
    feature_set = actions.do_register_feature_set_version(view, actor=engineer, dataset_versions=[source.pk])
    model = make_model(cast.team_a, engineer)
    if not refused:
        version = factories.make_model_version(model, engineer, scorer, feature_set_versions=[feature_set.pk])
        assert version.links["feature_set_versions"] == [feature_set.pk]
        return
    with pytest.raises(Refusal, match="prohibited input") as raised:
        factories.make_model_version(model, engineer, scorer, feature_set_versions=[feature_set.pk])
    assert raised.value.field == "feature_set_versions"
    assert raised.value.message == (
        f"The model reads the feature 'debt', computed from 'debt' of {source} (through {feature_set}), which "
        "is marked as a prohibited input: a prohibited column may not be a model input."
    )
    assert raised.value.metadata["feature"] == "debt"
    assert raised.value.metadata["column"] == "debt"
    assert not ModelVersion.objects.exists()
    assert stored_files(artifact_root) == []


def test_a_model_whose_inputs_name_no_column_is_not_held_to_the_flags(cast, api_as, models, artifact_root):
    # A matrix input without the ``features`` metadata: which columns it reads cannot be told, and it is registered
    # (the audits refuse to score it; the lineage gate reads the training run's column lineage).
    version = make_dataset_version(
        make_dataset(cast.team_a, cast.engineer_a), cast.engineer_a, schema(prohibited="debt")
    )
    model = make_model(cast.team_a, cast.engineer_a)
    response = upload(api_as(cast.engineer_a), model, models.logistic, dataset_versions=[version.pk])
    assert response.status_code == 201, response.content
