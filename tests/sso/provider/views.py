"""Test-only control of the provider: users and their groups, deactivation, redirect URIs and misbehaviour. It
listens on the loopback interface of a test run only."""

from __future__ import annotations

import json
from typing import Any

from django.contrib.auth.models import Group, User
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from oauth2_provider.models import AccessToken, Application, RefreshToken

from tests.sso.provider.validator import EXTRA_CLAIMS, MISBEHAVE


def _body(request: HttpRequest) -> dict[str, Any]:
    return dict(json.loads(request.body or b"{}"))


@csrf_exempt
@require_POST
def user(request: HttpRequest) -> JsonResponse:
    """Create or update a user: password, email, names, groups (replacing the old ones), extra claims."""
    data = _body(request)
    person, _ = User.objects.get_or_create(username=data["username"])
    if "password" in data:
        person.set_password(data["password"])
    for field in ("email", "first_name", "last_name"):
        if field in data:
            setattr(person, field, data[field])
    person.save()
    if "groups" in data:
        person.groups.set([Group.objects.get_or_create(name=name)[0] for name in data["groups"]])
    if "extra_claims" in data:
        EXTRA_CLAIMS[person.username] = dict(data["extra_claims"])
    return JsonResponse({"sub": str(person.pk)})


@csrf_exempt
@require_POST
def deactivate(request: HttpRequest) -> JsonResponse:
    """Disable a user as an administrator would: ``is_active`` off and, with ``revoke``, their tokens revoked."""
    data = _body(request)
    person = User.objects.get(username=data["username"])
    person.is_active = False
    person.save(update_fields=["is_active"])
    revoked = 0
    if data.get("revoke", True):
        for refresh in RefreshToken.objects.filter(user=person, revoked__isnull=True):
            refresh.revoke()
            revoked += 1
        AccessToken.objects.filter(user=person).delete()
    return JsonResponse({"revoked": revoked})


@csrf_exempt
@require_POST
def client(request: HttpRequest) -> JsonResponse:
    """Create (or reset) the relying party's application with its id, secret and redirect URIs."""
    data = _body(request)
    Application.objects.filter(client_id=data["client_id"]).delete()
    Application.objects.create(
        name="Assay",
        client_id=data["client_id"],
        client_secret=data["client_secret"],
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris=" ".join(data["redirect_uris"]),
        algorithm=Application.RS256_ALGORITHM,
        skip_authorization=True,
    )
    return JsonResponse({"ok": True})


@csrf_exempt
@require_POST
def misbehave(request: HttpRequest) -> JsonResponse:
    """The next ID token is wrong in one way: wrong_key, wrong_audience, wrong_nonce or expired."""
    MISBEHAVE["next"] = str(_body(request).get("mode", ""))
    return JsonResponse({"next": MISBEHAVE["next"]})
