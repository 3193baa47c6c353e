"""The jobs of data-subject requests (docs/subject-requests.md), each read top to bottom: load the rows (the job
carries ids only), check, ask each registered finder (compliance.subjects), record through compliance's actions.

Both run on the Spark queue: the finders read data files (pyarrow, installed with the Spark worker), and a search
over a team's lake is the same order of work as a feature job. A search writes one report at its end, in one
transaction: a worker killed mid-way leaves no half report, and the next attempt searches again. An erasure
rewrites each file whole (a rename) and records each dataset once; a retried attempt skips what its earlier one
finished.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User

from compliance.actions.subjects import (
    ERASE_JOB,
    SEARCH_JOB,
    do_record_subject_erasure,
    do_record_subject_search,
)
from compliance.holds import holds_lock
from compliance.models import SubjectErasure, SubjectRequest, SubjectSearch
from compliance.pipelines.subjects import SubjectDataError
from compliance.subjects import ErasureKept, SubjectFinder, reasons_to_keep, subject_finders
from core.models import Job
from workers.runner import JobContext, JobFailed, job_task

# The share of the progress bar the finders fill; recording the report takes the rest.
FIND_SPAN = 0.95


def load_request(job: Job) -> SubjectRequest:
    request = SubjectRequest.objects.filter(pk=job.params.get("request")).select_related("team").first()
    if request is None:
        raise JobFailed("The data-subject request is gone; nothing was searched or erased.")
    return request


def search_result(search: SubjectSearch) -> dict[str, Any]:
    # Counts and ids only: the job's record is visible to the whole team, the report only to its officers.
    return {"search": search.pk, "hits": search.hit_count, "rows": search.row_count, "digest": search.digest}


@job_task(SEARCH_JOB, queue=settings.SPARK_QUEUE, description="Find every record Assay holds about a data subject.")
def search_subject(job: Job, ctx: JobContext) -> dict[str, Any]:
    done = SubjectSearch.objects.filter(job=job).first()
    if done is not None:
        return search_result(done)
    request = load_request(job)
    hits: list[dict[str, Any]] = []
    unsearched: list[dict[str, Any]] = []
    finders = subject_finders()
    for index, (kind, finder) in enumerate(finders.items()):
        start, width = FIND_SPAN * index / len(finders), FIND_SPAN / len(finders)
        found = finder.find(request, partial(_report, ctx, start, width))
        ctx.log(f"{kind}: {len(found.hits)} hit(s), {len(found.unsearched)} not searched")
        hits.extend(found.hits)
        unsearched.extend(found.unsearched)
    search = do_record_subject_search(request, job=job, hits=hits, unsearched=unsearched)
    return search_result(search)


@job_task(ERASE_JOB, queue=settings.SPARK_QUEUE, description="Erase what no hold or duty keeps of a data subject.")
def erase_subject(job: Job, ctx: JobContext) -> dict[str, Any]:
    done_before = SubjectErasure.objects.filter(job=job).first()
    if done_before is not None:
        return {"erasure": done_before.pk, "rows": done_before.rows_erased, "kept": len(done_before.kept)}
    request = load_request(job)
    search = SubjectSearch.objects.filter(pk=job.params.get("search"), request=request).first()
    if search is None:
        raise JobFailed("The search report the erasure acts on is gone; nothing was erased.")
    finders = subject_finders()
    done: list[dict[str, Any]] = []
    kept: list[dict[str, Any]] = [{**item, "why": f"not searched: {item.get('why', '')}"} for item in search.unsearched]
    for index, hit in enumerate(search.hits):
        ctx.progress(index / max(len(search.hits), 1) * FIND_SPAN, f"erasing {hit.get('label', '')}")
        # Checking the holds and erasing happen under the holds lock: a hold placed meanwhile waits for this record
        # and covers every later one (compliance.holds: lock first, then rows, then the audit chain).
        with holds_lock():
            outcome = erase_one(request, hit, finders, actor=job.requested_by)
        (done if "why" not in outcome else kept).append(outcome)
    erasure = do_record_subject_erasure(request, search, job=job, done=done, kept=kept)
    return {"erasure": erasure.pk, "rows": erasure.rows_erased, "kept": len(erasure.kept)}


def erase_one(
    request: SubjectRequest, hit: dict[str, Any], finders: dict[str, SubjectFinder], *, actor: User | None
) -> dict[str, Any]:
    """Erase one hit unless something keeps it: what was done, or the hit's summary with ``why`` it was kept."""
    reasons = reasons_to_keep(request, hit)
    finder = finders.get(str(hit.get("kind")))
    if finder is None:
        reasons.append(f"no finder of {hit.get('kind')!r} records is installed to erase it")
    if reasons or finder is None:
        return {**_summary(hit), "why": "; ".join(reasons)}
    try:
        return finder.erase(request, hit, actor=actor)
    except ErasureKept as reason:
        return {**_summary(hit), "why": reason.why}
    except SubjectDataError as error:
        raise JobFailed(f"{hit.get('label')}: {error}; the records erased so far are recorded") from None


def _report(ctx: JobContext, start: float, width: float, fraction: float, stage: str) -> None:
    ctx.progress(start + width * fraction, stage)


def _summary(hit: dict[str, Any]) -> dict[str, Any]:
    keys = ("kind", "object_type", "object_id", "dataset_id", "team", "label", "location", "rows")
    return {key: hit[key] for key in keys if key in hit}
