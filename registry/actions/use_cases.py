"""Actions on use cases and their KPI observations."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction

from core.audit import record_event
from core.choices import AuditEventType
from core.models import Team
from registry.actions.rules import (
    create_named,
    require,
    require_member,
    update_named,
)
from registry.choices import RiskTier, VersionStatus
from registry.editable import USE_CASE_FIELDS
from registry.models import (
    KpiObservation,
    UseCase,
)

# --- Use cases ----------------------------------------------------------------------------------------------------


def _check_use_case(use_case: UseCase) -> None:
    require_member(use_case.team, use_case.owner if use_case.owner_id else None, "owner")
    use_case.full_clean(exclude=["name_key", "shape_key"])


@transaction.atomic
def do_create_use_case(team: Team, *, actor: User, **fields: Any) -> UseCase:
    require(actor, team)
    created: UseCase = create_named(
        UseCase(team=team, created_by=actor),
        actor=actor,
        fields=USE_CASE_FIELDS,
        values=fields,
        check=_check_use_case,
        event=AuditEventType.USE_CASE_CREATED,
    )
    return created


@transaction.atomic
def do_update_use_case(use_case: UseCase, *, actor: User, **changes: Any) -> UseCase:
    require(actor, use_case.team)
    # Lock the row so that two concurrent edits each record the true "before".
    use_case = UseCase.objects.select_for_update(of=("self",)).select_related("team", "owner").get(pk=use_case.pk)
    if (
        changes.get("risk_tier") == RiskTier.PROHIBITED
        and use_case.registered_models.filter(versions__status=VersionStatus.DEPLOYED).exists()
    ):
        raise ValidationError({"risk_tier": "A model of this use case is deployed; retire it before prohibiting."})
    updated: UseCase = update_named(
        use_case,
        actor=actor,
        fields=USE_CASE_FIELDS,
        changes=changes,
        check=_check_use_case,
        event=AuditEventType.USE_CASE_UPDATED,
    )
    return updated


@transaction.atomic
def do_record_kpi_observation(
    use_case: UseCase, *, actor: User, kpi: str, value: float, observed_at: datetime, note: str = ""
) -> KpiObservation:
    require(actor, use_case.team)
    if kpi not in use_case.kpi_names():
        known = ", ".join(use_case.kpi_names()) or "none"
        raise ValidationError({"kpi": f"{kpi!r} is not a KPI of this use case (its KPIs: {known})."})
    observation = KpiObservation(
        use_case=use_case, kpi=kpi, value=value, observed_at=observed_at, note=note, recorded_by=actor
    )
    observation.full_clean()
    observation.save()
    record_event(
        AuditEventType.KPI_OBSERVATION_RECORDED,
        actor=actor,
        target=observation,
        team=use_case.team,
        after={
            "use_case": use_case.pk,
            "kpi": kpi,
            "value": value,
            "observed_at": observed_at.isoformat(),
            "note": note,
        },
    )
    return observation
