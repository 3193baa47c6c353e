"""Environments' allowed data-residency regions (``allowed_regions``, read by the lineage gate): set at creation
through the API and the action, listed back, and every bad value refused with a 400 naming the field, nothing
written."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ValidationError

from core.choices import AuditEventType
from core.models import AuditEvent
from governance import actions
from governance.models import Environment

pytestmark = pytest.mark.django_db


def test_a_platform_administrator_sets_the_allowed_regions(cast: Any, api_as: Any) -> None:
    # WHEN an administrator creates an environment that takes EU data only
    client = api_as(cast.superuser)
    response = client.post(
        "/api/v1/environments/",
        {"slug": "eu-prod", "name": "EU production", "allowed_regions": ["eu-west-1", "eu-central-1"]},
        format="json",
    )
    # THEN it is stored, listed back and audited
    assert response.status_code == 201, response.content
    assert response.json()["allowed_regions"] == ["eu-west-1", "eu-central-1"]
    assert Environment.objects.get(slug="eu-prod").allowed_regions == ["eu-west-1", "eu-central-1"]
    event = AuditEvent.objects.get(event_type=AuditEventType.ENVIRONMENT_CREATED)
    assert event.after is not None
    assert event.after["allowed_regions"] == ["eu-west-1", "eu-central-1"]
    assert client.get("/api/v1/environments/eu-prod/").json()["allowed_regions"] == ["eu-west-1", "eu-central-1"]


def test_omitted_regions_mean_anywhere(cast: Any, api_as: Any) -> None:
    response = api_as(cast.superuser).post("/api/v1/environments/", {"slug": "lab", "name": "Lab"}, format="json")
    assert response.status_code == 201
    assert response.json()["allowed_regions"] == []


@pytest.mark.parametrize(
    "regions",
    [
        "eu-west-1",  # not a list
        ["eu-west-1", "eu-west-1"],  # twice
        [""],  # empty
        [" eu-west-1"],  # surrounding spaces
        ["x" * 65],  # too long
        [f"region-{n}" for n in range(51)],  # too many
        [7],  # not a string
        [["eu-west-1"]],  # nested
    ],
)
def test_bad_regions_are_refused_naming_the_field_and_nothing_is_written(cast: Any, api_as: Any, regions: Any) -> None:
    response = api_as(cast.superuser).post(
        "/api/v1/environments/", {"slug": "bad", "name": "Bad", "allowed_regions": regions}, format="json"
    )
    assert response.status_code == 400, response.content
    assert "allowed_regions" in response.json()["error"]["fields"]
    assert not Environment.objects.filter(slug="bad").exists()
    assert not AuditEvent.objects.filter(event_type=AuditEventType.ENVIRONMENT_CREATED).exists()


def test_the_action_validates_regions_too(cast: Any) -> None:
    with pytest.raises(ValidationError, match="listed once each"):
        actions.do_create_environment(actor=cast.superuser, slug="dup", name="Dup", allowed_regions=["a", "a"])
    assert not Environment.objects.filter(slug="dup").exists()
