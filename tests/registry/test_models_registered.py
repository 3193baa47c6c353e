"""Registered models and their immutable ONNX versions: registration all-or-nothing, lifecycle, database guards.

The ONNX files are real (scikit-learn -> skl2onnx, built by the ``models`` fixture of tests/registry/conftest.py);
the hostile ones only pretend to be models and are never loaded.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DatabaseError, transaction

from core.choices import AuditEventType
from core.models import AuditEvent, Job
from core.refusals import Refusal
from registry import actions, artifacts
from registry.models import ModelVersion, ModelVersionTransition
from registry.models.registered_models import RegisteredModelTag
from tests.registry import factories
from tests.registry.factories import (
    make_dataset,
    make_dataset_version,
    make_model,
    make_model_version,
    make_use_case,
)

pytestmark = pytest.mark.django_db

artifact_root = factories.artifact_root


def stored_files(root: Path) -> list[Path]:
    return sorted(path for path in root.rglob("*") if path.is_file())


def test_a_version_holds_the_artifact_and_the_contract_read_from_it(cast, models, artifact_root):
    model = make_model(cast.team_a, cast.engineer_a)
    dataset_version = make_dataset_version(make_dataset(cast.team_a, cast.engineer_a), cast.engineer_a)
    version = make_model_version(
        model, cast.engineer_a, models.logistic, dataset_versions=[dataset_version.pk], filename="../../evil\\x.onnx"
    )
    data = models.logistic.read_bytes()
    assert version.number == 1
    assert version.artifact_size == len(data)
    assert artifacts.read_verified(version.artifact_sha256) == data
    assert [item["name"] for item in version.interface["inputs"]] == ["X"]
    assert version.interface["inputs"][0]["elem_type"] == "float32"
    assert {item["name"] for item in version.interface["outputs"]} == {"label", "probabilities"}
    assert version.artifact_filename == "x.onnx"  # display only: the path it was stored under is the digest
    assert stored_files(artifact_root) == [artifacts.ArtifactStore.default().path_for(version.artifact_sha256)]
    assert list(version.dataset_versions.all()) == [dataset_version]
    assert [user.username for user in version.authors.all()] == ["erin-engineer"]
    assert version.status == "registered"
    event: Any = AuditEvent.objects.get(event_type=AuditEventType.MODEL_VERSION_REGISTERED)
    assert event.after["artifact_sha256"] == version.artifact_sha256
    assert event.after["dataset_versions"] == [dataset_version.pk]


def test_versions_are_numbered_and_identical_content_is_stored_once(cast, models, artifact_root):
    model = make_model(cast.team_a, cast.engineer_a)
    first = make_model_version(model, cast.engineer_a, models.logistic)
    second = make_model_version(model, cast.engineer_a, models.logistic)
    third = make_model_version(model, cast.engineer_a, models.forest)
    assert [first.number, second.number, third.number] == [1, 2, 3]
    assert len(stored_files(artifact_root)) == 2


@pytest.mark.parametrize(
    ("fixture", "code"),
    [
        ("pickle", "pickle"),
        ("joblib", "pickle"),
        ("torch_zip", "zip_archive"),
        ("truncated", "truncated"),
        ("random", "not_onnx"),
        ("empty", "not_onnx"),
    ],
)
def test_files_that_are_not_onnx_are_refused_and_nothing_is_kept(cast, models, artifact_root, fixture, code):
    model = make_model(cast.team_a, cast.engineer_a)
    with pytest.raises(Refusal, match=re.escape(f"({code})")) as refused:
        make_model_version(model, cast.engineer_a, getattr(models, fixture))
    assert refused.value.field == "file"
    assert f"({code})" in refused.value.message
    assert refused.value.metadata["reason"] == code
    assert not ModelVersion.objects.exists()
    assert stored_files(artifact_root) == []


def test_a_version_a_training_job_registers_that_fails_validation_leaves_a_refusal_event(cast, models, artifact_root):
    # GIVEN a training job of team A's model (the worker calls the action itself: no API view is in between)
    model = make_model(cast.team_a, cast.engineer_a)
    job = Job.objects.create(kind="registry.train_model", team=cast.team_a, requested_by=cast.engineer_a)
    # WHEN the file it produced is not a model
    with pytest.raises(Refusal, match=r"^The file is not an ONNX model .*\(not_onnx\)$") as refused:
        make_model_version(model, cast.engineer_a, models.random, filename="gbt.onnx", job=job)
    # THEN nothing is registered, and the action itself recorded the refusal (after its own work rolled back)
    assert refused.value.recorded
    assert not ModelVersion.objects.exists()
    event = AuditEvent.objects.get(event_type=AuditEventType.MODEL_VERSION_REFUSED)
    assert (event.actor_id, event.target_id, event.team_id) == (cast.engineer_a.pk, str(model.pk), cast.team_a.pk)
    assert event.metadata["reason"] == "not_onnx"
    assert event.metadata["filename"] == "gbt.onnx"


def test_an_upload_over_the_limit_is_refused_and_leaves_no_file(cast, models, artifact_root, settings):
    settings.MAX_ARTIFACT_BYTES = 100
    model = make_model(cast.team_a, cast.engineer_a)
    with pytest.raises(Refusal, match=r"The upload is larger than the limit of 100 bytes\.") as refused:
        make_model_version(model, cast.engineer_a, models.logistic)
    assert refused.value.metadata["reason"] == "too_large"
    assert stored_files(artifact_root) == []


def test_another_teams_dataset_version_without_a_grant_is_refused(cast, models, artifact_root):
    # GIVEN a dataset version of team B and no data access grant for team A
    theirs = make_dataset_version(make_dataset(cast.team_b, cast.engineer_b, owner=cast.engineer_b), cast.engineer_b)
    model = make_model(cast.team_a, cast.engineer_a)
    # WHEN team A registers a version trained on it
    with pytest.raises(Refusal, match=r"^dataset_versions: dataset .* belongs to team team-b") as refused:
        make_model_version(model, cast.engineer_a, models.logistic, dataset_versions=[theirs.pk])
    # THEN refused (403) naming the field, the refusal recorded, and nothing stored
    assert (refused.value.status, refused.value.reason) == (403, "no_data_grant")
    assert AuditEvent.objects.filter(event_type=AuditEventType.DATA_ACCESS_REFUSED).count() == 1
    assert not ModelVersion.objects.exists()
    assert stored_files(artifact_root) == []


def test_authors_must_belong_to_the_team(cast, models, artifact_root):
    model = make_model(cast.team_a, cast.engineer_a)
    with pytest.raises(ValidationError, match=r"'bob-engineer' is not a member of team team-a\.") as refused:
        make_model_version(model, cast.engineer_a, models.logistic, authors=["erin-engineer", "bob-engineer"])
    assert "'bob-engineer' is not a member of team team-a." in refused.value.message_dict["authors"]


@pytest.mark.parametrize(
    ("metrics", "message"),
    [
        ({"auc": "0.9"}, "Metric auc must be a finite number."),
        ({"auc": True}, "Metric auc must be a finite number."),
        ({"auc": float("nan")}, "Metric auc must be a finite number."),
        ([0.9], "metrics must be an object of numbers."),
        ({"a": {"b": {"c": 1}}}, "Metric a.b must be a finite number."),
    ],
)
def test_metrics_are_numbers_only(cast, models, artifact_root, metrics, message):
    model = make_model(cast.team_a, cast.engineer_a)
    with pytest.raises(ValidationError, match=re.escape(message)) as refused:
        make_model_version(model, cast.engineer_a, models.logistic, metrics=metrics)
    assert refused.value.message_dict == {"metrics": [message]}
    assert stored_files(artifact_root) == []


def test_a_failure_after_the_file_is_stored_removes_it(cast, models, artifact_root, monkeypatch):
    # GIVEN a registration that fails after the artifact reached its content address (a lost connection, say)
    real_commit = artifacts.commit

    def commit_then_fail(staged):
        real_commit(staged)
        raise DatabaseError("connection lost")

    monkeypatch.setattr(actions.artifacts, "commit", commit_then_fail)
    model = make_model(cast.team_a, cast.engineer_a)
    with pytest.raises(DatabaseError, match=r"^connection lost$"):
        make_model_version(model, cast.engineer_a, models.logistic)
    # THEN neither the row nor the file remains
    assert not ModelVersion.objects.exists()
    assert stored_files(artifact_root) == []


def test_a_failure_keeps_content_other_versions_reference(cast, models, artifact_root, monkeypatch):
    model = make_model(cast.team_a, cast.engineer_a)
    kept = make_model_version(model, cast.engineer_a, models.logistic)

    def fail(staged):
        raise DatabaseError("connection lost")

    monkeypatch.setattr(actions.artifacts, "commit", fail)
    with pytest.raises(DatabaseError, match=r"^connection lost$"):
        make_model_version(model, cast.engineer_a, models.logistic)
    assert artifacts.verify(kept.artifact_sha256).size == kept.artifact_size


def test_versions_cannot_be_updated_except_their_status(cast, models, artifact_root):
    version = make_model_version(make_model(cast.team_a, cast.engineer_a), cast.engineer_a, models.logistic)
    changes: list[dict[str, Any]] = [
        {"metrics": {"auc": 1.0}},
        {"artifact_sha256": "0" * 64},
        {"interface": {}},
        {"number": 7},
    ]
    for change in changes:
        with pytest.raises(DatabaseError, match="immutable"), transaction.atomic():
            ModelVersion.objects.filter(pk=version.pk).update(**change)
    ModelVersion.objects.filter(pk=version.pk).update(status="in_review")  # through actions only, but allowed in SQL


def _release_path(version, actor, to_status, reason="Release 12"):
    """What governance and serving do inside their actions: the release path's own entry."""
    with transaction.atomic():
        return actions.record_release_transition(version, actor=actor, to_status=to_status, reason=reason)


