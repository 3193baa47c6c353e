"""System checks for configuration mistakes (ids ``assay.E00x`` errors, ``assay.W00x`` warnings)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register

from core.audit import CheckpointError, trusted_public_keys
from core.limits import validation_limit_problems

if TYPE_CHECKING:
    from django.apps import AppConfig

_KEY_HINT = "Generate one with: python manage.py generate_signing_key (or: openssl genpkey -algorithm ed25519)."


@register(Tags.security)
def check_audit_signing_key(app_configs: Sequence[AppConfig] | None, **kwargs: object) -> list[CheckMessage]:
    try:
        key = serialization.load_pem_private_key(settings.AUDIT_SIGNING_KEY.encode(), password=None)
    except (ValueError, TypeError) as exc:
        return [
            Error(
                f"AUDIT_SIGNING_KEY is not a PEM private key: {exc}",
                id="assay.E001",
                hint=_KEY_HINT,
            )
        ]
    if not isinstance(key, Ed25519PrivateKey):
        return [Error("AUDIT_SIGNING_KEY must be an Ed25519 key.", id="assay.E001", hint=_KEY_HINT)]
    return []


@register()
def check_artifact_root(app_configs: Sequence[AppConfig] | None, **kwargs: object) -> list[CheckMessage]:
    root = Path(settings.ARTIFACT_ROOT)
    # The folder is created on first use, so what must be writable is the nearest folder that exists already.
    probe = root
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        problem = f"{probe} is not a folder"
    elif not os.access(probe, os.W_OK | os.X_OK):
        problem = f"{probe} is not writable by this process"
    else:
        return []
    return [
        Error(
            f"ARTIFACT_ROOT {root} is not writable: {problem}.",
            id="assay.E002",
            hint="Point ARTIFACT_ROOT at a folder that the web and worker processes can write.",
        )
    ]


@register(deploy=True)
def check_production_backends(app_configs: Sequence[AppConfig] | None, **kwargs: object) -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    if settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        messages.append(
            Warning("Production runs on SQLite.", id="assay.W001", hint="Set DATABASE_URL to a PostgreSQL server.")
        )
    if settings.CELERY_BROKER_URL.startswith("filesystem://"):
        messages.append(
            Warning(
                "Production uses the filesystem job broker.",
                id="assay.W002",
                hint="Set CELERY_BROKER_URL to a Redis server (redis://...).",
            )
        )
    if settings.EMAIL_BACKEND.rsplit(".", 2)[-2] in ("filebased", "console"):
        messages.append(
            Warning(
                "Notifications are written to files (or the console), not emailed.",
                id="assay.W003",
                hint="Set EMAIL_HOST (and EMAIL_PORT, credentials) to an SMTP server (docs/notifications.md).",
            )
        )
    return messages


@register(Tags.security)
def check_trusted_public_keys(app_configs: Sequence[AppConfig] | None, **kwargs: object) -> list[CheckMessage]:
    """A malformed AUDIT_TRUSTED_PUBLIC_KEYS would otherwise show only when an auditor verifies a checkpoint."""
    try:
        trusted_public_keys()
    except (CheckpointError, ValueError, TypeError) as exc:
        return [Error(f"AUDIT_TRUSTED_PUBLIC_KEYS cannot be read: {exc}", id="assay.E003")]
    return []


@register()
def check_validation_limits(app_configs: Sequence[AppConfig] | None, **kwargs: object) -> list[CheckMessage]:
    """The web server's timeout and threads are set together with the validator's limits (docs/artifacts.md)."""
    return [Error(message, id=ident, hint=hint) for ident, message, hint in validation_limit_problems(settings)]


@register(Tags.security)
def check_single_sign_on(app_configs: Sequence[AppConfig] | None, **kwargs: object) -> list[CheckMessage]:
    """Single sign-on half configured, or configured unsafely (docs/sso.md)."""
    messages: list[CheckMessage] = []
    issuer = settings.OIDC_ISSUER
    if not issuer:
        if not settings.LOCAL_SIGN_IN:
            messages.append(
                Error(
                    "LOCAL_SIGN_IN is off and single sign-on is not configured: nobody can sign in to the web UI.",
                    id="assay.E020",
                    hint="Set OIDC_ISSUER (and the client id and secret), or turn LOCAL_SIGN_IN back on.",
                )
            )
        return messages
    if not settings.OIDC_RP_CLIENT_ID or not settings.OIDC_RP_CLIENT_SECRET:
        messages.append(
            Error(
                "OIDC_ISSUER is set but OIDC_RP_CLIENT_ID or OIDC_RP_CLIENT_SECRET is empty.",
                id="assay.E021",
                hint="Register Assay as a confidential client at the provider; OIDC_RP_CLIENT_SECRET_FILE works too.",
            )
        )
    endpoints = [
        settings.OIDC_OP_AUTHORIZATION_ENDPOINT,
        settings.OIDC_OP_TOKEN_ENDPOINT,
        settings.OIDC_OP_USER_ENDPOINT,
        settings.OIDC_OP_JWKS_ENDPOINT,
    ]
    if settings.PRODUCTION and any(not url.startswith("https://") for url in [issuer, *filter(None, endpoints)]):
        messages.append(
            Error(
                "The OIDC issuer and endpoints must use https:// in production.",
                id="assay.E022",
                hint="Tokens and the client secret cross these connections.",
            )
        )
    if any(endpoints) and not all(endpoints):
        messages.append(
            Warning(
                "Some OIDC_OP_*_ENDPOINT settings are set and others are not: the missing ones come from discovery.",
                id="assay.W020",
                hint="Set all four, or none to read them all from the issuer's discovery document.",
            )
        )
    if "openid" not in settings.OIDC_RP_SCOPES.split():
        messages.append(
            Error("OIDC_RP_SCOPES must include 'openid'.", id="assay.E023", hint="For example: openid email profile")
        )
    if not settings.OIDC_GROUPS_CLAIM.strip():
        messages.append(Error("OIDC_GROUPS_CLAIM is empty.", id="assay.E024", hint="Most providers use 'groups'."))
    return messages
