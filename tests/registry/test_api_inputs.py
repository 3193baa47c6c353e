"""Bad input to the registry API: each refused with a precise 4xx, nothing stored, and an audit event where an
investigator would want one. Also uploads, downloads, filters, and query counts that stay flat as lists grow."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework import serializers as drf

from core import actions as core_actions
from core.choices import AuditEventType, Role
from core.models import AuditEvent
from registry import actions, artifacts
from registry.api.serializers import ModelVersionDetailSerializer, ModelVersionSerializer
from registry.models import Dataset, DatasetVersion, ModelVersion, RegisteredModel
from tests.api_cases import assert_error_shape
from tests.conftest import make_user
from tests.registry import factories
from tests.registry.factories import (
    SCHEMA,
    fingerprint,
    make_dataset,
    make_dataset_version,
    make_model,
    make_model_version,
    make_use_case,
)

pytestmark = pytest.mark.django_db

_empty_cache = factories._empty_cache
artifact_root = factories.artifact_root

BIG_BODY = 64 * 1024 * 1024


@pytest.fixture
def engineer(cast, api_as):
    return api_as(cast.engineer_a)


@pytest.fixture
def big_bodies(settings):
    # The foundation caps request bodies at MAX_REQUEST_BODY_BYTES (1 MiB by default); uploads need more.
    settings.MAX_REQUEST_BODY_BYTES = BIG_BODY
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = BIG_BODY


def stored_files(root: Path) -> list[Path]:
    return sorted(path for path in root.rglob("*") if path.is_file())


def upload(client, model, file_path: Path, /, *, name: str | None = None, **fields: Any):
    file = SimpleUploadedFile(name or file_path.name, file_path.read_bytes())
    return client.post(f"/api/v1/models/{model.pk}/versions/", {"file": file, **fields}, format="multipart")


def last_event(event_type: str) -> Any:
    return AuditEvent.objects.filter(event_type=event_type).order_by("-seq").first()


# --- Model versions: upload -----------------------------------------------------------------------------------------


def test_upload_registers_a_version_from_a_real_onnx_file(cast, engineer, models, artifact_root, big_bodies):
    model = make_model(cast.team_a, cast.engineer_a)
    dataset_version = make_dataset_version(make_dataset(cast.team_a, cast.engineer_a), cast.engineer_a)
    response = upload(
        engineer,
        model,
        models.logistic,
        metrics='{"auc": 0.91, "test": {"f1": 0.8}}',
        training_params='{"C": 1.0, "penalty": "l2"}',
        dataset_versions=[dataset_version.pk],
        authors=["erin-engineer", "alice-admin"],
        description="First model",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["number"] == 1
    assert body["artifact_sha256"] == hashlib.sha256(models.logistic.read_bytes()).hexdigest()
    assert body["artifact_size"] == models.logistic.stat().st_size
    assert body["artifact_filename"] == "logistic.onnx"
    assert body["interface"]["inputs"][0]["name"] == "X"
    assert body["metrics"] == {"auc": 0.91, "test": {"f1": 0.8}}
    assert body["dataset_versions"] == [dataset_version.pk]
    assert sorted(body["authors"]) == ["alice-admin", "erin-engineer"]
    assert body["status"] == "registered"
    assert body["transitions"] == []
    assert last_event(AuditEventType.MODEL_VERSION_REGISTERED).actor_id == cast.engineer_a.pk


def test_the_upload_answer_is_the_stored_version(cast, engineer, api_as, models, artifact_root, big_bodies):
    """GIVEN an upload naming dataset versions, a feature-set version's absence and two authors
    WHEN it is registered
    THEN the 201 answer (built from what the action wrote, not read back) is exactly what a GET of it returns."""
    model = make_model(cast.team_a, cast.engineer_a)
    dataset = make_dataset(cast.team_a, cast.engineer_a)
    first, second = make_dataset_version(dataset, cast.engineer_a), make_dataset_version(dataset, cast.engineer_a)
    response = upload(
        engineer,
        model,
        models.add,
        metrics='{"auc": 0.9}',
        dataset_versions=[second.pk, first.pk],
        authors=["alice-admin", "erin-engineer"],
    )
    assert response.status_code == 201, response.content

    stored = api_as(cast.compliance).get(f"/api/v1/models/{model.pk}/versions/{response.json()['number']}/")

    assert stored.status_code == 200
    assert response.json() == stored.json()


def test_registering_a_version_costs_the_same_statements_however_many_links(
    cast, engineer, models, artifact_root, big_bodies
):
    """GIVEN uploads with one, then three dataset versions and authors
    WHEN each is registered through the API
    THEN both cost the same number of SQL statements, and few: the token, the model and the right to write to it,
    the actor's right in the action, the dataset versions, the authors, the lock, the last number, the row, its links
    (one statement per kind), the audit chain's head and the event; on PostgreSQL also the audit chain's advisory
    lock and its SET CONSTRAINTS."""
    model = make_model(cast.team_a, cast.engineer_a)
    dataset = make_dataset(cast.team_a, cast.engineer_a)
    versions = [make_dataset_version(dataset, cast.engineer_a) for _ in range(3)]
    assert engineer.get("/api/v1/me/").status_code == 200  # the token's last-use write, out of the counts

    def statements(links: int) -> list[str]:
        with CaptureQueriesContext(connection) as queries:
            response = upload(
                engineer,
                model,
                models.add,
                dataset_versions=[row.pk for row in versions[:links]],
                authors=["erin-engineer", "alice-admin", "carol-compliance"][:links],
            )
        assert response.status_code == 201, response.content
        return [query["sql"] for query in queries.captured_queries if "SAVEPOINT" not in query["sql"]]

    one, three = statements(1), statements(3)
    assert len(one) == len(three)
    assert len(one) == (14 if connection.vendor == "postgresql" else 12), "\n".join(one)


@pytest.mark.parametrize(
    ("fixture", "words"),
    [
        ("pickle", "pickle"),
        ("joblib", "pickle"),
        ("joblib_compressed", "compressed"),
        ("torch_zip", "zip"),
        ("truncated", "truncated"),
        ("random", "onnx"),
        ("text", "text"),
    ],
)
def test_files_that_are_not_onnx_are_refused_naming_the_problem(
    cast, engineer, models, artifact_root, big_bodies, fixture, words
):
    # GIVEN a file that is not an ONNX model, named .onnx
    model = make_model(cast.team_a, cast.engineer_a)
    # WHEN an engineer uploads it
    response = upload(engineer, model, getattr(models, fixture), name="model.onnx")
    # THEN it is a 400 saying what it looks like, nothing is stored, and the attempt is in the audit log
    assert response.status_code == 400, response.content
    error = assert_error_shape(response)
    assert words in error["fields"]["file"][0].lower()
    assert not ModelVersion.objects.exists()
    assert stored_files(artifact_root) == []
    event = last_event(AuditEventType.MODEL_VERSION_REFUSED)
    assert event.actor_id == cast.engineer_a.pk
    assert event.target_id == str(model.pk)
    assert event.metadata["filename"] == "model.onnx"


@pytest.mark.parametrize("location", ["../../etc/passwd", "/etc/passwd", "not_uploaded.bin", "C:\\x.bin"])
def test_external_data_references_are_refused(cast, engineer, models, artifact_root, big_bodies, location):
    # GIVEN an ONNX file whose weights point outside the upload
    model = make_model(cast.team_a, cast.engineer_a)
    # WHEN it is uploaded
    response = upload(engineer, model, models.external_locations[location], name="model.onnx")
    # THEN it is refused as external data, and nothing is stored
    assert response.status_code == 400, response.content
    assert "(external_data_refused)" in assert_error_shape(response)["fields"]["file"][0]
    assert stored_files(artifact_root) == []
    assert last_event(AuditEventType.MODEL_VERSION_REFUSED).metadata["reason"] == "external_data_refused"


def test_an_upload_over_the_limit_is_413_and_leaves_no_file(
    cast, engineer, models, artifact_root, big_bodies, settings
):
    settings.MAX_ARTIFACT_BYTES = 100
    model = make_model(cast.team_a, cast.engineer_a)
    response = upload(engineer, model, models.logistic)
    assert response.status_code == 413, response.content
    assert assert_error_shape(response)["code"] == "artifact_too_large"
    assert stored_files(artifact_root) == []
    assert last_event(AuditEventType.MODEL_VERSION_REFUSED).metadata["reason"] == "too_large"


def test_a_body_over_the_request_limit_is_413_before_it_is_read(cast, engineer, artifact_root):
    model = make_model(cast.team_a, cast.engineer_a)
    response = engineer.generic(
        "POST",
        f"/api/v1/models/{model.pk}/versions/",
        b"x",
        content_type="multipart/form-data; boundary=x",
        CONTENT_LENGTH=str(10 * 1024**3),
    )
    assert response.status_code == 413
    assert not ModelVersion.objects.exists()
    assert stored_files(artifact_root) == []


@pytest.mark.parametrize(
    ("client_name", "shown"),
    [
        ("../../etc/passwd.onnx", "passwd.onnx"),
        ("%2e%2e/%2e%2e/model.onnx", "model.onnx"),
        ("..\\..\\windows\\model.onnx", "model.onnx"),
        ("/abs/path/model.onnx", "model.onnx"),
    ],
)
def test_client_filenames_are_display_only(cast, engineer, models, artifact_root, big_bodies, client_name, shown):
    model = make_model(cast.team_a, cast.engineer_a)
    response = upload(engineer, model, models.logistic, name=client_name)
    assert response.status_code == 201, response.content
    assert response.json()["artifact_filename"] == shown
    sha256 = response.json()["artifact_sha256"]
    assert stored_files(artifact_root) == [artifacts.ArtifactStore.default().path_for(sha256)]


def test_a_version_against_another_teams_dataset_needs_a_grant_and_a_missing_one_is_400(
    cast, engineer, models, artifact_root, big_bodies
):
    """Another team's dataset version without a data access grant is refused (403, the field named, the refusal
    recorded: docs/grants.md); a version that does not exist reads as missing (400). Nothing is stored either way."""
    theirs = make_dataset_version(make_dataset(cast.team_b, cast.engineer_b, owner=cast.engineer_b), cast.engineer_b)
    missing = theirs.pk + 1000
    model = make_model(cast.team_a, cast.engineer_a)
    response = upload(engineer, model, models.logistic, dataset_versions=[theirs.pk])
    assert response.status_code == 403, response.content
    assert assert_error_shape(response)["code"] == "no_data_grant"
    assert response.json()["error"]["message"].startswith("dataset_versions: ")
    assert AuditEvent.objects.filter(event_type=AuditEventType.DATA_ACCESS_REFUSED).count() == 1
    response = upload(engineer, model, models.logistic, dataset_versions=[missing])
    assert response.status_code == 400, response.content
    assert assert_error_shape(response)["fields"]["dataset_versions"] == [
        f'Invalid pk "{missing}" - object does not exist.'
    ]
    assert not ModelVersion.objects.exists()
    assert stored_files(artifact_root) == []


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"metrics": '{"auc": "high"}'}, "metrics"),
        ({"metrics": "not json"}, "metrics"),
        ({"training_params": "[1, 2]"}, "training_params"),
        ({"source": "file:///etc/passwd"}, "source"),
        ({"path": "/srv/models/model.onnx"}, "path"),
    ],
)
def test_bad_upload_fields_are_refused_before_anything_is_stored(
    cast, engineer, models, artifact_root, big_bodies, fields, field
):
    model = make_model(cast.team_a, cast.engineer_a)
    response = upload(engineer, model, models.logistic, **fields)
    assert response.status_code == 400, response.content
    assert field in assert_error_shape(response)["fields"]
    assert stored_files(artifact_root) == []


def test_an_upload_without_a_file_is_refused(cast, engineer, artifact_root):
    model = make_model(cast.team_a, cast.engineer_a)
    response = engineer.post(f"/api/v1/models/{model.pk}/versions/", {"metrics": "{}"}, format="multipart")
    assert response.status_code == 400
    assert "file" in assert_error_shape(response)["fields"]


def test_there_is_no_way_to_register_from_a_uri(cast, engineer, artifact_root):
    model = make_model(cast.team_a, cast.engineer_a)
    response = engineer.post(
        f"/api/v1/models/{model.pk}/versions/", {"source": "http://169.254.169.254/latest/"}, format="json"
    )
    assert response.status_code == 400
    assert set(assert_error_shape(response)["fields"]) == {"source"}
    assert not ModelVersion.objects.exists()


# --- Model versions: immutability, lifecycle, download --------------------------------------------------------------


@pytest.mark.parametrize("method", ["patch", "put", "delete"])
def test_versions_cannot_be_edited(cast, engineer, models, artifact_root, method):
    version = make_model_version(make_model(cast.team_a, cast.engineer_a), cast.engineer_a, models.logistic)
    response = getattr(engineer, method)(
        f"/api/v1/models/{version.model_id}/versions/1/", {"metrics": {"auc": 1}}, format="json"
    )
    assert response.status_code == 405
    version.refresh_from_db()
    assert version.metrics == {"auc": 0.91}


def test_transitions_through_the_api(cast, api_as, models, artifact_root):
    version = make_model_version(make_model(cast.team_a, cast.engineer_a), cast.engineer_a, models.logistic)
    url = f"/api/v1/models/{version.model_id}/versions/1/transitions/"
    engineer, officer = api_as(cast.engineer_a), api_as(cast.compliance)
    response = engineer.post(url, {"to_status": "in_review", "reason": "Ready"}, format="json")
    assert response.status_code == 200
    # approved and deployed are the release path's: nobody sets them here, whatever their role
    for client in (engineer, officer):
        for to_status in ("approved", "deployed"):
            response = client.post(url, {"to_status": to_status, "reason": "Reviewed the model card"}, format="json")
            assert response.status_code == 400
            assert "request a release" in assert_error_shape(response)["fields"]["to_status"][0]
    response = engineer.post(url, {"to_status": "deprecated", "reason": "now"}, format="json")
    assert response.status_code == 400
    assert "cannot become deprecated" in assert_error_shape(response)["fields"]["to_status"][0]
    response = engineer.post(url, {"to_status": "registered", "reason": "Metrics need another look"}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "registered"
    assert [(row["from_status"], row["to_status"], row["actor"]) for row in body["transitions"]] == [
        ("registered", "in_review", "erin-engineer"),
        ("in_review", "registered", "erin-engineer"),
    ]
    response = engineer.post(url, {"to_status": "in_review"}, format="json")
    assert response.status_code == 400
    assert "reason" in assert_error_shape(response)["fields"]


def test_download_streams_the_file_with_its_digest(cast, api_as, models, artifact_root):
    version = make_model_version(make_model(cast.team_a, cast.engineer_a), cast.engineer_a, models.logistic)
    response = api_as(cast.auditor).get(f"/api/v1/models/{version.model_id}/versions/1/artifact/")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == models.logistic.read_bytes()
    assert response["ETag"] == f'"{version.artifact_sha256}"'
    assert response["Content-Disposition"] == 'attachment; filename="Churn scorer-v1.onnx"'
    assert response["Content-Type"] == "application/octet-stream"


def test_a_corrupted_artifact_is_not_served_and_the_event_is_recorded(cast, api_as, models, artifact_root):
    # GIVEN a stored artifact whose bytes changed on disk
    version = make_model_version(make_model(cast.team_a, cast.engineer_a), cast.engineer_a, models.logistic)
    path = artifacts.ArtifactStore.default().path_for(version.artifact_sha256)
    path.chmod(0o644)
    path.write_bytes(path.read_bytes()[:-1] + b"\x00")
    # WHEN it is downloaded
    response = api_as(cast.engineer_a).get(f"/api/v1/models/{version.model_id}/versions/1/artifact/")
    # THEN no byte is served, and the corruption is in the audit log
    assert response.status_code == 500
    assert assert_error_shape(response)["code"] == "artifact_corrupted"
    event = last_event(AuditEventType.ARTIFACT_CORRUPTED)
    assert event.metadata["sha256"] == version.artifact_sha256
    assert event.actor_id == cast.engineer_a.pk


# --- Names --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "extra"),
    [
        ("/api/v1/models/", {}),
        (
            "/api/v1/datasets/",
            {
                "storage_format": "csv",
                "location": "s3://b/x",
                "classification": "internal",
                "legal_basis": "not_applicable",
            },
        ),
        ("/api/v1/use-cases/", {"objective": "x", "decision_mode": "automated", "risk_tier": "minimal"}),
    ],
)
@pytest.mark.parametrize("duplicate", ["RISK SCORE", "risk score", "Risk score ", "R\u0456sk score", "Ri\u0455k score"])
def test_confusable_or_case_variant_names_are_refused(cast, engineer, url, extra, duplicate):
    first = engineer.post(
        url, {"team": "team-a", "name": "Risk score", "owner": "erin-engineer", **extra}, format="json"
    )
    assert first.status_code == 201, first.content
    count = AuditEvent.objects.count()
    response = engineer.post(
        url, {"team": "team-a", "name": duplicate, "owner": "erin-engineer", **extra}, format="json"
    )
    assert response.status_code == 400, response.content
    assert "name" in assert_error_shape(response)["fields"]
    assert AuditEvent.objects.count() == count


@pytest.mark.parametrize("name", ["Risk\u202escore", "Risk\u200bscore", "Risk\u2066score", "Risk\x00score"])
def test_invisible_and_bidi_characters_in_names_are_refused(cast, engineer, name):
    response = engineer.post(
        "/api/v1/models/", {"team": "team-a", "name": name, "owner": "erin-engineer"}, format="json"
    )
    assert response.status_code == 400, response.content
    assert not RegisteredModel.objects.exists()


def test_a_model_cannot_name_another_teams_use_case(cast, engineer):
    theirs = make_use_case(cast.team_b, cast.engineer_b, owner=cast.engineer_b)
    response = engineer.post(
        "/api/v1/models/",
        {"team": "team-a", "name": "Scorer", "owner": "erin-engineer", "use_case": theirs.pk},
        format="json",
    )
    assert response.status_code == 400
    assert "does not exist" in assert_error_shape(response)["fields"]["use_case"][0]


def test_unknown_and_read_only_fields_are_refused(cast, engineer):
    response = engineer.post(
        "/api/v1/models/",
        {"team": "team-a", "name": "Scorer", "owner": "erin-engineer", "created_by": "root", "colour": "red"},
        format="json",
    )
    assert response.status_code == 400
    assert set(assert_error_shape(response)["fields"]) == {"created_by", "colour"}


# --- Dataset versions -------------------------------------------------------------------------------------------------


def test_a_breaking_schema_change_needs_the_flag(cast, engineer):
    # GIVEN a dataset with one version
    dataset = make_dataset(cast.team_a, cast.engineer_a)
    make_dataset_version(dataset, cast.engineer_a)
    url = f"/api/v1/datasets/{dataset.pk}/versions/"
    narrowed = {"columns": [{**column, "nullable": False} for column in SCHEMA["columns"]]}
    narrowed["columns"][1]["type"] = "int8"
    body = {"schema": narrowed, "content_fingerprint": fingerprint("v2")}
    # WHEN version 2 narrows a type and tightens nullability without the flag
    response = engineer.post(url, body, format="json")
    # THEN it is a 400 naming the change, nothing is stored, and the refusal is recorded with the report
    assert response.status_code == 400, response.content
    assert "breaking schema change" in assert_error_shape(response)["fields"]["schema"][0]
    assert DatasetVersion.objects.filter(dataset=dataset).count() == 1
    refused = last_event(AuditEventType.DATASET_VERSION_REFUSED)
    assert refused.metadata["reason"] == "breaking_schema_change"
    assert refused.metadata["evolution"]["breaking"] is True
    # WHEN the engineer sets the flag
    response = engineer.post(url, {**body, "allow_breaking_change": True}, format="json")
    # THEN it is registered and marked
    assert response.status_code == 201, response.content
    assert response.json()["breaking_change"] is True
    assert response.json()["number"] == 2


def test_dataset_locations_are_checked_through_the_api(cast, engineer):
    response = engineer.post(
        "/api/v1/datasets/",
        {
            "team": "team-a",
            "name": "Metadata",
            "owner": "erin-engineer",
            "storage_format": "csv",
            "location": "http://169.254.169.254/latest/meta-data/",
            "classification": "internal",
            "legal_basis": "not_applicable",
        },
        format="json",
    )
    assert response.status_code == 400
    assert "location" in assert_error_shape(response)["fields"]
    assert not Dataset.objects.exists()


# --- Lists: filters and query counts ---------------------------------------------------------------------------------


def test_models_and_versions_filter_by_tag_and_name(cast, api_as, models, artifact_root):
    churn = make_model(cast.team_a, cast.engineer_a, name="Churn scorer", tags=["churn", "tier-1"])
    fraud = make_model(cast.team_a, cast.engineer_a, name="Fraud scorer", tags=["fraud", "churn-adjacent"])
    make_model_version(churn, cast.engineer_a, models.logistic)
    make_model_version(fraud, cast.engineer_a, models.logistic)
    client = api_as(cast.compliance)

    def names(url: str) -> list[str]:
        response = client.get(url)
        assert response.status_code == 200, response.content
        return sorted(item.get("model_name", item.get("name")) for item in response.json()["results"])

    assert names("/api/v1/models/?tag=churn") == ["Churn scorer"]
    assert names("/api/v1/models/?tag=churn-adjacent") == ["Fraud scorer"]
    assert names("/api/v1/model-versions/?tag=churn") == ["Churn scorer"]
    assert names("/api/v1/model-versions/?tag=CHURN") == ["Churn scorer"]
    assert names("/api/v1/model-versions/?tag=chur") == []
    assert names("/api/v1/model-versions/?q=fraud") == ["Fraud scorer"]
    # An exact name is compared as names are when registered: case and look-alike letters fold, parts do not match.
    assert names("/api/v1/model-versions/?name=Churn scorer") == ["Churn scorer"]
    assert names("/api/v1/model-versions/?name=CHURN SCORER") == ["Churn scorer"]
    assert names("/api/v1/model-versions/?name=Churn sc\u043erer") == ["Churn scorer"]  # a Cyrillic "o"
    assert names("/api/v1/model-versions/?name=Churn") == []
    assert names("/api/v1/models/?name=fraud scorer") == ["Fraud scorer"]
    assert names("/api/v1/models/?name=Fraud") == []
    assert names("/api/v1/model-versions/?name=Fraud scorer&tag=churn") == []
    assert names("/api/v1/model-versions/?status=registered") == ["Churn scorer", "Fraud scorer"]
    assert names("/api/v1/model-versions/?status=deployed") == []


def test_version_pages_cut_keys_first_still_walk_every_version_once(cast, api_as, models, artifact_root):
    """GIVEN five versions over two models, and one of another team's
    WHEN the versions are read two at a time, following ``next``
    THEN every visible version comes exactly once, newest first, with the right count, and the other team's never."""
    churn = make_model(cast.team_a, cast.engineer_a, name="Churn scorer")
    fraud = make_model(cast.team_a, cast.engineer_a, name="Fraud scorer", tags=["fraud"])
    for model in (churn, fraud, churn, fraud, churn):
        make_model_version(model, cast.engineer_a, models.add)
    make_model_version(make_model(cast.team_b, cast.engineer_b, name="Other"), cast.engineer_b, models.add)
    client = api_as(cast.compliance)
    expected = list(
        ModelVersion.objects.filter(model__team=cast.team_a).order_by("-created_at", "-id").values_list("id", flat=True)
    )

    seen, url = [], "/api/v1/model-versions/?page_size=2"
    while url:
        page = client.get(url).json()
        assert page["count"] == 5
        seen += [row["id"] for row in page["results"]]
        url = page["next"]

    assert seen == expected
    second = client.get("/api/v1/model-versions/?page_size=2&page=2&name=churn scorer").json()
    assert second["count"] == 3
    assert [row["number"] for row in second["results"]] == [1]
    last = client.get("/api/v1/model-versions/?page_size=2&page=3").json()["results"]
    assert [row["id"] for row in last] == expected[-1:]
    assert last[0] == {
        key: value
        for key, value in client.get(f"/api/v1/model-versions/{expected[-1]}/").json().items()
        if key != "transitions"
    }
    assert client.get("/api/v1/model-versions/?page_size=2&page=4").status_code == 404


