"""Actions on datasets and their immutable versions."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction

from core.audit import record_event
from core.choices import AuditEventType
from core.models import Team
from core.refusals import Refusal, refusals_recorded
from registry import artifacts
from registry.actions.rules import (
    create_named,
    require,
    require_member,
    update_named,
)
from registry.choices import FingerprintSource
from registry.editable import DATASET_FIELDS
from registry.models import (
    Dataset,
    DatasetVersion,
)
from registry.naming import NameRefused
from registry.schema import BreakingSchemaChange, SchemaError, check_evolution, fingerprint_schema, parse_schema

# --- Datasets -----------------------------------------------------------------------------------------------------


def _check_dataset(dataset: Dataset) -> None:
    require_member(dataset.team, dataset.owner if dataset.owner_id else None, "owner")
    dataset.full_clean(exclude=["name_key", "shape_key"])


@transaction.atomic
def do_create_dataset(team: Team, *, actor: User, **fields: Any) -> Dataset:
    require(actor, team)
    created: Dataset = create_named(
        Dataset(team=team, created_by=actor),
        actor=actor,
        fields=DATASET_FIELDS,
        values=fields,
        check=_check_dataset,
        event=AuditEventType.DATASET_CREATED,
    )
    return created


@transaction.atomic
def do_update_dataset(dataset: Dataset, *, actor: User, **changes: Any) -> Dataset:
    require(actor, dataset.team)
    dataset = Dataset.objects.select_for_update(of=("self",)).select_related("team", "owner").get(pk=dataset.pk)
    updated: Dataset = update_named(
        dataset,
        actor=actor,
        fields=DATASET_FIELDS,
        changes=changes,
        check=_check_dataset,
        event=AuditEventType.DATASET_UPDATED,
    )
    return updated


def do_register_dataset_version(
    dataset: Dataset,
    *,
    actor: User,
    schema: Any,
    content_fingerprint: str,
    row_count: int | None = None,
    description: str = "",
    allow_breaking_change: bool = False,
    fingerprint_source: FingerprintSource = FingerprintSource.SUPPLIED,
) -> DatasetVersion:
    """Register the next version of ``dataset``; a breaking schema change needs ``allow_breaking_change``.

    From a request the fingerprint is supplied by the client: Assay cannot reach the data from a request (it never
    fetches a location), so ``fingerprint_source`` says so. A job that wrote the data itself (batch scoring,
    serving.batch) registers the fingerprint it computed (``FingerprintSource.COMPUTED``, registry.pipelines.io's
    ``content_fingerprint``), which every later read is held to. A breaking change without the flag is a
    ``Refusal``, recorded (DATASET_VERSION_REFUSED, with the evolution report) after the registration rolled back.
    """
    with refusals_recorded(actor=actor, team=dataset.team, target=dataset):
        return _register_dataset_version(
            dataset,
            actor=actor,
            schema=schema,
            content_fingerprint=content_fingerprint,
            row_count=row_count,
            description=description,
            allow_breaking_change=allow_breaking_change,
            fingerprint_source=fingerprint_source,
        )


@transaction.atomic
def _register_dataset_version(
    dataset: Dataset,
    *,
    actor: User,
    schema: Any,
    content_fingerprint: str,
    row_count: int | None,
    description: str,
    allow_breaking_change: bool,
    fingerprint_source: FingerprintSource,
) -> DatasetVersion:
    require(actor, dataset.team)
    # The lock serializes version numbers per dataset: two registrations at once would otherwise both read the
    # same latest version and race for its number (the unique constraint is the backstop).
    dataset = Dataset.objects.select_for_update(of=("self",)).select_related("team").get(pk=dataset.pk)
    try:
        parsed = parse_schema(schema)
    except (SchemaError, NameRefused) as error:
        raise ValidationError({"schema": str(error)}) from None
    previous = dataset.versions.order_by("-number").first()
    try:
        evolution = check_evolution(
            parse_schema(previous.schema) if previous else None, parsed, allow_breaking=allow_breaking_change
        )
    except BreakingSchemaChange as breaking:
        raise Refusal(
            "breaking_schema_change",
            str(breaking),
            event_type=AuditEventType.DATASET_VERSION_REFUSED,
            field="schema",
            metadata={
                "reason": "breaking_schema_change",
                "against_version": previous.number if previous else None,
                "evolution": breaking.diff.to_json(),
            },
        ) from None
    version = DatasetVersion(
        dataset=dataset,
        number=(previous.number + 1) if previous else 1,
        schema=parsed.to_json(),
        schema_fingerprint=fingerprint_schema(parsed),
        content_fingerprint=(content_fingerprint or "").lower(),
        fingerprint_source=FingerprintSource(fingerprint_source),
        row_count=row_count,
        evolution=evolution.to_json(),
        breaking_change=evolution.is_breaking,
        description=description,
        created_by=actor,
    )
    try:
        artifacts.check_digest(version.content_fingerprint)
    except artifacts.InvalidDigest:
        raise ValidationError({"content_fingerprint": "Must be a SHA-256 digest: 64 hexadecimal characters."}) from None
    version.full_clean()
    version.save()
    record_event(
        AuditEventType.DATASET_VERSION_REGISTERED,
        actor=actor,
        target=version,
        team=dataset.team,
        after={
            "number": version.number,
            "schema_fingerprint": version.schema_fingerprint,
            "content_fingerprint": version.content_fingerprint,
            "row_count": row_count,
            "breaking_change": version.breaking_change,
            "evolution": version.evolution,
        },
    )
    return version