def test_the_lifecycle_records_each_change(cast, models, artifact_root):
    # GIVEN a registered version
    version = make_model_version(make_model(cast.team_a, cast.engineer_a), cast.engineer_a, models.logistic)
    # WHEN it goes through review, approval and deployment (the release path), deprecation and retirement
    version = actions.do_change_version_status(version, actor=cast.engineer_a, to_status="in_review", reason="Ready")
    version = _release_path(version, cast.reviewers["risk"], "approved", "Quorum met")
    version = _release_path(version, cast.engineer_a, "deployed", "Release 12")
    version = actions.do_change_version_status(
        version, actor=cast.engineer_a, to_status="deprecated", reason="Replaced by v2"
    )
    version = actions.do_change_version_status(
        version, actor=cast.admin_a, to_status="retired", reason="No traffic for 30 days"
    )
    # THEN each change is a row with actor, from, to and reason, and an audit event
    rows = list(
        ModelVersionTransition.objects.filter(version=version).values_list("actor_name", "from_status", "to_status")
    )
    assert rows == [
        ("erin-engineer", "registered", "in_review"),
        ("rita-risk", "in_review", "approved"),
        ("erin-engineer", "approved", "deployed"),
        ("erin-engineer", "deployed", "deprecated"),
        ("alice-admin", "deprecated", "retired"),
    ]
    assert AuditEvent.objects.filter(event_type=AuditEventType.MODEL_VERSION_STATUS_CHANGED).count() == 5


