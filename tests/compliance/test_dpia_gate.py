"""The gate check ``dpia_approved`` (governance/checks/dpia.py) and the DPIA in the release manifest: a release whose
datasets hold personal data needs its use case's DPIA approved, unexpired and covering them; a new DPIA version or
a column reclassified after approval changes the manifest, so the approvals go stale."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from django.utils import timezone

from compliance import actions
from compliance.dpia import reclassified_since
from core.choices import AuditEventType
from core.models import AuditEvent
from governance import actions as governance
from governance.choices import EvaluationPurpose
from governance.gate import evaluate_gate, known_checks, run_gate
from governance.manifest import build_manifest, manifest_diff
from tests.compliance.dpia_factories import SCREENING, assessment
from tests.registry.factories import make_dataset, make_dataset_version
from tests.serving.factories import approve

pytestmark = pytest.mark.django_db


def verdicts(run: Any) -> dict[str, bool]:
    return {check["name"]: check["passed"] for check in run.checks}


def reason(run: Any, name: str) -> str:
    return str(next(check["reason"] for check in run.checks if check["name"] == name))


def require_dpia(rw: Any) -> Any:
    """The policy's next version requires dpia_approved; the release is requested again under it and signed."""
    governance.do_add_policy_version(
        rw.policy,
        actor=rw.cast.compliance,
        required_roles={"legal": 1, "technical": 1},
        min_total=2,
        approval_valid_days=30,
        required_checks=["dpia_approved"],
    )
    governance.do_withdraw_release(rw.release, actor=rw.cast.engineer_a, reason="New policy")
    release = governance.do_request_release(rw.version, actor=rw.cast.engineer_a, environment=rw.environment)
    approve(rw, release)
    return release


def draft_for(rw: Any, datasets: list[Any] | None = None, **overrides: Any) -> Any:
    use_case = rw.version.model.use_case
    if datasets is None:
        datasets = [rw.version.dataset_versions.get().dataset]
    return actions.do_create_dpia(
        use_case, actor=rw.cast.compliance, datasets=datasets, model=rw.version.model, **assessment(**overrides)
    )


def submit(rw: Any, dpia: Any) -> Any:
    actions.do_screen_dpia(dpia, actor=rw.cast.compliance, criteria=SCREENING)
    return actions.do_submit_dpia(dpia, actor=rw.cast.compliance)


def approve_dpia(rw: Any, dpia: Any) -> Any:
    return actions.do_review_dpia(dpia, actor=rw.cast.reviewers["privacy"], decision="approve")


def submit_and_approve(rw: Any, dpia: Any) -> Any:
    submit(rw, dpia)
    return approve_dpia(rw, dpia)


def gate(release: Any, rw: Any, **options: Any) -> Any:
    return run_gate(release, actor=rw.cast.engineer_a, purpose=EvaluationPurpose.PREVIEW, **options)


def test_the_check_is_registered_by_governance():
    assert "dpia_approved" in known_checks()
    assert not known_checks()["dpia_approved"].always


def test_personal_data_without_a_dpia_is_refused(rw):
    release = require_dpia(rw)
    run = gate(release, rw)
    assert not run.passed
    assert verdicts(run)["dpia_approved"] is False
    assert reason(run, "dpia_approved") == (
        "No DPIA exists for use case Credit limit; dataset(s) Loan applications hold personal data."
    )


