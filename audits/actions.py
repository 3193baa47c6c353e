"""The audits' writes: asking for an audit job, and registering its report (docs/audits.md).

``do_request_audit`` checks everything that can be checked without reading the data (who asks, that the dataset
version is the model's team's and readable; then the kind's own checks, audits.kinds: that the columns it names
are columns of it, that the model's inputs are, that the parameters are in range) and asks the job layer for the
job, after commit; a refused request writes nothing (a ValidationError naming the field: a 400).
``do_register_audit_report`` is the only writer of reports: the job calls it once the figures are computed, so a
job that fails or dies midway leaves no report. ``do_justify_proxy`` records a compliance officer's reason for a
pair a proxy report flagged. ``do_set_reason_catalogue`` writes a new version of a model's reason catalogue.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from audits.choices import AuditKind, Verdict
from audits.kinds import spec
from audits.models import AuditPlan, AuditReport, ProxyJustification, ReasonCatalogue
from audits.reasons import catalogue_changes, clean_catalogue, current_catalogue
from core.actors import is_compliance_officer
from core.audit import record_event
from core.canonical import canonical_digest
from core.choices import AuditEventType
from core.idempotency import clean_idempotency_key
from core.jobs import dispatch_job
from core.models import Job
from registry.access import records_access_refusals, usable_dataset_versions
from registry.actions.jobs import check_readable
from registry.actions.rules import require, same_team
from registry.models import Dataset, DatasetVersion, ModelVersion, RegisteredModel


@records_access_refusals
@transaction.atomic
def do_request_audit(
    model_version: ModelVersion,
    *,
    kind: str,
    actor: User,
    dataset_version: Any,
    params: dict[str, Any],
    idempotency_key: Any = "",
) -> tuple[Job, bool]:
    """Ask for a job that runs the ``kind`` audit of ``model_version`` on ``dataset_version`` (an id of a dataset
    version the model's team may use), its ``params`` checked by the kind's ``clean`` (audits.kinds)."""
    team = model_version.model.team
    require(actor, team)
    key = clean_idempotency_key(idempotency_key)
    try:
        kind_spec = spec(kind)
    except KeyError:
        raise ValidationError({"kind": f"{kind!r} is not a kind of audit."}) from None
    if isinstance(dataset_version, bool) or not isinstance(dataset_version, int) or dataset_version < 1:
        raise ValidationError({"dataset_version": "The id of a dataset version (a positive integer)."})
    # Another team's dataset only while a data access grant covers it (registry.access).
    (version,) = usable_dataset_versions(team, [dataset_version], "dataset_version")
    check_readable(version, "dataset_version")
    cleaned = kind_spec.clean(model_version, version, params)
    return dispatch_job(
        kind_spec.job_kind,
        actor=actor,
        team=team,
        target=model_version,
        params={"dataset_version": version.pk, **cleaned},
        idempotency_key=key,
    )


def code_version() -> dict[str, str]:
    """The versions of what computes a report: Assay's audit code and the libraries."""
    from importlib.metadata import PackageNotFoundError, version

    found = {"assay_audits": "1"}
    for package in ("fairlearn", "aif360", "onnxruntime", "pyspark"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = "absent"
    return found


@transaction.atomic
def do_register_audit_report(
    job: Job,
    *,
    actor: User,
    kind: AuditKind,
    model_version: ModelVersion,
    dataset_version: DatasetVersion,
    parameters: dict[str, Any],
    thresholds: dict[str, Any],
    code: dict[str, str],
    results: dict[str, Any],
    checks: dict[str, str],
    verdict: str,
) -> AuditReport:
    """Register the immutable report of ``job``, bound to the artifact's digest and the dataset's fingerprint; its
    digest hashes the canonical JSON of everything it says. One report per job (a retried job finds its own)."""
    existing = AuditReport.objects.filter(job=job).first()
    if existing is not None:
        return existing
    report = AuditReport(
        kind=kind,
        model_version=model_version,
        dataset_version=dataset_version,
        artifact_sha256=model_version.artifact_sha256,
        dataset_fingerprint=dataset_version.content_fingerprint,
        parameters=parameters,
        thresholds=thresholds,
        code_version=code,
        results=results,
        checks=checks,
        verdict=Verdict(verdict),
        job=job,
        created_by=actor,
    )
    report.digest = canonical_digest(report.body())
    report.full_clean()
    report.save(force_insert=True)
    record_event(
        AuditEventType.AUDIT_REPORT_REGISTERED,
        actor=actor,
        target=report,
        team=model_version.model.team,
        after={
            "kind": kind,
            "model_version": str(model_version),
            "dataset_version": str(dataset_version),
            "artifact_sha256": report.artifact_sha256,
            "dataset_fingerprint": report.dataset_fingerprint,
            "verdict": report.verdict,
            "digest": report.digest,
        },
    )
    return report


# --- Audit plans --------------------------------------------------------------------------------------------------


def newest_dataset_version(dataset: Dataset) -> DatasetVersion | None:
    """The version an audit plan runs on: the dataset's newest, when the audit is requested."""
    return DatasetVersion.objects.filter(dataset=dataset).select_related("dataset").order_by("-number").first()


@transaction.atomic
def do_set_audit_plan(
    model: RegisteredModel, *, kind: str, actor: User, dataset: Any, params: Any
) -> tuple[AuditPlan, bool]:
    """Say how the ``kind`` audit of ``model`` runs when a release request needs it: on the newest version of
    ``dataset`` (an id of a dataset of the model's team) with ``params``, checked now by the kind's ``clean``
    against that version and the model's newest version. Replaces the model's plan of that kind. Returns
    ``(plan, created)``."""
    team = model.team
    require(actor, team)
    try:
        kind_spec = spec(kind)
    except KeyError:
        raise ValidationError({"kind": f"{kind!r} is not a kind of audit."}) from None
    if isinstance(dataset, bool) or not isinstance(dataset, int) or dataset < 1:
        raise ValidationError({"dataset": "The id of a dataset (a positive integer)."})
    if not isinstance(params, dict):
        raise ValidationError({"params": f"An object of the {kind} audit's parameters."})
    (chosen,) = same_team(Dataset.objects.all(), "team", team, [dataset], "dataset")
    newest = newest_dataset_version(chosen)
    if newest is None:
        raise ValidationError({"dataset": f"{chosen} has no version yet: register one first."})
    check_readable(newest, "dataset")
    model_version = ModelVersion.objects.filter(model=model).order_by("-number").first()
    if model_version is None:
        raise ValidationError({"model": f"{model} has no version yet: register one before planning its audits."})
    cleaned = kind_spec.clean(model_version, newest, params)
    # The lock on the model serializes two plans of the same kind set at once; the unique constraint is the backstop.
    RegisteredModel.objects.select_for_update().get(pk=model.pk)
    plan = AuditPlan.objects.filter(model=model, kind=kind).first()
    created = plan is None
    before = None if plan is None else {"dataset": plan.dataset_id, "params": plan.params}
    if plan is None:
        plan = AuditPlan(model=model, kind=kind, created_by=actor)
    plan.dataset, plan.params = chosen, cleaned
    plan.full_clean()
    plan.save()
    record_event(
        AuditEventType.AUDIT_PLAN_SET,
        actor=actor,
        target=plan,
        team=team,
        before=before,
        after={"model": str(model), "kind": kind, "dataset": chosen.pk, "params": cleaned},
    )
    return plan, created


@transaction.atomic
def do_delete_audit_plan(plan: AuditPlan, *, actor: User) -> None:
    """Remove a plan: release requests no longer start that kind of audit of the model by themselves."""
    model = plan.model
    require(actor, model.team)
    record_event(
        AuditEventType.AUDIT_PLAN_DELETED,
        actor=actor,
        target=plan,
        team=model.team,
        before={"model": str(model), "kind": plan.kind, "dataset": plan.dataset_id, "params": plan.params},
    )
    plan.delete()


# --- Proxy justifications ---------------------------------------------------------------------------------------


@transaction.atomic
def do_justify_proxy(
    report: AuditReport, *, feature: Any, attribute: Any, reason: Any, actor: User
) -> ProxyJustification:
    """Record why ``feature`` as a proxy of ``attribute`` in the proxy ``report`` is acceptable: only a compliance
    officer of the model's team, only for a pair the report flagged, once per pair. A model input that is itself a
    prohibited input cannot be justified (registration refuses such a model; this holds if one got through)."""
    team = report.model_version.model.team
    if not is_compliance_officer(actor, team):
        raise PermissionDenied(f"Only compliance officers of team {team.slug} may justify a proxy.")
    # Lock the report: two officers justifying the same pair at once are told "already justified", not a 500 (the
    # unique constraint is the backstop).
    report = AuditReport.objects.select_for_update().get(pk=report.pk)
    if report.kind != AuditKind.PROXY:
        raise ValidationError({"report": f"{report} is not a proxy detection report."})
    flagged = {(p.get("feature"), p.get("attribute")) for p in (report.results or {}).get("flagged", [])}
    if (feature, attribute) not in flagged:
        raise ValidationError(
            {"feature": f"This report did not flag {feature!r} as a proxy of {attribute!r}: nothing to justify."}
        )
    prohibited = {c["name"] for c in report.dataset_version.schema["columns"] if c.get("prohibited_input")}
    if feature == attribute and attribute in prohibited:
        raise ValidationError({"feature": f"{feature!r} is a prohibited input: its direct use cannot be justified."})
    reason = reason.strip() if isinstance(reason, str) else ""
    if not reason:
        raise ValidationError({"reason": "Say why this feature is acceptable despite its association."})
    earlier = ProxyJustification.objects.filter(report=report, feature=feature, attribute=attribute).first()
    if earlier is not None:
        by = earlier.justified_by.get_username() if earlier.justified_by else "a deleted user"
        raise ValidationError(
            {
                "feature": f"{feature!r} as a proxy of {attribute!r} was already justified by {by} at "
                f"{earlier.justified_at:%Y-%m-%d %H:%M} UTC."
            }
        )
    justification = ProxyJustification(
        report=report, feature=feature, attribute=attribute, reason=reason, justified_by=actor
    )
    justification.full_clean()
    justification.save(force_insert=True)
    record_event(
        AuditEventType.PROXY_JUSTIFIED,
        actor=actor,
        target=justification,
        team=team,
        after={
            "report": report.digest,
            "model_version": str(report.model_version),
            "feature": feature,
            "attribute": attribute,
            "reason": reason,
        },
    )
    return justification


# --- Reason catalogues --------------------------------------------------------------------------------------------


@transaction.atomic
def do_set_reason_catalogue(
    model: RegisteredModel,
    *,
    actor: User,
    entries: Any,
    threshold: Any,
    positive_decision: Any,
    negative_decision: Any,
    note: Any = "",
) -> tuple[ReasonCatalogue, bool]:
    """Write the next version of ``model``'s reason catalogue (engineers and admins of its team), checked by
    audits.reasons.clean_catalogue. Setting exactly the catalogue in force again writes nothing and returns it.
    Returns ``(catalogue, created)``."""
    team = model.team
    require(actor, team)
    cleaned = clean_catalogue(
        model,
        entries=entries,
        threshold=threshold,
        positive_decision=positive_decision,
        negative_decision=negative_decision,
        note=note,
    )
    # The lock on the model serializes two editors numbering the next version at once; the unique constraint on
    # (model, number) is the backstop.
    RegisteredModel.objects.select_for_update().get(pk=model.pk)
    previous = current_catalogue(model)
    if previous is not None and all(getattr(previous, name) == value for name, value in cleaned.items()):
        return previous, False
    catalogue = ReasonCatalogue(
        model=model, number=1 if previous is None else previous.number + 1, created_by=actor, **cleaned
    )
    catalogue.digest = canonical_digest(catalogue.body())
    catalogue.full_clean()
    catalogue.save(force_insert=True)
    record_event(
        AuditEventType.REASON_CATALOGUE_SET,
        actor=actor,
        target=catalogue,
        team=team,
        before=None if previous is None else {"number": previous.number, "digest": previous.digest},
        after={
            "model": str(model),
            "number": catalogue.number,
            "digest": catalogue.digest,
            "entries": len(catalogue.entries),
            "threshold": catalogue.threshold,
            "positive_decision": catalogue.positive_decision,
            "negative_decision": catalogue.negative_decision,
            "changes": catalogue_changes([] if previous is None else previous.entries, catalogue.entries),
        },
    )
    return catalogue, True
