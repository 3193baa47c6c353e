"""The release manifest (built from the database, never from a client), its digest, what changes it, the diff,
release requests and withdrawal, and who is conflicted (separation of duties)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from core.canonical import canonical_digest
from core.choices import AuditEventType
from core.models import AuditEvent
from governance import actions
from governance.manifest import build_manifest, conflicted_users, manifest_diff, manifest_digest
from governance.models import Release
from registry import actions as registry_actions
from registry.models import ModelVersion
from tests.api_cases import World
from tests.governance.factories import make_ready_version, set_reasons
from tests.registry.factories import make_model


def fresh(release: Release) -> Release:
    """The release as another request would read it: from the database, nothing cached."""
    return Release.objects.get(pk=release.pk)


# --- What it holds, and its digest --------------------------------------------------------------------------------


def test_the_manifest_covers_the_release_evidence(rw: Any) -> None:
    manifest = rw.release.manifest
    version = rw.version
    assert manifest["release"] == str(rw.release.uid)
    assert manifest["artifact"] == {"sha256": version.artifact_sha256, "size": version.artifact_size}
    assert manifest["subject"] == {"name": "team-a/Limit scorer@v1", "sha256": version.artifact_sha256}
    assert manifest["model_version"]["interface"] == version.interface
    assert manifest["model_version"]["training_params"] == {"C": 1.0}
    assert manifest["model_version"]["metrics"] == {"auc": 0.91}
    assert manifest["model_version"]["authors"] == ["erin-engineer"]
    card = manifest["model"]
    assert card["intended_use"] == "Rank customers for retention calls."
    assert card["limitations"] == "Not calibrated below 1% risk."
    assert card["assumptions"] == "Monthly data."
    assert card["owner"] == "erin-engineer"
    assert manifest["use_case"]["risk_tier"] == "high"
    assert manifest["use_case"]["name"] == "Credit limit"
    (dataset,) = manifest["datasets"]
    assert dataset["dataset"]["classification"] == "confidential"
    assert dataset["dataset"]["residency_region"] == "eu-west-1"
    assert dataset["dataset"]["legal_basis"] == "contract"
    assert dataset["columns"] == {
        "personal_data": ["age", "income"],
        "special_category": [],
        "protected_attribute": ["age"],
        "prohibited_input": [],
    }
    assert re.fullmatch(r"[0-9a-f]{64}", dataset["content_fingerprint"])
    assert manifest["feature_sets"] == []
    assert manifest["audit_reports"] == []
    assert manifest["dpia"] is None
    assert manifest["lineage"]["runs"] == []  # no lineage recorded for this model version
    lineage = {key: value for key, value in manifest["lineage"].items() if key != "digest"}
    assert manifest["lineage"]["digest"] == canonical_digest(lineage)
    assert manifest["policy"]["version"] == 1
    assert manifest["policy"]["requirements"] == {
        "required_roles": {"legal": 1, "technical": 1},
        "min_total": 2,
        "approval_valid_days": 30,
        "required_checks": [],
    }
    assert manifest["requester"] == "erin-engineer"
    assert re.fullmatch(r"[0-9a-f]{32}", manifest["nonce"])
    assert manifest["requested_at"].endswith("Z")
    # The digest is the SHA-256 of the RFC 8785 bytes
    assert rw.release.manifest_digest == canonical_digest(manifest) == manifest_digest(manifest)


def test_rebuilt_later_with_the_same_nonce_and_time_the_digest_is_the_same(rw: Any) -> None:
    # GIVEN a release read back from the database (JSON columns round-tripped, nothing cached)
    release = fresh(rw.release)
    # WHEN its manifest is rebuilt THEN it equals the stored one, byte for byte
    assert build_manifest(release) == release.manifest
    assert manifest_digest(build_manifest(release)) == release.manifest_digest
    # AND unrelated changes (a status change, another model) do not move it
    make_model(rw.cast.team_a, rw.cast.engineer_a, name="Another model")
    assert manifest_digest(build_manifest(fresh(release))) == release.manifest_digest


def test_two_releases_of_the_same_version_differ_by_their_nonce(rw: Any) -> None:
    staging = actions.do_create_environment(actor=rw.cast.superuser, slug="staging", name="Staging")
    from tests.governance.factories import make_policy

    make_policy(rw.cast.compliance, rw.cast.team_a, staging, rw.board, name="Staging high")
    other = actions.do_request_release(rw.version, actor=rw.cast.engineer_a, environment=staging)
    assert other.nonce != rw.release.nonce
    assert other.manifest_digest != rw.release.manifest_digest


def _change_dataset_classification(rw: Any) -> None:
    dataset = rw.version.dataset_versions.get().dataset
    registry_actions.do_update_dataset(dataset, actor=rw.cast.admin_a, classification="restricted")


def _change_model_limitations(rw: Any) -> None:
    registry_actions.do_update_model(rw.version.model, actor=rw.cast.admin_a, limitations="Not for anyone under 21.")


def _change_use_case_risk_tier(rw: Any) -> None:
    registry_actions.do_update_use_case(rw.version.model.use_case, actor=rw.cast.admin_a, risk_tier="limited")


@pytest.mark.parametrize(
    ("change", "path", "before", "after"),
    [
        (_change_dataset_classification, "datasets[id={dv}].dataset.classification", "confidential", "restricted"),
        (_change_model_limitations, "model.limitations", "Not calibrated below 1% risk.", "Not for anyone under 21."),
        (_change_use_case_risk_tier, "use_case.risk_tier", "high", "limited"),
    ],
)
def test_a_change_to_anything_covered_changes_the_digest(
    rw: Any, change: Any, path: str, before: str, after: str
) -> None:
    # GIVEN a release and its digest
    digest = rw.release.manifest_digest
    # WHEN something the manifest covers changes
    change(rw)
    # THEN the rebuilt manifest has another digest, and the diff names exactly that change
    rebuilt = build_manifest(fresh(rw.release))
    assert manifest_digest(rebuilt) != digest
    dataset_version = rw.version.dataset_versions.get().pk
    assert manifest_diff(rw.release.manifest, rebuilt) == [
        {"path": path.format(dv=dataset_version), "before": before, "after": after}
    ]


def test_manifest_diff_names_additions_removals_and_positions() -> None:
    old = {"a": 1, "list": [1, 2], "items": [{"id": 1, "x": "a"}, {"id": 2, "x": "b"}], "gone": True}
    new = {"a": 2, "list": [1, 3], "items": [{"id": 2, "x": "c"}, {"id": 3, "x": "d"}], "new": None}
    assert manifest_diff(old, new) == [
        {"path": "a", "before": 1, "after": 2},
        {"path": "gone", "before": True, "after": None},
        {"path": "items[id=1]", "before": {"id": 1, "x": "a"}, "after": None},
        {"path": "items[id=2].x", "before": "b", "after": "c"},
        {"path": "items[id=3]", "before": None, "after": {"id": 3, "x": "d"}},
        {"path": "list", "before": [1, 2], "after": [1, 3]},
    ]
    assert manifest_diff(old, old) == []


def test_the_manifest_is_never_accepted_from_a_client(world: World, rw: Any) -> None:
    actions.do_withdraw_release(rw.release, actor=rw.cast.engineer_a, reason="again")
    response = world.client("engineer_a").post(
        "/api/v1/releases/",
        {"model_version": rw.version.pk, "environment": "production", "manifest": {"artifact": "x"}},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"manifest": ["Unknown field."]}
    response = world.client("engineer_a").post(
        "/api/v1/releases/",
        {"model_version": rw.version.pk, "environment": "production", "manifest_digest": "0" * 64},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"manifest_digest": ["Unknown field."]}


def test_the_manifest_endpoint_serves_the_current_manifest(world: World, rw: Any) -> None:
    client = world.client("reviewer_legal")
    body = client.get(f"/api/v1/releases/{rw.release.pk}/manifest/").json()
    assert body["manifest_digest"] == rw.release.manifest_digest
    assert body["release"] == str(rw.release.uid)
    assert body["subject_name"] == "team-a/Limit scorer@v1"
    assert body["artifact"] == rw.release.manifest["artifact"]
    _change_model_limitations(rw)
    changed = client.get(f"/api/v1/releases/{rw.release.pk}/manifest/").json()
    assert changed["manifest_digest"] != rw.release.manifest_digest
    assert changed["manifest"]["model"]["limitations"] == "Not for anyone under 21."
    detail = client.get(f"/api/v1/releases/{rw.release.pk}/").json()
    assert detail["manifest_digest"] == rw.release.manifest_digest  # as requested
    assert detail["release_state"]["current_digest"] == changed["manifest_digest"]
    assert detail["release_state"]["manifest_changed"] is True


# --- Requesting and withdrawing -----------------------------------------------------------------------------------


def test_requesting_a_release_puts_the_version_in_review_and_withdrawing_takes_it_back(rw: Any) -> None:
    version = ModelVersion.objects.get(pk=rw.version.pk)
    assert version.status == "in_review"
    requested = AuditEvent.objects.get(event_type=AuditEventType.RELEASE_REQUESTED)
    assert (requested.after or {})["manifest_digest"] == rw.release.manifest_digest
    assert requested.actor_id == rw.cast.engineer_a.pk
    # A second open release of the same version to the same environment is refused
    with pytest.raises(
        ValidationError,
        match=r"Release \d+ of Limit scorer v1 to production is still open; withdraw it before requesting another\.",
    ) as raised:
        actions.do_request_release(rw.version, actor=rw.cast.engineer_a, environment=rw.environment)
    assert "is still open; withdraw it" in raised.value.message_dict["model_version"][0]
    # Withdrawing needs a reason and a writer of the team
    with pytest.raises(
        PermissionDenied, match=r"^Only engineers and admins of the model's team withdraw its releases\.$"
    ):
        actions.do_withdraw_release(rw.release, actor=rw.cast.reviewers["legal"], reason="no")
    with pytest.raises(ValidationError, match=r"'reason': \['Say why the release is withdrawn\.'\]") as invalid:
        actions.do_withdraw_release(rw.release, actor=rw.cast.engineer_a, reason="")
    assert list(invalid.value.message_dict) == ["reason"]
    withdrawn = actions.do_withdraw_release(rw.release, actor=rw.cast.engineer_a, reason="Retrain first")
    assert withdrawn.status == "withdrawn"
    assert withdrawn.withdrawn_at is not None
    assert ModelVersion.objects.get(pk=rw.version.pk).status == "registered"
    assert (AuditEvent.objects.get(event_type=AuditEventType.RELEASE_WITHDRAWN).after or {})[
        "reason"
    ] == "Retrain first"
    # Twice: refused
    with pytest.raises(
        ValidationError, match=r"Release \d+ is withdrawn; only an open release is withdrawn\."
    ) as invalid:
        actions.do_withdraw_release(withdrawn, actor=rw.cast.engineer_a, reason="again")
    assert list(invalid.value.message_dict) == ["status"]


def test_a_release_needs_a_use_case_and_a_policy_in_force(cast: Any, artifact_root: Any, onnx_path: Any) -> None:
    from tests.governance.factories import make_board, make_environment, make_policy

    env = make_environment(cast.superuser)
    version = make_ready_version(cast, onnx_path, risk_tier="limited")
    # GIVEN no policy for limited risk in production THEN a 400 naming the environment and the tier
    with pytest.raises(
        ValidationError, match=r"No release policy is in force for team team-a, environment production and limited risk"
    ) as raised:
        actions.do_request_release(version, actor=cast.engineer_a, environment=env)
    message = raised.value.message_dict["environment"][0]
    assert "No release policy is in force for team team-a, environment production and limited risk" in message
    # GIVEN a model with no use case THEN a 400 naming the model version
    bare = make_model(cast.team_a, cast.engineer_a, name="Bare")
    from tests.registry.factories import chunks_of

    bare_version = registry_actions.do_register_model_version(bare, actor=cast.engineer_a, chunks=chunks_of(onnx_path))
    with pytest.raises(
        ValidationError, match=r"Model Bare has no use case: a release needs one, with its risk tier\."
    ) as raised:
        actions.do_request_release(bare_version, actor=cast.engineer_a, environment=env)
    assert "has no use case" in raised.value.message_dict["model_version"][0]
    # GIVEN a policy WHEN a reviewer, an auditor or team B's engineer asks THEN refused; the engineer may
    board = make_board(cast.compliance, cast.team_a, dict(cast.reviewers))
    make_policy(cast.compliance, cast.team_a, env, board, risk_tier="limited")
    for person in (cast.reviewers["legal"], cast.auditor, cast.engineer_b, cast.compliance):
        with pytest.raises(
            PermissionDenied, match=r"^Only engineers and admins of team team-a request releases of its models\.$"
        ):
            actions.do_request_release(version, actor=person, environment=env)
    release = actions.do_request_release(version, actor=cast.engineer_a, environment=env)
    assert release.policy_version.policy.risk_tier == "limited"


def test_a_prohibited_use_case_is_never_released(cast: Any, artifact_root: Any, onnx_path: Any) -> None:
    from tests.governance.factories import make_environment

    env = make_environment(cast.superuser)
    version = make_ready_version(cast, onnx_path)
    use_case = version.model.use_case
    # The registry refuses to make a served use case prohibited; were it so (set below the actions), the release
    # path refuses too.
    type(use_case).objects.filter(pk=use_case.pk).update(risk_tier="prohibited")
    with pytest.raises(
        ValidationError, match=r"Use case Credit limit is a prohibited practice: it is never released\."
    ) as raised:
        actions.do_request_release(ModelVersion.objects.get(pk=version.pk), actor=cast.engineer_a, environment=env)
    assert "prohibited practice" in raised.value.message_dict["model_version"][0]


# --- Separation of duties -----------------------------------------------------------------------------------------


def test_conflicted_users_are_the_requester_the_authors_and_the_last_changers(rw: Any) -> None:
    cast = rw.cast
    conflicted = conflicted_users(rw.release)
    # The engineer requested, authored and registered the version, and created the model and the dataset
    assert conflicted == {cast.engineer_a.pk: "requested this release"}
    # WHEN the admin edits the dataset and the technical reviewer (a team member) is seated as nothing special
    _change_dataset_classification(rw)
    conflicted = conflicted_users(rw.release)
    assert conflicted[cast.admin_a.pk] == "last changed dataset Loan applications (dataset.updated)"
    # AND the reviewers who changed nothing are free to approve
    assert cast.reviewers["legal"].pk not in conflicted
    assert cast.reviewers["technical"].pk not in conflicted


def test_the_reason_catalogue_is_in_the_manifest_only_once_set_and_its_writer_is_conflicted(rw: Any) -> None:
    # GIVEN a model without a reason catalogue: its manifest has no reason_catalogue, as manifests signed before
    # catalogues existed
    assert "reason_catalogue" not in build_manifest(rw.release)
    # WHEN the team's admin writes one
    catalogue, _ = set_reasons(
        rw.version.model,
        rw.cast.admin_a,
        "Your income is low",
        threshold=0.3,
        positive_decision="No",
        negative_decision="Yes",
    )
    # THEN the manifest carries it in full, and the admin may not approve the release (they changed what it covers)
    assert build_manifest(rw.release)["reason_catalogue"] == {
        "id": catalogue.pk,
        "number": 1,
        "digest": catalogue.digest,
        "entries": [{"feature": "income", "direction": "raises", "text": "Your income is low"}],
        "threshold": 0.3,
        "positive_decision": "No",
        "negative_decision": "Yes",
        "note": "",
    }
    assert conflicted_users(rw.release)[rw.cast.admin_a.pk] == (
        f"last changed reasoncatalogue {catalogue} ({AuditEventType.REASON_CATALOGUE_SET})"
    )


def test_a_release_requested_by_someone_else_still_bars_the_authors(
    cast: Any, artifact_root: Any, onnx_path: Any
) -> None:
    from tests.governance.factories import make_board, make_environment, make_policy

    env = make_environment(cast.superuser)
    board = make_board(cast.compliance, cast.team_a, dict(cast.reviewers))
    make_policy(cast.compliance, cast.team_a, env, board)
    version = make_ready_version(cast, onnx_path)
    release = actions.do_request_release(version, actor=cast.admin_a, environment=env)
    conflicted = conflicted_users(release)
    assert conflicted[cast.admin_a.pk] == "requested this release"
    assert conflicted[cast.engineer_a.pk] == "an author of Limit scorer v1"