def test_refused_while_the_dpia_is_a_draft_and_allowed_once_the_privacy_reviewer_approves(rw):
    # GIVEN a DPIA covering the release's dataset, written and awaiting the privacy reviewer, and a release signed
    # under a policy requiring the check
    version = submit(rw, draft_for(rw).dpia)
    release = require_dpia(rw)
    assert release.manifest["dpia"] == {
        "id": version.dpia_id,
        "version_id": version.pk,
        "version": 1,
        "digest": version.digest,
        "datasets": [rw.version.dataset_versions.get().dataset_id],
    }
    # WHEN the gate runs THEN the DPIA check fails, naming the state, and everything else passes
    run = gate(release, rw)
    assert verdicts(run) == {**{name: True for name in verdicts(run)}, "dpia_approved": False}
    assert "DPIA version 1 of use case Credit limit is submitted, not approved" in reason(run, "dpia_approved")
    # WHEN the privacy reviewer approves it
    approve_dpia(rw, version.dpia)
    # THEN the same signatures still count (approval changes no content) and the deployment gate passes
    evaluation = evaluate_gate(release, actor=rw.cast.engineer_a, purpose=EvaluationPurpose.DEPLOY)
    assert evaluation.passed, evaluation.checks
    assert "DPIA version 1 of use case Credit limit is approved" in reason(evaluation, "dpia_approved")


def test_a_new_dpia_version_after_approval_makes_the_approvals_stale(rw):
    # GIVEN an approved DPIA and a release signed over it
    version = draft_for(rw)
    submit_and_approve(rw, version.dpia)
    release = require_dpia(rw)
    assert gate(release, rw).passed
    # WHEN a new DPIA version is started
    actions.do_new_dpia_version(version.dpia, actor=rw.cast.compliance)
    # THEN the manifest changed (the signatures are stale) and the new version is not approved
    run = gate(release, rw)
    assert verdicts(run)["manifest_current"] is False
    assert "dpia.version: 1 → 2" in reason(run, "manifest_current")
    assert "DPIA version 2 of use case Credit limit is draft" in reason(run, "dpia_approved")


def test_a_dataset_the_dpia_does_not_cover_is_named(rw):
    # GIVEN an approved DPIA covering another dataset of the team, not the release's
    other = make_dataset(rw.cast.team_a, rw.cast.engineer_a, name="Branch visits")
    make_dataset_version(other, rw.cast.engineer_a)
    submit_and_approve(rw, draft_for(rw, datasets=[other]).dpia)
    release = require_dpia(rw)
    run = gate(release, rw)
    assert reason(run, "dpia_approved") == (
        "Dataset Loan applications holds personal data but DPIA version 1 does not cover it."
    )


def test_an_expired_dpia_fails(rw):
    submit_and_approve(rw, draft_for(rw, review_date=timezone.localdate() + datetime.timedelta(days=10)).dpia)
    release = require_dpia(rw)
    assert gate(release, rw).passed
    later = timezone.now() + datetime.timedelta(days=11)
    run = gate(release, rw, now=later)
    assert "expired on its review date" in reason(run, "dpia_approved")


def test_no_personal_data_needs_no_dpia(rw, onnx_path):
    # GIVEN a model trained on a dataset with no personal column
    from registry import actions as registry_actions
    from tests.registry.factories import chunks_of

    plain = make_dataset(rw.cast.team_a, rw.cast.engineer_a, name="Weather")
    schema = {
        "columns": [
            {"name": "region", "type": "string", "nullable": False},
            {"name": "rain_mm", "type": "float64", "nullable": True},
        ]
    }
    dataset_version = make_dataset_version(plain, rw.cast.engineer_a, schema=schema)
    version = registry_actions.do_register_model_version(
        rw.version.model,
        actor=rw.cast.engineer_a,
        chunks=chunks_of(onnx_path),
        filename="plain.onnx",
        dataset_versions=[dataset_version.pk],
    )
    governance.do_add_policy_version(
        rw.policy,
        actor=rw.cast.compliance,
        required_roles={"legal": 1, "technical": 1},
        min_total=2,
        approval_valid_days=30,
        required_checks=["dpia_approved"],
    )
    release = governance.do_request_release(version, actor=rw.cast.engineer_a, environment=rw.environment)
    approve(rw, release)
    run = gate(release, rw)
    assert verdicts(run)["dpia_approved"] is True
    assert "no DPIA is needed" in reason(run, "dpia_approved")
    # WHEN a compliance officer reclassifies region as personal data (it turned out to name households)
    row = actions.do_reclassify_column(
        plain, actor=rw.cast.compliance, column="region", flags={"personal_data": True}, reason="Household-level."
    )
    assert row.before["personal_data"] is False
    assert row.after["personal_data"] is True
    # THEN the manifest shows it, the signatures are stale, and a DPIA is now needed
    changes = manifest_diff(release.manifest, build_manifest(release))
    assert {"path": f"datasets[id={dataset_version.pk}].columns.personal_data", "before": [], "after": ["region"]} in (
        changes
    )
    run = gate(release, rw)
    assert verdicts(run)["manifest_current"] is False
    assert "No DPIA exists" in reason(run, "dpia_approved")
    assert AuditEvent.objects.filter(event_type=AuditEventType.COLUMN_RECLASSIFIED).count() == 1


