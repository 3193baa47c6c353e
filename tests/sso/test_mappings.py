"""Group mappings: edited by platform administrators only, in the web UI and the API, through the actions that
write sso.mapping_created / sso.mapping_deleted. No mapping can make anyone a superuser."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from core import actions
from core.choices import AuditEventType, Role
from core.models import AuditEvent, GroupMapping

pytestmark = pytest.mark.django_db


def _web(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_a_platform_admin_maps_and_unmaps_a_group_in_the_browser(cast: Any) -> None:
    client = _web(cast.superuser)
    assert client.get("/teams/").content.decode().count("group-mappings-link") == 1

    response = client.post(
        "/platform/group-mappings/",
        {"idp_group": "risk-board", "team": "team-a", "role": Role.REVIEWER, "board_role": "risk"},
    )

    assert response.status_code == 302
    mapping = GroupMapping.objects.get()
    assert (mapping.idp_group, mapping.team, mapping.role, mapping.board_role) == (
        "risk-board",
        cast.team_a,
        Role.REVIEWER,
        "risk",
    )
    assert mapping.created_by == cast.superuser
    assert "risk-board" in client.get("/platform/group-mappings/").content.decode()
    client.post(f"/platform/group-mappings/{mapping.pk}/delete/")
    assert not GroupMapping.objects.exists()
    kinds = list(
        AuditEvent.objects.filter(event_type__startswith="sso.").order_by("seq").values_list("event_type", flat=True)
    )
    assert kinds == [AuditEventType.SSO_MAPPING_CREATED, AuditEventType.SSO_MAPPING_DELETED]


@pytest.mark.parametrize("persona", ["admin_a", "engineer_a", "compliance", "auditor"])
def test_nobody_but_platform_admins_reaches_the_mappings(cast: Any, persona: str) -> None:
    client = _web(getattr(cast, persona))
    assert client.get("/platform/group-mappings/").status_code == 403
    response = client.post("/platform/group-mappings/", {"idp_group": "x", "team": "team-a", "role": Role.ADMIN})
    assert response.status_code == 403
    assert not GroupMapping.objects.exists()
    assert "group-mappings-link" not in client.get("/teams/").content.decode()


def test_the_mapping_form_is_csrf_protected(cast: Any) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(cast.superuser)
    response = client.post("/platform/group-mappings/", {"idp_group": "x", "team": "team-a", "role": Role.ADMIN})
    assert response.status_code == 403
    assert not GroupMapping.objects.exists()


@pytest.mark.parametrize("group", ["superuser", "Staff", " admin ", "corp-it-admins"])
def test_reserved_groups_are_refused_on_the_field_in_the_browser(cast: Any, settings: Any, group: str) -> None:
    settings.SSO_SUPERUSER_GROUPS = ["corp-it-admins"]
    response = _web(cast.superuser).post(
        "/platform/group-mappings/", {"idp_group": group, "team": "team-a", "role": Role.ADMIN}
    )
    assert response.status_code == 400
    assert "reserved for platform administrators" in response.context["form"].errors["idp_group"][0]
    assert not GroupMapping.objects.exists()
    assert not AuditEvent.objects.filter(event_type=AuditEventType.SSO_MAPPING_CREATED).exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"idp_group": "superuser", "team": "team-a", "role": Role.ADMIN}, "idp_group"),
        ({"idp_group": "it", "team": "team-a", "role": "superuser"}, "role"),
        ({"idp_group": "it", "team": "team-a", "role": "staff"}, "role"),
        ({"idp_group": "it", "team": "team-a", "role": Role.ADMIN, "is_superuser": True}, "is_superuser"),
        ({"idp_group": "it", "team": "team-a", "role": Role.ADMIN, "is_staff": True}, "is_staff"),
        ({"idp_group": "it", "team": "team-a", "role": Role.REVIEWER}, "board_role"),
    ],
)
def test_the_api_refuses_a_mapping_that_would_make_a_superuser_naming_the_field(
    cast: Any, body: dict[str, Any], field: str
) -> None:
    client = APIClient()
    client.force_authenticate(cast.superuser)
    response = client.post("/api/v1/group-mappings/", body, format="json")
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]
    assert not GroupMapping.objects.exists()


def test_the_memberships_api_shows_who_keeps_a_membership(cast: Any) -> None:
    actions.do_create_group_mapping(actor=cast.superuser, idp_group="ml", team=cast.team_a, role=Role.ENGINEER)
    client = APIClient()
    client.force_authenticate(cast.superuser)
    sources = {row["source"] for row in client.get("/api/v1/memberships/").json()["results"]}
    assert sources == {"local"}
