"""DPIA writes at the same moment: real threads, each with its own connection, committing."""

from __future__ import annotations

from typing import Any

import pytest

from compliance import actions
from compliance.dpia_rules import DpiaStatus
from compliance.models import DpiaVersion
from core.refusals import Refusal
from tests.compliance.dpia_factories import make_approved, make_submitted
from tests.core.test_api_concurrency import race


@pytest.mark.django_db(transaction=True)
def test_two_new_versions_at_once_make_one_version_2(cast: Any) -> None:
    # GIVEN an approved DPIA WHEN two compliance officers start a new version at the same moment
    approved = make_approved(cast)
    results = race([lambda: actions.do_new_dpia_version(approved.dpia, actor=cast.compliance) for _ in range(2)])
    # THEN one version 2 exists, and the other saw it and was refused
    created = [result for result in results if isinstance(result, DpiaVersion)]
    refused = [result for result in results if isinstance(result, Refusal)]
    assert [version.number for version in created] == [2], results
    assert [refusal.reason for refusal in refused] == ["dpia_version_open"]
    assert DpiaVersion.objects.filter(dpia=approved.dpia).count() == 2


@pytest.mark.django_db(transaction=True)
def test_an_approval_and_a_return_at_once_leave_one_decision(cast: Any) -> None:
    # GIVEN a submitted DPIA and a second privacy reviewer in the team
    from core import actions as core_actions
    from tests.conftest import make_user

    second = make_user("pat-privacy")
    core_actions.do_grant_membership(
        cast.team_a, actor=cast.superuser, user=second, role="reviewer", board_role="privacy"
    )
    submitted = make_submitted(cast)
    # WHEN one approves while the other returns it
    results = race(
        [
            lambda: actions.do_review_dpia(submitted.dpia, actor=cast.reviewers["privacy"], decision="approve"),
            lambda: actions.do_review_dpia(submitted.dpia, actor=second, decision="return", comment="Not yet."),
        ]
    )
    # THEN exactly one decision is recorded; the other found the version no longer submitted
    version = DpiaVersion.objects.get(pk=submitted.pk)
    assert version.status in (DpiaStatus.APPROVED, DpiaStatus.RETURNED)
    assert version.transitions.exclude(to_status=DpiaStatus.SUBMITTED).count() == 1
    assert sum(isinstance(result, DpiaVersion) for result in results) == 1, results
