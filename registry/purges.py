"""Whether a registry row's bytes were purged, as the app that purges them (compliance, above the registry) says.

The registry's rows stay when their bytes go (a dataset version's files, a retired model version's artifact); the
purge and its tombstone belong to compliance, which the registry may not import. compliance registers
``register_purge_notice`` from its AppConfig.ready; the registry's pages, API and artifact download ask
``purge_notice(row)``: None while the bytes are there, else the sentence to show ("purged under policy X on D").
"""

from __future__ import annotations

from collections.abc import Callable

from django.db import models

PurgeNotice = Callable[[models.Model], str | None]

_NOTICES: list[PurgeNotice] = []


def register_purge_notice(notice: PurgeNotice) -> None:
    if notice not in _NOTICES:
        _NOTICES.append(notice)


def purge_notice(record: models.Model) -> str | None:
    for notice in _NOTICES:
        found = notice(record)
        if found:
            return found
    return None
