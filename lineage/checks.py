"""System checks of the OpenLineage forwarding settings (ids ``lineage.E00x``): a malformed value is reported at
start-up rather than found when the first event is owed."""

from __future__ import annotations

import urllib.parse
from collections.abc import Sequence
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.checks import CheckMessage, Error, register

from lineage.forwarding import ForwardingMisconfigured, forward_transport, forwarding_config

if TYPE_CHECKING:
    from django.apps import AppConfig

_HINT = 'docs/lineage.md, "Emitting": OPENLINEAGE_URL=https://marquez.example:5000, or an openlineage.yml.'


@register()
def check_openlineage_forwarding(app_configs: Sequence[AppConfig] | None, **kwargs: object) -> list[CheckMessage]:
    if settings.OPENLINEAGE_URL and not settings.OPENLINEAGE_CONFIG:
        parsed = urllib.parse.urlsplit(settings.OPENLINEAGE_URL)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            return [
                Error(
                    f"OPENLINEAGE_URL={settings.OPENLINEAGE_URL!r} is not an http(s) URL with a host.",
                    id="lineage.E001",
                    hint=_HINT,
                )
            ]
    try:
        config = forwarding_config()
    except ForwardingMisconfigured as error:
        return [Error(str(error), id="lineage.E002", hint=_HINT)]
    if config is None:
        return []
    try:
        forward_transport(config)
    except Exception as error:
        return [
            Error(
                f"The OpenLineage client cannot build the forwarding transport: {type(error).__name__}: {error}",
                id="lineage.E003",
                hint=_HINT,
            )
        ]
    return []
