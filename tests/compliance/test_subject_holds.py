"""Legal holds keep a data subject's records from an erasure: the erasure report says which hold kept what."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow.parquet as pq  # type: ignore[import-untyped]
import pytest

from compliance.actions import do_place_hold
from compliance.models import DatasetFilesErasure, SubjectErasure
from core.choices import JobStatus
from tests.compliance.factories import OTHER, SUBJECT, erase, make_customers, make_request, search, write_customers


def subject_rows(folder: Path) -> int:
    return sum(pq.read_table(file)["email"].to_pylist().count(SUBJECT) for file in folder.glob("*.parquet"))


@pytest.mark.parametrize(
    ("scope", "target", "why"),
    [
        ("dataset", "dataset", "legal hold CASE-1 on dataset Customers customers: litigation"),
        ("team", None, "legal hold CASE-1 on team"),
        ("subject", SUBJECT, "legal hold CASE-1 on every record about this data subject: litigation"),
    ],
)
def test_a_subject_under_hold_is_kept_with_why(cast: Any, lake: Path, scope: str, target: str | None, why: str) -> None:
    # GIVEN the customers table and a hold covering it (its dataset, its whole team, or this very subject)
    folder = write_customers(lake)
    version = make_customers(cast)
    extra: dict[str, Any] = {}
    if scope == "dataset":
        extra["dataset"] = version.dataset
    elif scope == "subject":
        extra["subject_identifier"] = target
    do_place_hold(
        cast.team_a, actor=cast.compliance, scope=scope, case_reference="CASE-1", reason="litigation", **extra
    )
    request = make_request(cast)
    search(request, cast.compliance)

    # WHEN the erasure runs
    job = erase(request, cast.compliance)

    # THEN the subject's rows are all still there, and the report says which hold kept them
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert subject_rows(folder) == 3
    erasure = SubjectErasure.objects.get(request=request)
    assert erasure.done == []
    (kept,) = erasure.kept
    assert kept["object_id"] == version.pk
    assert kept["why"].startswith(why)
    assert not DatasetFilesErasure.objects.exists()


def test_a_hold_on_another_subject_does_not_keep_this_ones_rows(cast: Any, lake: Path) -> None:
    folder = write_customers(lake)
    make_customers(cast)
    do_place_hold(
        cast.team_a,
        actor=cast.compliance,
        scope="subject",
        case_reference="CASE-2",
        reason="another person's complaint",
        subject_identifier=OTHER,
    )
    request = make_request(cast)
    search(request, cast.compliance)

    erase(request, cast.compliance)

    assert subject_rows(folder) == 0
    assert SubjectErasure.objects.get(request=request).kept == []
