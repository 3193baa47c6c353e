"""Use cases and KPI observations: the rules of registry.actions, and the audit events they write."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from core.choices import AuditEventType
from core.models import AuditEvent
from registry import actions
from registry.models import KpiObservation, UseCase
from tests.registry.factories import make_model, make_use_case

pytestmark = pytest.mark.django_db


def test_create_use_case_writes_its_event(cast):
    use_case = make_use_case(cast.team_a, cast.engineer_a)
    event: Any = AuditEvent.objects.get(event_type=AuditEventType.USE_CASE_CREATED)
    assert event.target_id == str(use_case.pk)
    assert event.actor_id == cast.engineer_a.pk
    assert event.team_slug == "team-a"
    assert event.after["risk_tier"] == "limited"
    assert event.after["owner"] == "erin-engineer"
    assert use_case.name_key


def test_use_case_names_are_unique_per_team_by_how_they_look(cast):
    make_use_case(cast.team_a, cast.engineer_a, name="Churn prevention")
    for variant, refusal in [
        ("CHURN PREVENTION", "'CHURN PREVENTION' looks the same as the existing Churn prevention in team team-a"),
        ("Churn prevention ", "'Churn prevention' is already taken in team team-a"),
        ("\u0421hurn prevention", "mixes the scripts CYRILLIC, LATIN"),  # starts with Cyrillic ES
    ]:
        with pytest.raises(ValidationError, match=re.escape(refusal)) as refused:
            make_use_case(cast.team_a, cast.engineer_a, name=variant)
        assert list(refused.value.message_dict) == ["name"]
    # Another team may use the name.
    make_use_case(cast.team_b, cast.engineer_b, name="Churn prevention", owner=cast.engineer_b)
    assert UseCase.objects.count() == 2


def test_invisible_characters_in_a_name_are_refused(cast):
    with pytest.raises(
        ValidationError, match=r"bidirectional control character U\+202E RIGHT-TO-LEFT OVERRIDE"
    ) as refused:
        make_use_case(cast.team_a, cast.engineer_a, name="Churn\u202eprevention")
    assert "U+202E" in refused.value.message_dict["name"][0]


def test_owner_must_belong_to_the_team(cast):
    with pytest.raises(ValidationError, match=r"'owner': \['Must be a member of team team-a\.'\]") as refused:
        make_use_case(cast.team_a, cast.engineer_a, owner=cast.engineer_b)
    assert refused.value.message_dict["owner"] == ["Must be a member of team team-a."]


@pytest.mark.parametrize(
    ("kpis", "message"),
    [
        ("churn", "kpis must be a list"),
        ([{"name": "churn_rate", "baseline": 1}], "kpis[0].target is required"),
        ([{"name": "churn_rate", "baseline": "12", "target": 9}], "kpis[0].baseline is required"),
        ([{"name": "a", "baseline": 1, "target": 2}, {"name": "a", "baseline": 1, "target": 2}], "repeats"),
        ([{"name": "a", "baseline": 1, "target": 2, "owner": "x"}], "unknown keys: owner"),
    ],
)
def test_kpis_have_a_fixed_shape(cast, kpis, message):
    with pytest.raises(ValidationError, match=re.escape(message)) as refused:
        make_use_case(cast.team_a, cast.engineer_a, kpis=kpis)
    assert message in refused.value.message_dict["kpis"][0]


def test_readers_cannot_create_or_update(cast):
    with pytest.raises(PermissionDenied, match=r"^You may not change registry objects of team team-a\.$"):
        make_use_case(cast.team_a, cast.compliance, owner=cast.engineer_a)
    use_case = make_use_case(cast.team_a, cast.engineer_a)
    with pytest.raises(PermissionDenied, match=r"^You may not change registry objects of team team-a\.$"):
        actions.do_update_use_case(use_case, actor=cast.auditor, scope="Everything")
    with pytest.raises(PermissionDenied, match=r"^You may not change registry objects of team team-a\.$"):
        actions.do_update_use_case(use_case, actor=cast.engineer_b, scope="Everything")


def test_update_records_only_what_changed(cast):
    use_case = make_use_case(cast.team_a, cast.engineer_a)
    actions.do_update_use_case(use_case, actor=cast.admin_a, risk_tier="high", scope="Consumer contracts in the EU")
    event = AuditEvent.objects.get(event_type=AuditEventType.USE_CASE_UPDATED)
    assert event.before == {"risk_tier": "limited"}
    assert event.after == {"risk_tier": "high"}
    # No change, no event.
    actions.do_update_use_case(use_case, actor=cast.admin_a, risk_tier="high")
    assert AuditEvent.objects.filter(event_type=AuditEventType.USE_CASE_UPDATED).count() == 1


def test_update_refuses_fields_that_are_not_editable(cast):
    use_case = make_use_case(cast.team_a, cast.engineer_a)
    with pytest.raises(ValidationError, match=r"'team': \['This field cannot be set here\.'\]") as refused:
        actions.do_update_use_case(use_case, actor=cast.engineer_a, team=cast.team_b)
    assert "team" in refused.value.message_dict


def test_kpi_observations_are_recorded_over_time(cast):
    use_case = make_use_case(cast.team_a, cast.engineer_a)
    for month, value in [(1, 12.0), (2, 11.2), (3, 10.4)]:
        actions.do_record_kpi_observation(
            use_case,
            actor=cast.engineer_a,
            kpi="churn_rate",
            value=value,
            observed_at=datetime(2026, month, 1, tzinfo=UTC),
        )
    assert list(KpiObservation.objects.filter(use_case=use_case).values_list("value", flat=True)) == [12.0, 11.2, 10.4]
    events = AuditEvent.objects.filter(event_type=AuditEventType.KPI_OBSERVATION_RECORDED)
    assert events.count() == 3
    latest: Any = events.order_by("seq").last()
    assert latest.after["kpi"] == "churn_rate"


def test_an_observation_of_an_unknown_kpi_is_refused(cast):
    use_case = make_use_case(cast.team_a, cast.engineer_a)
    with pytest.raises(
        ValidationError, match=r"'nps' is not a KPI of this use case \(its KPIs: churn_rate\)\."
    ) as refused:
        actions.do_record_kpi_observation(
            use_case, actor=cast.engineer_a, kpi="nps", value=1.0, observed_at=datetime(2026, 1, 1, tzinfo=UTC)
        )
    assert "its KPIs: churn_rate" in refused.value.message_dict["kpi"][0]


def test_a_prohibited_use_case_cannot_be_served_by_a_model(cast):
    # GIVEN a use case the EU AI Act prohibits
    use_case = make_use_case(cast.team_a, cast.engineer_a, risk_tier="prohibited", name="Social scoring")
    # WHEN an engineer links a model to it
    with pytest.raises(
        ValidationError, match=r"This use case is a prohibited practice; no model may serve it\."
    ) as refused:
        make_model(cast.team_a, cast.engineer_a, use_case=use_case)
    # THEN it is refused and nothing is stored
    assert "prohibited" in refused.value.message_dict["use_case"][0]
    assert not use_case.registered_models.exists()
