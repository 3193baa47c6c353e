"""Inference scopes (serving.actions.do_set_inference_scope): what a service-account token may score against."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from core import actions as core_actions
from core.choices import AuditEventType
from core.models import AuditEvent
from serving.actions import do_set_inference_scope
from serving.models import InferenceScope
from tests.governance.factories import make_environment
from tests.registry.factories import make_model
from tests.serving.factories import service_token

pytestmark = pytest.mark.django_db


def test_a_team_admin_sets_and_replaces_a_scope_with_an_audit_event_each_time(rw):
    """GIVEN a service account of team A and its token
    WHEN team A's admin sets its scope, then sets it again
    THEN one scope row (the second replaced the first), and a serving.scope_set event for each, before and after."""
    token, _ = service_token(rw.cast)
    staging = make_environment(rw.cast.superuser, "staging", rank=5)
    first = do_set_inference_scope(
        token, actor=rw.cast.admin_a, environments=[rw.environment], models=[], requests_per_second=5, burst=10
    )
    assert list(first.environments.all()) == [rw.environment]
    second = do_set_inference_scope(
        token, actor=rw.cast.admin_a, environments=[staging, rw.environment], models=[rw.version.model]
    )
    assert InferenceScope.objects.get() == second
    assert (second.requests_per_second, second.burst) == (100, 200)
    events = list(AuditEvent.objects.filter(event_type=AuditEventType.INFERENCE_SCOPE_SET).order_by("seq"))
    assert [event.before for event in events] == [
        None,
        {"environments": ["production"], "models": [], "requests_per_second": 5, "burst": 10},
    ]
    assert events[1].after == {
        "environments": ["production", "staging"],
        "models": ["Limit scorer"],
        "requests_per_second": 100,
        "burst": 200,
    }
    assert events[1].actor_id == rw.cast.admin_a.pk
    assert events[1].team_id == rw.cast.team_a.pk


@pytest.mark.parametrize("who", ["engineer_a", "engineer_b", "compliance", "auditor"])
def test_only_the_accounts_team_admins_set_a_scope(rw, who):
    """GIVEN a service account of team A
    WHEN anyone but a team A admin sets its token's scope
    THEN PermissionDenied, and nothing is written."""
    token, _ = service_token(rw.cast)
    with pytest.raises(PermissionDenied, match="Only admins of team team-a"):
        do_set_inference_scope(token, actor=getattr(rw.cast, who), environments=[rw.environment], models=[])
    assert not InferenceScope.objects.exists()
    assert not AuditEvent.objects.filter(event_type=AuditEventType.INFERENCE_SCOPE_SET).exists()


def test_bad_scopes_are_refused_naming_the_field(rw):
    """GIVEN a service account of team A, a personal token and a model of team B
    WHEN a scope names no environment, another team's model, a zero rate, a burst below the rate, or a personal token
    THEN a ValidationError naming the field each time, and no scope."""
    token, _ = service_token(rw.cast)
    other = make_model(rw.cast.team_b, rw.cast.engineer_b, name="Other")
    personal, _ = core_actions.do_create_token(actor=rw.cast.admin_a, name="mine")
    production = [rw.environment]
    cases: list[tuple[Any, dict[str, Any], str, str]] = [
        (token, {"environments": [], "models": []}, "environments", "at least one environment"),
        (token, {"environments": production, "models": [other]}, "models", "Not models of team team-a: Other"),
        (token, {"environments": production, "models": [], "requests_per_second": 0}, "requests_per_second", "1"),
        (token, {"environments": production, "models": [], "requests_per_second": 50, "burst": 10}, "burst", "50"),
        (personal, {"environments": production, "models": []}, "token", "service account"),
    ]
    for token_row, arguments, field, message in cases:
        with pytest.raises(ValidationError, match=message) as refused:
            do_set_inference_scope(token_row, actor=rw.cast.superuser, **arguments)
        assert field in refused.value.message_dict, (field, refused.value)
    assert not InferenceScope.objects.exists()


def test_the_scope_api_sets_and_shows_a_scope_and_refuses_what_it_cannot_take(rw: Any, api_as: Any) -> None:
    """GIVEN a service account of team A and its token
    WHEN team A's admin PUTs its scope over the API, and then people and bodies that must be refused try
    THEN the admin gets 200 and the scope back (GET too); engineers, who do not see service accounts' tokens, 404
    (as the token API answers them); an unknown
    environment, a model of another team, an empty environment list or an unknown field 400 naming the field; and
    nothing but the admin's scope is ever written."""
    token, _ = service_token(rw.cast)
    url = f"/api/v1/tokens/{token.pk}/inference-scope/"
    admin = api_as(rw.cast.admin_a)
    assert admin.get(url).status_code == 404  # no scope yet: the token scores nothing
    body = {"environments": ["production"], "models": [rw.version.model.pk], "requests_per_second": 5, "burst": 9}
    response = admin.put(url, body, format="json")
    assert response.status_code == 200, response.content
    assert response.json() | {"created_at": None} == {
        "token": token.pk,
        "environments": ["production"],
        "models": [rw.version.model.pk],
        "requests_per_second": 5,
        "burst": 9,
        "created_at": None,
        "created_by": rw.cast.admin_a.username,
    }
    assert admin.get(url).json()["burst"] == 9
    assert api_as(rw.cast.engineer_a).put(url, body, format="json").status_code == 404
    assert api_as(rw.cast.engineer_b).put(url, body, format="json").status_code == 404
    assert api_as(rw.cast.admin_a).get(f"/api/v1/tokens/{token.pk + 100}/inference-scope/").status_code == 404
    other_team = make_model(rw.cast.team_b, rw.cast.engineer_b, name="Other team's model")
    for bad, field in (
        ({**body, "environments": ["nowhere"]}, "environments"),
        ({**body, "environments": []}, "environments"),
        ({**body, "models": [other_team.pk]}, "models"),
        ({**body, "burst": 2}, "burst"),
        ({**body, "team": "b"}, "team"),
    ):
        response = admin.put(url, bad, format="json")
        assert response.status_code == 400, (bad, response.content)
        assert field in response.json()["error"]["fields"], response.json()
    assert AuditEvent.objects.filter(event_type=AuditEventType.INFERENCE_SCOPE_SET).count() == 1
    assert InferenceScope.objects.get().burst == 9