def test_version_answers_are_what_drf_would_build(cast, models, artifact_root):
    """GIVEN versions with and without links, a creator who was deleted, and a status history
    WHEN the version serializers' direct representation is compared with DRF's field-by-field one
    THEN they are equal, key for key and in the same order."""
    model = make_model(cast.team_a, cast.engineer_a)
    dataset = make_dataset(cast.team_a, cast.engineer_a)
    dataset_version = make_dataset_version(dataset, cast.engineer_a)
    linked = make_model_version(
        model, cast.engineer_a, models.add, dataset_versions=[dataset_version.pk], authors=["alice-admin"]
    )
    actions.do_change_version_status(linked, actor=cast.engineer_a, to_status="in_review", reason="Ready.")
    departed = make_user("frank-former")
    core_actions.do_grant_membership(cast.team_a, actor=cast.superuser, user=departed, role=Role.ENGINEER)
    plain = make_model_version(model, departed, models.add, authors=[])
    departed.delete()
    versions = list(ModelVersion.objects.filter(pk__in=[linked.pk, plain.pk]).order_by("pk"))
    assert versions == [linked, plain]
    for serializer_class in (ModelVersionSerializer, ModelVersionDetailSerializer):
        for version in versions:
            serializer = serializer_class()
            direct = serializer.to_representation(version)
            generic = dict(drf.ModelSerializer.to_representation(serializer, version))
            assert direct == generic
            assert list(direct) == list(generic) == serializer_class.Meta.fields
    # Lists build the same from columns, in the order of the keys given.
    listed = ModelVersionSerializer.page([plain.pk, linked.pk])
    generic_rows = [dict(drf.ModelSerializer.to_representation(ModelVersionSerializer(), v)) for v in versions[::-1]]
    assert listed == generic_rows
    assert [list(row) for row in listed] == [ModelVersionSerializer.Meta.fields] * 2


