"""A legal hold placed while the retention job runs: real threads, each with its own connection, committing. The
holds lock (compliance.holds) makes the hold wait for the purge in progress; every later record sees the hold."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from compliance import actions
from compliance.models import LegalHold, Purge
from compliance.retention import register_target, target_for, targets
from tests.compliance.conftest import make_estate

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _registered_targets() -> Iterator[None]:
    saved = targets()
    yield
    for target in saved.values():
        register_target(target)


def test_a_hold_placed_during_a_run_waits_and_no_covered_deletion_slips_through(
    cast: Any, lake: Path, artifact_root: Path, onnx_path: Path
) -> None:
    # GIVEN two expired datasets of team A, and a run about to delete the first one's files
    first = make_estate(cast, lake, onnx_path, name="First")
    second = make_estate(cast, lake, onnx_path, name="Second")
    actions.do_create_retention_policy(
        cast.team_a,
        actor=cast.compliance,
        target_kind="dataset_version_files",
        classification="confidential",
        keep_days=1,
        counted_from="created",
    )
    deleting = threading.Event()
    hold_started = threading.Event()
    seen: dict[str, Any] = {}
    target = target_for("dataset_version_files")

    def slow_erase(candidate: Any, on_expiry: str) -> dict[str, Any]:
        # The hold is asked for while these bytes are being deleted: it must wait for them.
        deleting.set()
        hold_started.wait(timeout=10)
        time.sleep(0.5)
        seen["hold_during_erase"] = LegalHold.objects.count()
        return target.erase(candidate, on_expiry)

    register_target(replace(target, erase=slow_erase))
    results: dict[str, Any] = {}

    def run() -> None:
        try:
            results["report"] = actions.run_retention(job=None, now=timezone.now() + timedelta(days=30))
        except Exception as exc:  # reported to the test
            results["report"] = exc
        finally:
            connection.close()

    def hold() -> None:
        try:
            deleting.wait(timeout=10)
            hold_started.set()
            results["hold"] = actions.do_place_hold(
                cast.team_a, actor=cast.compliance, scope="team", case_reference="RACE-1", reason="Subpoena."
            )
            results["hold_at"] = time.monotonic()
        except Exception as exc:
            results["hold"] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run), threading.Thread(target=hold)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    # THEN the hold waited for the purge in progress (it was not committed while the bytes were going) ...
    assert isinstance(results["hold"], LegalHold), results
    assert seen["hold_during_erase"] == 0
    report = results["report"]
    assert isinstance(report, dict), report
    # ... that one record was purged, and the other, listed before the hold, was kept under it
    assert [entry["record"] for entry in report["purged"]] == [str(first.version)]
    assert [entry["code"] for entry in report["skipped"]] == ["under_legal_hold"]
    assert (second.files / "part-0.parquet").exists()
    assert not first.files.exists()
    assert list(Purge.objects.values_list("target_id", flat=True)) == [str(first.version.pk)]
