"""The job kinds Assay runs. Each is registered with the job layer by ``job_task``."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.db import transaction

from core import audit
from core.choices import AuditEventType
from core.jobs import dispatch_job
from core.models import Job
from workers.runner import JobContext, JobFailed, job_task


@job_task("audit.verify", description="Verify the whole audit chain and report the first broken row.")
def verify_audit_chain(job: Job, ctx: JobContext) -> dict[str, Any]:
    ctx.progress(0.0, "counting events")
    report = audit.verify_chain(
        on_progress=lambda done, total: ctx.progress(done / max(total, 1), f"verified {done} of {total} events")
    )
    with transaction.atomic():
        audit.record_event(
            AuditEventType.AUDIT_CHAIN_VERIFIED, actor=job.requested_by, target=job, after=report.as_dict()
        )
    if not report.intact:
        raise JobFailed(f"The audit chain is broken at row #{report.broken_seq}: {report.reason}")
    return report.as_dict()


@job_task("audit.checkpoint", description="Sign the audit chain head with the server key.")
def sign_audit_checkpoint(job: Job, ctx: JobContext) -> dict[str, Any]:
    ctx.progress(0.1, "verifying the chain before signing")
    try:
        checkpoint = audit.sign_checkpoint(actor=job.requested_by)
    except ValueError as exc:
        raise JobFailed(str(exc)) from exc
    ctx.progress(1.0, f"signed head #{checkpoint.seq}")
    return {"checkpoint_id": checkpoint.pk, "seq": checkpoint.seq, "head_hash": checkpoint.head_hash}


@shared_task(name="assay.schedule.audit_checkpoint", ignore_result=True)
def scheduled_audit_checkpoint() -> None:
    """Beat's periodic entry: start a checkpoint job as the scheduler."""
    dispatch_job("audit.checkpoint", actor=None)
