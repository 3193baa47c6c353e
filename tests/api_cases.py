"""Permission-matrix helpers for API tests, shared by every app.

Each app describes its endpoints as a table of ``ApiCase`` rows: which request, which status each persona of the
``cast`` gets (plus the anonymous client), whether a list shows the object, and which audit event a successful
write leaves. ``matrix(CASES)`` expands the table into one pytest case per (row, persona), and ``run_case`` plays
one of them against the real API with a real bearer token, checking along the way the rules that hold everywhere:

- anonymous requests get 401 with a ``WWW-Authenticate: Bearer`` challenge;
- every error has the JSON shape ``{"error": {"code", "message"}}``;
- a refused request writes nothing: no audit event, and no row of ``counted`` models;
- a successful write leaves exactly the expected audit event(s), attributed to the persona.

Usage (see tests/core/test_api_matrix.py)::

    CASES = [
        ApiCase("teams.create", "post", lambda w: "/api/v1/teams/", data=lambda w: {...},
                statuses={"superuser": 201}, default=403, event=AuditEventType.TEAM_CREATED, counted=[Team]),
    ]

    @pytest.mark.parametrize(("case", "persona"), matrix(CASES))
    def test_matrix(case, persona, world):
        run_case(case, persona, world)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.db import models
from rest_framework.test import APIClient

from core.models import AuditEvent

ANONYMOUS = "anonymous"
# The personas of tests/conftest.py's ``Cast.all()``, in a fixed order so that test ids are stable.
PERSONAS: tuple[str, ...] = (
    "superuser",
    "admin_a",
    "engineer_a",
    "engineer_b",
    "compliance",
    "auditor",
    "reviewer_legal",
    "reviewer_compliance",
    "reviewer_risk",
    "reviewer_privacy",
    "reviewer_technical",
    ANONYMOUS,
)
REVIEWERS = tuple(name for name in PERSONAS if name.startswith("reviewer_"))
TEAM_A = ("admin_a", "engineer_a", "compliance", "auditor", *REVIEWERS)


@dataclass
class World:
    """The cast, the objects a case's ``setup`` made, and a way to get a client per persona."""

    cast: Any
    make_client: Callable[[Any], APIClient]
    objects: dict[str, Any] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["objects"][name]
        except KeyError:
            raise AttributeError(name) from None

    def user(self, persona: str) -> Any:
        return None if persona == ANONYMOUS else self.cast.all()[persona]

    def client(self, persona: str) -> APIClient:
        return APIClient() if persona == ANONYMOUS else self.make_client(self.user(persona))


@dataclass
class ApiCase:
    """One endpoint and method, and what each persona gets.

    ``statuses`` maps persona to the expected status; others get ``default``; anonymous always gets 401.
    ``setup(world)`` makes the objects the request needs (stored in ``world.objects`` by the returned names).
    ``event`` is the audit event type a successful (2xx) write must leave, attributed to the persona.
    ``counted`` are models whose row counts must not change when the request is refused.
    ``refusal_event``, when set, is the audit event a 403 must leave (an action that records its refusals), and the
    only thing it may write.
    ``listed(world)``, for list requests, names the object (a string found in the body) whose presence is
    checked: it must be in the list for ``visible_to`` and absent for everyone else who gets a 200.
    """

    name: str
    method: str
    url: Callable[[World], str]
    statuses: dict[str, int] = field(default_factory=dict)
    default: int = 403
    data: Callable[[World], Any] | None = None
    setup: Callable[[World], dict[str, Any]] | None = None
    event: str | None = None
    counted: tuple[type[models.Model], ...] = ()
    listed: Callable[[World], str] | None = None
    visible_to: Iterable[str] = ()
    refusal_event: str | None = None

    def expected(self, persona: str) -> int:
        if persona == ANONYMOUS:
            return 401
        return self.statuses.get(persona, self.default)


def matrix(cases: Iterable[ApiCase], personas: Iterable[str] = PERSONAS) -> list[Any]:
    """One pytest param per (case, persona), with readable ids (``teams.create-engineer_a``)."""
    return [pytest.param(case, persona, id=f"{case.name}-{persona}") for case in cases for persona in personas]


def assert_error_shape(response: Any) -> dict[str, Any]:
    """Every error of the API reads ``{"error": {"code": str, "message": str}}``; returns the inner object."""
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert isinstance(error.get("code"), str), body
    assert error["code"]
    assert isinstance(error.get("message"), str), body
    assert error["message"]
    return dict(error)


def assert_challenge(response: Any) -> None:
    assert response.status_code == 401, response.content
    assert response["WWW-Authenticate"].startswith("Bearer "), response.get("WWW-Authenticate")
    assert_error_shape(response)


def counts(model_classes: Iterable[type[models.Model]]) -> dict[str, int]:
    result = {model._meta.label: model._default_manager.count() for model in model_classes}
    result["audit"] = AuditEvent.objects.count()
    return result


def send(client: APIClient, method: str, url: str, data: Any = None) -> Any:
    call = getattr(client, method.lower())
    if data is None:
        return call(url)
    return call(url, data, format="json")


def run_case(case: ApiCase, persona: str, world: World) -> Any:
    """Play one (case, persona) and check status, error shape, audit events and (for lists) visibility."""
    if case.setup is not None:
        world.objects.update(case.setup(world))
    client = world.client(persona)  # before counting: creating the persona's token writes an audit event
    before = counts(case.counted)
    last_seq = AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first() or 0
    url = case.url(world)
    response = send(client, case.method, url, case.data(world) if case.data else None)
    expected = case.expected(persona)
    assert response.status_code == expected, (
        f"{case.name} as {persona}: expected {expected}, got {response.status_code}: {response.content[:500]!r}"
    )
    new_events = list(AuditEvent.objects.filter(seq__gt=last_seq).order_by("seq"))
    if expected >= 400:
        assert_error_shape(response)
        if expected == 401:
            assert_challenge(response)
        if case.refusal_event is not None and expected == 403:
            assert [event.event_type for event in new_events] == [case.refusal_event], new_events
            before["audit"] += 1
        assert counts(case.counted) == before, f"{case.name} as {persona} was refused but wrote something"
        recorded = [event for event in new_events if case.refusal_event is None or expected != 403]
        assert recorded == [], f"{case.name} as {persona} was refused but wrote {new_events}"
    elif case.method.lower() in ("post", "put", "patch", "delete") and case.event is not None:
        user = world.user(persona)
        matching = [event for event in new_events if event.event_type == case.event]
        assert len(matching) == 1, f"{case.name} as {persona}: expected one {case.event}, got {new_events}"
        assert matching[0].actor_id == user.pk
    elif case.method.lower() == "get":
        assert new_events == [], f"reading {url} wrote audit events: {new_events}"
    if case.listed is not None and expected == 200:
        marker = case.listed(world)
        shown = marker in response.content.decode()
        should = persona in set(case.visible_to)
        assert shown == should, f"{case.name} as {persona}: {marker!r} {'shown' if shown else 'hidden'}"
    return response
