"""Data access grants for tests (docs/grants.md): team B (engineer_b) borrows team A's dataset; team A's admin
(side ``owner``) and its compliance officer (side ``compliance``) decide."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.utils import timezone

from compliance import actions
from tests.registry.factories import make_events_dataset, make_use_case


@dataclass
class Borrow:
    cast: Any
    dataset: Any
    version: Any
    use_case: Any


def make_borrow(cast: Any) -> Borrow:
    dataset, version = make_events_dataset(cast.team_a, cast.engineer_a, name="Shared events")
    use_case = make_use_case(cast.team_b, cast.engineer_b, owner=cast.engineer_b, name="Churn outreach")
    return Borrow(cast, dataset, version, use_case)


def request_grant(borrow: Borrow, *, days: float = 30, actor: Any = None, team: Any = None) -> Any:
    cast = borrow.cast
    return actions.do_request_grant(
        team or cast.team_b,
        actor=actor or cast.engineer_b,
        dataset=borrow.dataset,
        use_case=borrow.use_case,
        purpose="Train the churn model on shared events.",
        expires_at=timezone.now() + timedelta(days=days),
    )


def approve_both(grant: Any, cast: Any) -> Any:
    actions.do_decide_grant(grant, actor=cast.admin_a, side="owner", decision="approve", comment="Fine by us.")
    return actions.do_decide_grant(grant, actor=cast.compliance, side="compliance", decision="approve")


def approved_grant(borrow: Borrow, **options: Any) -> Any:
    return approve_both(request_grant(borrow, **options), borrow.cast)