def test_the_release_path_walks_through_approved(cast, models, artifact_root):
    version = make_model_version(make_model(cast.team_a, cast.engineer_a), cast.engineer_a, models.logistic)
    version = _release_path(version, cast.engineer_a, "deployed")
    assert version.status == "deployed"
    assert list(version.transitions.values_list("to_status", flat=True)) == ["in_review", "approved", "deployed"]


@pytest.mark.parametrize(
    ("path", "to_status"),
    [([], "deprecated"), ([], "registered"), (["in_review"], "deprecated"), (["retired"], "in_review")],
)
def test_transitions_outside_the_lifecycle_are_refused(cast, models, artifact_root, path, to_status):
    version = make_model_version(make_model(cast.team_a, cast.engineer_a), cast.engineer_a, models.logistic)
    for step in path:
        version = actions.do_change_version_status(version, actor=cast.engineer_a, to_status=step, reason="step")
    with pytest.raises(ValidationError, match=rf"version cannot become {to_status}; it may become: ") as refused:
        actions.do_change_version_status(version, actor=cast.admin_a, to_status=to_status, reason="skip")
    assert "cannot become" in refused.value.message_dict["to_status"][0]
    version.refresh_from_db()
    assert version.status == (path[-1] if path else "registered")


@pytest.mark.parametrize("to_status", ["approved", "deployed"])
def test_nobody_approves_or_deploys_by_hand(cast, models, artifact_root, to_status):
    """GIVEN a version in review WHEN anyone, whatever their role, sets it approved or deployed by hand
    THEN it is refused and pointed at the release path: a status field is not an approval."""
    version = make_model_version(make_model(cast.team_a, cast.engineer_a), cast.engineer_a, models.logistic)
    version = actions.do_change_version_status(version, actor=cast.engineer_a, to_status="in_review", reason="Ready")
    for actor in (cast.engineer_a, cast.admin_a, cast.compliance, cast.reviewers["risk"], cast.superuser):
        with pytest.raises(
            ValidationError,
            match=r"A version becomes approved when its review board's signatures meet the release policy",
        ) as refused:
            actions.do_change_version_status(version, actor=actor, to_status=to_status, reason="LGTM")
        assert "request a release" in refused.value.message_dict["to_status"][0]
    version.refresh_from_db()
    assert version.status == "in_review"