def _grow(cast, models, size: int) -> None:
    for index in range(size):
        use_case = make_use_case(cast.team_a, cast.engineer_a, name=f"Use case {index}")
        dataset = make_dataset(cast.team_a, cast.engineer_a, name=f"Dataset {index}")
        dataset_version = make_dataset_version(dataset, cast.engineer_a)
        model = make_model(cast.team_a, cast.engineer_a, name=f"Model {index}", use_case=use_case)
        make_model_version(model, cast.engineer_a, models.logistic, dataset_versions=[dataset_version.pk])


LISTS = [
    "/api/v1/use-cases/",
    "/api/v1/datasets/",
    "/api/v1/models/",
    "/api/v1/model-versions/",
    "/api/v1/model-versions/?tag=churn",
    "/api/v1/model-versions/?name=Model 1",
    "/api/v1/model-versions/?q=model",
    "/api/v1/models/?tag=churn",
]


def test_list_query_counts_do_not_grow_with_rows(cast, api_as, models, artifact_root):
    client = api_as(cast.compliance)

    def query_counts() -> dict[str, int]:
        # A token's last use is written at most once a minute: this request takes that write out of the counts.
        assert client.get("/api/v1/me/").status_code == 200
        result = {}
        for url in LISTS:
            with CaptureQueriesContext(connection) as queries:
                assert client.get(url).status_code == 200
            result[url] = len(queries)
        return result

    _grow(cast, models, 2)
    small = query_counts()
    for index in range(2, 7):
        use_case = make_use_case(cast.team_a, cast.engineer_a, name=f"Use case {index}")
        dataset = make_dataset(cast.team_a, cast.engineer_a, name=f"Dataset {index}")
        dataset_version = make_dataset_version(dataset, cast.engineer_a)
        model = make_model(cast.team_a, cast.engineer_a, name=f"Model {index}", use_case=use_case)
        make_model_version(model, cast.engineer_a, models.logistic, dataset_versions=[dataset_version.pk])
    assert query_counts() == small
    # The versions of one model and one dataset grow next.
    nested = [f"/api/v1/models/{model.pk}/versions/", f"/api/v1/datasets/{dataset.pk}/versions/"]
    counts = []
    assert client.get("/api/v1/me/").status_code == 200
    for _ in range(2):
        make_model_version(model, cast.engineer_a, models.logistic)
        make_dataset_version(dataset, cast.engineer_a)
        row = []
        for url in nested:
            with CaptureQueriesContext(connection) as queries:
                assert client.get(url).status_code == 200
            row.append(len(queries))
        counts.append(row)
    assert counts[0] == counts[1]
