"""System checks for configuration mistakes (ids ``assay.E00x`` errors, ``assay.W00x`` warnings)."""

from __future__ import annotations

import os
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register


@register(Tags.security)
def check_audit_signing_key(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    try:
        key = serialization.load_pem_private_key(settings.AUDIT_SIGNING_KEY.encode(), password=None)
    except (ValueError, TypeError) as exc:
        return [
            Error(
                f"AUDIT_SIGNING_KEY is not a PEM private key: {exc}",
                id="assay.E001",
                hint="Generate one with: python manage.py generate_signing_key",
            )
        ]
    if not isinstance(key, Ed25519PrivateKey):
        return [Error("AUDIT_SIGNING_KEY must be an Ed25519 key.", id="assay.E001")]
    return []


@register()
def check_artifact_root(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    root = settings.ARTIFACT_ROOT
    probe = root if root.exists() else root.parent
    if not os.access(probe, os.W_OK):
        return [Error(f"ARTIFACT_ROOT {root} is not writable.", id="assay.E002")]
    return []


@register(deploy=True)
def check_production_backends(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
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
    return messages
