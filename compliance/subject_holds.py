"""Legal holds keep records from a data-subject erasure: the erasure keeper that asks compliance.holds.

A hit is kept when any hold in force covers its record: a hold on its dataset, model, use case or team, or a hold on
every record about this very subject. The erasure job asks under ``compliance.holds.holds_lock()`` and erases in the
same block, so a hold placed meanwhile waits for the record in progress and covers every later one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.apps import apps

from compliance.choices import HoldScope
from compliance.holds import UnknownRecord, holds_covering
from compliance.models import SubjectRequest

NAME = "legal_holds"


def record_of(hit: Mapping[str, Any]) -> Any:
    """The record a hit names (``object_type`` is an ``app_label.modelname``), or None when it is gone."""
    try:
        model = apps.get_model(str(hit.get("object_type", "")))
    except (LookupError, ValueError):
        return None
    object_id = hit.get("object_id")
    return model._default_manager.filter(pk=object_id).first() if isinstance(object_id, int | str) else None


def legal_holds_keeper(request: SubjectRequest, hit: Mapping[str, Any]) -> list[str]:
    record = record_of(hit)
    if record is None:
        return []
    try:
        holds = holds_covering(record, subject=request.subject_identifier)
    except UnknownRecord:
        # Holds cannot be checked on a record nobody described to them: keeping it is the safe side.
        return [f"legal holds cannot be checked on {hit.get('object_type')} records yet: kept"]
    return [
        f"legal hold {hold.case_reference} on "
        f"{'every record about this data subject' if hold.scope == HoldScope.SUBJECT else hold.scope_label}"
        f": {hold.reason}"
        for hold in holds
    ]
