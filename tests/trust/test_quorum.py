"""evaluate_quorum: per-role counts, the minimum total, one person counts once, and any reject vetoes."""

from __future__ import annotations

import itertools

import pytest

from assay_trust.errors import TrustError
from assay_trust.quorum import Vote, evaluate_quorum

LEGAL_AND_TECHNICAL = {"roles": {"legal": 1, "technical": 1}, "min_total": 2, "approval_valid_days": 30}


def test_met_by_one_person_per_required_role() -> None:
    result = evaluate_quorum(LEGAL_AND_TECHNICAL, [("lena", "legal", "approve"), ("theo", "technical", "approve")])
    assert result.met
    assert result.assigned == {"legal": ["lena"], "technical": ["theo"]}
    assert result.missing == {}
    assert result.detail == "met: 2 of 2 approvers; legal 1/1; technical 1/1"


def test_a_missing_role_is_named() -> None:
    result = evaluate_quorum(LEGAL_AND_TECHNICAL, [("lena", "legal", "approve"), ("rosa", "risk", "approve")])
    assert not result.met
    assert result.missing == {"technical": 1}
    assert "missing 1 technical" in result.detail


def test_one_person_counts_once_however_many_roles() -> None:
    """GIVEN a reviewer holding legal and technical who approved in both roles
    WHEN the policy needs one legal and one technical approver
    THEN they fill one place only, and a second person is needed."""
    votes = [("lena", "legal", "approve"), ("lena", "technical", "approve")]
    result = evaluate_quorum(LEGAL_AND_TECHNICAL, votes)
    assert not result.met
    assert result.approvers == ["lena"]
    assert sum(len(people) for people in result.assigned.values()) == 1

    with_theo = evaluate_quorum(LEGAL_AND_TECHNICAL, [*votes, ("theo", "technical", "approve")])
    assert with_theo.met
    assert with_theo.assigned == {"legal": ["lena"], "technical": ["theo"]}


def test_the_best_assignment_is_found_whatever_the_order() -> None:
    """Lena could fill legal or technical; Theo only technical. Greedy in the wrong order would give technical to
    Lena and leave legal empty; the matching gives legal to Lena."""
    votes = [("lena", "technical", "approve"), ("lena", "legal", "approve"), ("theo", "technical", "approve")]
    for order in itertools.permutations(votes):
        assert evaluate_quorum(LEGAL_AND_TECHNICAL, list(order)).met


def test_min_total_counts_distinct_people_in_any_role() -> None:
    policy = {"roles": {"legal": 1}, "min_total": 3}
    votes = [("lena", "legal", "approve"), ("rosa", "risk", "approve")]
    assert not evaluate_quorum(policy, votes).met
    assert evaluate_quorum(policy, [*votes, ("pia", "privacy", "approve")]).met
    assert not evaluate_quorum(policy, [*votes, ("rosa", "privacy", "approve")]).met  # Rosa again


def test_the_same_vote_twice_counts_once() -> None:
    policy = {"roles": {"legal": 2}, "min_total": 2}
    assert not evaluate_quorum(policy, [("lena", "legal", "approve")] * 2).met


def test_any_reject_vetoes() -> None:
    votes = [
        ("lena", "legal", "approve"),
        ("theo", "technical", "approve"),
        Vote("rosa", "risk", "reject"),
    ]
    result = evaluate_quorum(LEGAL_AND_TECHNICAL, votes)
    assert not result.met
    assert result.vetoed_by == [("rosa", "risk")]
    assert "rejected by rosa (risk)" in result.detail


def test_a_person_who_approves_and_rejects_vetoes() -> None:
    votes = [("lena", "legal", "approve"), ("theo", "technical", "approve"), ("theo", "risk", "reject")]
    assert not evaluate_quorum(LEGAL_AND_TECHNICAL, votes).met


def test_no_votes() -> None:
    result = evaluate_quorum(LEGAL_AND_TECHNICAL, [])
    assert not result.met
    assert result.missing == {"legal": 1, "technical": 1}


def test_roles_with_zero_are_not_required() -> None:
    assert evaluate_quorum({"roles": {"legal": 0}, "min_total": 1}, [("rosa", "risk", "approve")]).met


@pytest.mark.parametrize(
    ("requirements", "message"),
    [
        ({"roles": [], "min_total": 1}, "requirements.roles: expected an object"),
        ({"roles": {"chief": 1}, "min_total": 1}, "'chief' is not a board role"),
        ({"roles": {"legal": -1}, "min_total": 1}, "requirements.roles.legal"),
        ({"roles": {"legal": True}, "min_total": 1}, "requirements.roles.legal"),
        ({"roles": {}, "min_total": 0}, "requirements.min_total: expected a whole number, 1 or more"),
        ({"roles": {}}, "requirements.min_total"),
    ],
)
def test_malformed_requirements_are_refused(requirements: dict, message: str) -> None:
    with pytest.raises(TrustError, match=message):
        evaluate_quorum(requirements, [])


@pytest.mark.parametrize(
    ("vote", "message"),
    [
        (("", "legal", "approve"), "signer must be a non-empty string"),
        (("lena", "chief", "approve"), "not a board role"),
        (("lena", "legal", "maybe"), "approve or reject"),
        (("lena", "legal"), "expected \\(signer, role, decision\\)"),
    ],
)
def test_malformed_votes_are_refused(vote: tuple, message: str) -> None:
    with pytest.raises(TrustError, match=message):
        evaluate_quorum(LEGAL_AND_TECHNICAL, [vote])