def test_reasons_are_required_and_only_writers_move_versions(cast, models, artifact_root):
    version = make_model_version(make_model(cast.team_a, cast.engineer_a), cast.engineer_a, models.logistic)
    with pytest.raises(ValidationError, match=r"Say why: a status change needs a reason\.") as invalid:
        actions.do_change_version_status(version, actor=cast.engineer_a, to_status="in_review", reason="  ")
    assert list(invalid.value.message_dict) == ["reason"]
    for outsider in (cast.auditor, cast.engineer_b, cast.reviewers["risk"]):
        with pytest.raises(PermissionDenied, match=r"^You may not change registry objects of team team-a\.$"):
            actions.do_change_version_status(version, actor=outsider, to_status="in_review", reason="Ready")


def test_model_names_are_unique_per_team_by_how_they_look(cast):
    make_model(cast.team_a, cast.engineer_a, name="Churn scorer")
    for variant, refusal in [
        ("churn SCORER", "'churn SCORER' looks the same as the existing Churn scorer in team team-a"),
        ("Churn scorer\u200b", "invisible formatting character U+200B ZERO WIDTH SPACE"),
        ("\u0421hurn scorer", "mixes the scripts CYRILLIC, LATIN"),
        ("Churn \u202escorer", "bidirectional control character U+202E RIGHT-TO-LEFT OVERRIDE"),
    ]:
        with pytest.raises(ValidationError, match=re.escape(refusal)) as refused:
            make_model(cast.team_a, cast.engineer_a, name=variant)
        assert list(refused.value.message_dict) == ["name"]


def test_capitals_that_look_alike_collide_though_their_small_letters_do_not(cast):
    """GIVEN a model named with a capital I
    WHEN another is registered whose name differs only by a small l in its place
    THEN it is refused: case folding alone (name_key) keeps "i" and "l" apart; the shape key catches it.

    And the other way round, a name whose keys are both free is accepted."""
    from registry.naming import name_key

    make_model(cast.team_a, cast.engineer_a, name="Ilse scorer")
    assert name_key("Ilse scorer") != name_key("llse scorer")
    with pytest.raises(
        ValidationError, match=r"'llse scorer' looks the same as the existing Ilse scorer in team team-a"
    ) as refused:
        make_model(cast.team_a, cast.engineer_a, name="llse scorer")
    assert "looks the same" in refused.value.message_dict["name"][0]
    assert make_model(cast.team_a, cast.engineer_a, name="Else scorer").shape_key


