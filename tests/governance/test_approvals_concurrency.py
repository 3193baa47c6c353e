"""Approvals submitted at the same moment: real threads, each with its own connection, committing."""

from __future__ import annotations

from typing import Any

import pytest

from core.choices import AuditEventType
from core.models import AuditEvent
from core.refusals import Refusal
from governance import actions
from governance.models import Approval
from registry.models import ModelVersion
from tests.core.test_api_concurrency import race
from tests.governance.factories import make_client_key, make_release_world, sign


@pytest.mark.django_db(transaction=True)
def test_two_final_approvals_at_once_both_count_and_approve_the_version_once(
    cast: Any, artifact_root: Any, onnx_path: Any
) -> None:
    # GIVEN a release needing legal and technical, and each reviewer's envelope ready
    rw = make_release_world(cast, onnx_path)
    envelopes = {}
    for role in ("legal", "technical"):
        user = cast.reviewers[role]
        private, _ = make_client_key(user)
        envelopes[role] = (user, sign(rw.release, user, private, board_role=role))

    # WHEN both are submitted at the same moment
    def submit(role: str) -> Any:
        user, envelope = envelopes[role]
        return actions.do_submit_approval(rw.release, actor=user, envelope=envelope)

    results = race([lambda: submit("legal"), lambda: submit("technical")])
    # THEN both are stored, and whichever came second saw the first: the version is approved, once
    assert all(isinstance(result, Approval) for result in results), results
    version = ModelVersion.objects.get(pk=rw.version.pk)
    assert version.status == "approved"
    assert version.transitions.filter(to_status="approved").count() == 1
    assert AuditEvent.objects.filter(event_type=AuditEventType.APPROVAL_SIGNED).count() == 2


@pytest.mark.django_db(transaction=True)
def test_the_same_envelope_twice_at_once_is_stored_once(cast: Any, artifact_root: Any, onnx_path: Any) -> None:
    rw = make_release_world(cast, onnx_path)
    legal = cast.reviewers["legal"]
    private, _ = make_client_key(legal)
    envelope = sign(rw.release, legal, private)
    results = race([lambda: actions.do_submit_approval(rw.release, actor=legal, envelope=envelope) for _ in range(2)])
    stored = [result for result in results if isinstance(result, Approval)]
    refused = [result for result in results if isinstance(result, Refusal)]
    assert len(stored) == 1, results
    assert [refusal.reason for refusal in refused] == ["duplicate"]
    assert Approval.objects.count() == 1
