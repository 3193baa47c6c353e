"""What jobs learn about a dataset version's files: the digest pinned on the first read, and a change seen later.

A client-supplied fingerprint cannot be recomputed, but Assay can hold the data to what it first read: the first job
that reads a version's local files pins the digest of their canonical list (registry.pipelines.io.DatasetRead) on
the version; every later read compares against it (workers.tasks), and a difference is recorded here and fails the
job. docs/spark-jobs.md, "Files pinned on first read".
"""

from __future__ import annotations

import re

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from core.audit import record_event
from core.choices import AuditEventType
from core.models import Job
from registry.models import DatasetVersion

_SHA256 = re.compile(r"\A[0-9a-f]{64}\Z")


def _check_digest(value: str, field: str) -> None:
    if not isinstance(value, str) or not _SHA256.match(value):
        raise ValidationError({field: "Must be a SHA-256 in lowercase hex (64 characters)."})


@transaction.atomic
def do_pin_dataset_files(version: DatasetVersion, *, files_digest: str, job: Job) -> DatasetVersion:
    """Pin ``files_digest`` on ``version`` as read by ``job``, unless a read before pinned one; return the version
    with the pin that holds (``files_digest``, ``files_digest_at``, ``files_digest_job``), to compare against.

    The pin is the record: no audit event (the version's page and API show it, with the job that read the files).
    """
    _check_digest(files_digest, "files_digest")
    # Race: two first reads at once. The conditional UPDATE from empty lets one pin; the other reads the winner's
    # pin back and compares against it. The pin columns are outside the version's frozen ones (migration 0009).
    DatasetVersion.objects.filter(pk=version.pk, files_digest="").update(
        files_digest=files_digest, files_digest_at=timezone.now(), files_digest_job=job
    )
    version.refresh_from_db(fields=["files_digest", "files_digest_at", "files_digest_job"])
    return version


@transaction.atomic
def do_record_data_change(version: DatasetVersion, *, actor: User | None, found: str, job: Job | None) -> None:
    """Record that ``version``'s files no longer hash to their pin (``dataset.data_changed``): the job that found
    them fails, and this event, in a transaction of its own, stays."""
    _check_digest(found, "found")
    record_event(
        AuditEventType.DATASET_VERSION_DATA_CHANGED,
        actor=actor,
        target=version,
        team=version.dataset.team,
        metadata={
            "pinned": version.files_digest,
            "found": found,
            "location": version.dataset.location,
            "job": str(job.public_id) if job is not None else None,
        },
    )
