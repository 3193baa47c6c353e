"""Data for data-subject request tests: a lake with a customers table whose ``email`` identifies the subject, and
helpers to record requests and run their jobs in this process (through the real runner, without a worker)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.csv as pa_csv  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]

from compliance.actions import subjects as actions
from compliance.models import SubjectRequest
from core.models import Job
from tests.registry.factories import make_dataset, make_dataset_version
from workers import subject_jobs
from workers.runner import run_job

SUBJECT = "ana@example.com"
OTHER = "ben@example.com"

CUSTOMERS_SCHEMA = {
    "columns": [
        {"name": "customer_id", "type": "int64", "nullable": False, "subject_identifier": True},
        {"name": "email", "type": "string", "nullable": True, "subject_identifier": True},
        {"name": "spend", "type": "float64", "nullable": False},
    ]
}
PLAIN_SCHEMA = {"columns": [{"name": "spend", "type": "float64", "nullable": False}]}


def customers_table(rows: list[tuple[int, str | None, float]]) -> Any:
    return pa.table(
        {
            "customer_id": pa.array([row[0] for row in rows], pa.int64()),
            "email": pa.array([row[1] for row in rows], pa.string()),
            "spend": pa.array([row[2] for row in rows], pa.float64()),
        }
    )


def write_customers(lake: Path, folder: str = "customers", *, fmt: str = "parquet") -> Path:
    """Two files: the subject has two rows in the first and one in the second; a null e-mail row is never theirs."""
    root = lake / folder
    root.mkdir(parents=True, exist_ok=True)
    parts: dict[str, list[tuple[int, str | None, float]]] = {
        "part-0": [(1, SUBJECT, 10.0), (2, OTHER, 20.0), (1, SUBJECT, 30.0), (3, None, 40.0)],
        "part-1": [(4, OTHER, 50.0), (5, SUBJECT, 60.0)],
    }
    for name, rows in parts.items():
        table = customers_table(rows)
        if fmt == "csv":
            pa_csv.write_csv(table, str(root / f"{name}.csv"))
        else:
            pq.write_table(table, str(root / f"{name}.parquet"))
    return root


def make_customers(cast: Any, *, folder: str = "customers", fmt: str = "parquet", **overrides: Any) -> Any:
    """A team A dataset at ``lake://<folder>/`` and its version declaring the two subject-identifier columns."""
    dataset = make_dataset(
        cast.team_a,
        cast.engineer_a,
        name=overrides.pop("name", f"Customers {folder}"),
        location=f"lake://{folder}/",
        storage_format=fmt,
        partitioning=[],
    )
    return make_dataset_version(dataset, cast.engineer_a, schema=overrides.pop("schema", CUSTOMERS_SCHEMA))


def make_request(cast: Any, *, kind: str = "erasure", identifier: str = SUBJECT, team: Any = None) -> SubjectRequest:
    return actions.do_create_subject_request(
        team or cast.team_a, actor=cast.compliance, kind=kind, subject_identifier=identifier, asked_by="the subject"
    )


def run(job: Job) -> Job:
    fn = {actions.SEARCH_JOB: subject_jobs.search_subject, actions.ERASE_JOB: subject_jobs.erase_subject}[job.kind]
    run_job(job.pk, fn.job_fn, task_id=job.task_id, worker="in-process")
    job.refresh_from_db()
    return job


def search(request: SubjectRequest, actor: Any) -> Job:
    job, _ = actions.do_request_subject_search(request, actor=actor)
    return run(job)


def erase(request: SubjectRequest, actor: Any) -> Job:
    job, _ = actions.do_request_subject_erasure(request, actor=actor)
    return run(job)
