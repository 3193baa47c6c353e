"""A legal hold placed while a subject's erasure runs: real threads, each with its own connection, committing. The
holds lock makes the hold wait for the record being erased; no record is erased after the hold committed."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from compliance import actions as hold_actions
from compliance import subject_datasets
from compliance.actions import subjects as actions
from compliance.models import DatasetFilesErasure, LegalHold, SubjectErasure
from compliance.pipelines import subjects as pipeline
from core.choices import JobStatus
from tests.compliance.factories import SUBJECT, make_customers, make_request, run, search, write_customers

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_hold_placed_during_an_erasure_waits_and_keeps_what_comes_after(
    cast: Any, lake: Path, monkeypatch: Any
) -> None:
    # GIVEN two datasets holding the subject's rows, and an erasure whose first rewrite is slow
    write_customers(lake, "first")
    write_customers(lake, "second")
    first = make_customers(cast, folder="first")
    second = make_customers(cast, folder="second")
    request = make_request(cast)
    search(request, cast.compliance)
    job, _ = actions.do_request_subject_erasure(request, actor=cast.compliance)
    erasing = threading.Event()
    seen: dict[str, Any] = {}
    real = pipeline.rewrite_without

    def slow_rewrite(file: Path, *args: Any) -> int:
        if not erasing.is_set():
            erasing.set()
            time.sleep(1.0)
            seen["holds_during_rewrite"] = LegalHold.objects.count()
        return real(file, *args)

    monkeypatch.setattr(subject_datasets, "rewrite_without", slow_rewrite)
    results: dict[str, Any] = {}

    def erase() -> None:
        try:
            results["job"] = run(job)
        finally:
            connection.close()

    def hold() -> None:
        try:
            erasing.wait(timeout=20)
            results["hold"] = hold_actions.do_place_hold(
                cast.team_a, actor=cast.compliance, scope="team", case_reference="RACE-1", reason="Subpoena."
            )
        except Exception as exc:  # reported to the test
            results["hold"] = exc
        finally:
            connection.close()

    # WHEN a compliance officer places a team hold while the first dataset's files are being rewritten
    threads = [threading.Thread(target=erase), threading.Thread(target=hold)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    # THEN the hold waited for the record in progress (not committed while its files were rewritten), which was erased
    hold = results["hold"]
    assert isinstance(hold, LegalHold), results
    assert seen["holds_during_rewrite"] == 0
    assert results["job"].status == JobStatus.SUCCEEDED, results["job"].error
    erasure = SubjectErasure.objects.get(request=request)
    done = {item["object_id"] for item in erasure.done}
    assert first.pk in done
    # AND nothing the hold covers was erased after it was placed: the second dataset was either erased before the
    # hold committed (the lock is not fair: the job may take it again first) or kept under it
    for record in DatasetFilesErasure.objects.filter(request=request):
        assert record.erased_at <= hold.placed_at, record
    for item in erasure.kept:
        assert (item["object_id"], item["why"].split(":")[0]) == (second.pk, "legal hold RACE-1 on team Team A")
    assert done | {item["object_id"] for item in erasure.kept} == {first.pk, second.pk}
    if second.pk not in done:
        assert SUBJECT in (lake / "second" / "part-1.parquet").read_bytes().decode("latin-1")