def test_a_model_serves_only_its_own_teams_use_case(cast):
    theirs = make_use_case(cast.team_b, cast.engineer_b, owner=cast.engineer_b)
    with pytest.raises(
        ValidationError, match=r"'use_case': \['Invalid pk \"\d+\" - object does not exist\.'\]"
    ) as refused:
        make_model(cast.team_a, cast.engineer_a, use_case=theirs)
    assert "does not exist" in refused.value.message_dict["use_case"][0]


@pytest.mark.parametrize(
    ("tags", "message"),
    [
        (["Churn"], "tags[0] 'Churn' must be 1-63 lower-case ASCII letters"),
        (["a b"], "tags[0] 'a b' must be 1-63 lower-case ASCII letters"),
        (["x" * 64], "tags[0] 'xxxxxxxx"),
        (["churn", "churn"], "tags lists an item twice."),
        ("churn", "tags must be a list of strings."),
        ([1], "tags[0] must be a non-empty string."),
    ],
)
def test_tags_are_short_lower_case_labels(cast, tags, message):
    with pytest.raises(ValidationError, match=re.escape(message)) as refused:
        make_model(cast.team_a, cast.engineer_a, tags=tags)
    assert list(refused.value.message_dict) == ["tags"]


def test_update_model_records_the_change_and_keeps_the_tag_rows(cast):
    def tag_rows(model):
        return sorted(RegisteredModelTag.objects.filter(model=model).values_list("tag", flat=True))

    model = make_model(cast.team_a, cast.engineer_a)
    assert tag_rows(model) == ["churn", "tier-1"]
    model = actions.do_update_model(model, actor=cast.engineer_a, tags=["churn", "tier-2"])
    assert tag_rows(model) == ["churn", "tier-2"]
    event = AuditEvent.objects.get(event_type=AuditEventType.MODEL_UPDATED)
    assert event.after == {"tags": ["churn", "tier-2"]}
    actions.do_update_model(model, actor=cast.engineer_a, description="Other words, same tags.")
    assert tag_rows(model) == ["churn", "tier-2"]
    actions.do_update_model(model, actor=cast.engineer_a, tags=[])
    assert tag_rows(model) == []


def test_a_use_case_turned_prohibited_stops_its_models(cast, models, artifact_root):
    # GIVEN a model serving a use case, with one version deployed and one approved
    use_case = make_use_case(cast.team_a, cast.engineer_a)
    model = make_model(cast.team_a, cast.engineer_a, use_case=use_case)
    deployed = make_model_version(model, cast.engineer_a, models.logistic)
    approved = make_model_version(model, cast.engineer_a, models.forest)
    for version, last in ((deployed, "deployed"), (approved, "approved")):
        _release_path(version, cast.engineer_a, last)
    # WHEN the use case is classified as prohibited while a version is deployed, THEN that is refused
    with pytest.raises(
        ValidationError, match=r"A model of this use case is deployed; retire it before prohibiting\."
    ) as refused:
        actions.do_update_use_case(use_case, actor=cast.admin_a, risk_tier="prohibited")
    assert "retire it" in refused.value.message_dict["risk_tier"][0]
    # WHEN the deployed version is withdrawn first, THEN the use case may be prohibited, and nothing deploys again
    deployed.refresh_from_db()
    actions.do_change_version_status(deployed, actor=cast.engineer_a, to_status="deprecated", reason="stop")
    actions.do_update_use_case(use_case, actor=cast.admin_a, risk_tier="prohibited")
    approved.refresh_from_db()
    with pytest.raises(ValidationError, match=r"The model's use case is a prohibited practice\.") as refused:
        _release_path(approved, cast.engineer_a, "deployed")
    assert "prohibited" in refused.value.message_dict["to_status"][0]