def test_a_reclassification_shows_on_the_dpias_covering_the_dataset(rw):
    version = draft_for(rw)
    dataset = rw.version.dataset_versions.get().dataset
    actions.do_reclassify_column(
        dataset, actor=rw.cast.compliance, column="income", flags={"special_category": True}, reason="Benefits."
    )
    [change] = reclassified_since(version)
    assert (change["dataset"], change["column"]) == ("Loan applications", "income")
    assert change["after"]["special_category"] is True
    # AND the draft, edited, pre-fills the new category
    edited = actions.do_edit_dpia(version.dpia, actor=rw.cast.compliance)
    assert edited.data_categories[0]["special_category"] == ["income"]


@pytest.mark.parametrize(
    ("column", "flags", "reason_text", "field"),
    [
        ("nope", {"personal_data": True}, "why", "column"),
        ("income", {}, "why", "flags"),
        ("income", {"secret": True}, "why", "flags"),
        ("income", {"personal_data": "yes"}, "why", "flags"),
        ("income", {"personal_data": True}, "why", "flags"),  # already personal: nothing changes
        ("customer_id", {"special_category": True, "personal_data": False}, "why", "flags"),
        ("income", {"special_category": True}, "  ", "reason"),
    ],
)
def test_bad_reclassifications_name_the_field(rw, column, flags, reason_text, field):
    from django.core.exceptions import ValidationError

    dataset = rw.version.dataset_versions.get().dataset
    with pytest.raises(ValidationError, match=r"\w") as error:
        actions.do_reclassify_column(dataset, actor=rw.cast.compliance, column=column, flags=flags, reason=reason_text)
    assert field in error.value.message_dict


def test_only_compliance_officers_and_admins_reclassify(rw):
    from django.core.exceptions import PermissionDenied

    dataset = rw.version.dataset_versions.get().dataset
    with pytest.raises(PermissionDenied, match="compliance officers and admins"):
        actions.do_reclassify_column(
            dataset, actor=rw.cast.engineer_a, column="income", flags={"special_category": True}, reason="x"
        )


def test_a_reclassification_is_written_once(rw):
    from django.db import DatabaseError, transaction

    from compliance.models import ColumnReclassification

    dataset = rw.version.dataset_versions.get().dataset
    row = actions.do_reclassify_column(
        dataset, actor=rw.cast.compliance, column="income", flags={"special_category": True}, reason="Benefits."
    )
    with pytest.raises(DatabaseError, match="immutable"), transaction.atomic():
        ColumnReclassification.objects.filter(pk=row.pk).update(column="age")
    with pytest.raises(DatabaseError, match="immutable"), transaction.atomic():
        ColumnReclassification.objects.filter(pk=row.pk).update(reason="Rewritten.")


def test_the_release_page_links_the_dpia_version_it_carries(rw):
    from django.test import Client

    version = draft_for(rw)
    release = require_dpia(rw)
    client = Client()
    client.force_login(rw.cast.auditor)
    html = client.get(f"/releases/{release.pk}/").content.decode()
    assert f'href="/compliance/dpias/{version.dpia_id}/?version=1" id="manifest-dpia"' in html
    assert version.digest in html
