"""What the release policies ask of audits (docs/audits.md, "Release policies and the gate").

A policy version's ``audit_requirements`` name the audit kinds its releases need, each with how old its report may
be and the thresholds it is judged by (``clean_audit_requirements`` checks them when the version is written). The
gate judges a release's reports by its own policy version (governance.checks.audits). An audit job runs before any
release exists, for a model whose use case has a risk tier: the thresholds it judges by (``audit_thresholds``) are
the strictest that the policies in force for that model set, on top of the kind's defaults for the tier.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils import timezone

from audits.choices import AuditKind
from audits.kinds import registered, spec, strictest
from audits.models import AuditPlan
from audits.selection import MAX_AGE_DAYS, Requirement, audit_verdict, current_reports
from core.models import Job
from governance.models import Release, ReleasePolicy, ReleasePolicyVersion
from registry.models import ModelVersion

AUDIT_CHECK = "audits_passed"
MAX_AGE_LIMIT = 3650
FIELD = "audit_requirements"


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def clean_audit_requirements(value: Any, required_checks: list[str]) -> dict[str, dict[str, Any]]:
    """The policy's ``audit_requirements``, checked: ``{kind: {"max_age_days": 1..3650 (default 180),
    "thresholds": {name: value within the kind's bounds}}}`` for registered kinds. A policy requiring the gate check
    ``audits_passed`` must name at least one kind, and one naming kinds must require the check (else nothing would
    judge them). A ValidationError on ``audit_requirements`` says what is wrong."""
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise ValidationError(
            {FIELD: 'An object of audit kind -> {"max_age_days": days, "thresholds": {name: value}}.'}
        )
    kinds = {kind_spec.kind.value: kind_spec for kind_spec in registered()}
    cleaned: dict[str, dict[str, Any]] = {}
    for kind, requirement in value.items():
        if kind not in kinds:
            raise ValidationError(
                {FIELD: f"Unknown audit kind {str(kind)[:40]!r}; the kinds are {', '.join(kinds) or 'none'}."}
            )
        if not isinstance(requirement, dict) or set(requirement) - {"max_age_days", "thresholds"}:
            raise ValidationError({FIELD: f'{kind}: an object with "max_age_days" and "thresholds" only.'})
        max_age = requirement.get("max_age_days", MAX_AGE_DAYS)
        if not (isinstance(max_age, int) and not isinstance(max_age, bool) and 1 <= max_age <= MAX_AGE_LIMIT):
            raise ValidationError({FIELD: f"{kind}.max_age_days: a whole number of days from 1 to {MAX_AGE_LIMIT}."})
        thresholds = requirement.get("thresholds", {})
        if not isinstance(thresholds, dict):
            raise ValidationError({FIELD: f"{kind}.thresholds: an object of threshold name -> number."})
        kind_spec = kinds[kind]
        for name, number in thresholds.items():
            if name not in kind_spec.thresholds:
                raise ValidationError(
                    {
                        FIELD: f"{kind}.thresholds: unknown threshold {str(name)[:60]!r}; the {kind} thresholds are "
                        f"{', '.join(sorted(kind_spec.thresholds))}."
                    }
                )
            low, high = kind_spec.bounds[name]
            if not (_number(number) and low <= number <= high):
                raise ValidationError({FIELD: f"{kind}.thresholds.{name}: a number from {low:g} to {high:g}."})
        cleaned[kind] = {
            "max_age_days": max_age,
            "thresholds": {name: float(number) for name, number in sorted(thresholds.items())},
        }
    if AUDIT_CHECK in required_checks and not cleaned:
        raise ValidationError(
            {
                FIELD: f"The policy requires {AUDIT_CHECK}: name at least one audit kind it requires "
                f"({', '.join(kinds)})."
            }
        )
    if cleaned and AUDIT_CHECK not in required_checks:
        raise ValidationError(
            {FIELD: f"Audit kinds are judged by the gate check {AUDIT_CHECK}: add it to required_checks, or name none."}
        )
    return cleaned


def requirements_of(audit_requirements: dict[str, Any], risk_tier: str | None) -> list[Requirement]:
    """A policy version's stored ``audit_requirements`` as what the gate judges by (audits.selection), in
    AuditKind's order: each kind's thresholds are the policy's where it sets them, else the kind's defaults for
    the risk tier. A kind no module registers any longer stays required: the gate then fails it, naming it."""
    order = {kind: index for index, kind in enumerate(AuditKind.values)}
    requirements = []
    for kind, value in sorted(audit_requirements.items(), key=lambda item: (order.get(item[0], len(order)), item[0])):
        try:
            defaults = spec(kind).default_thresholds(risk_tier)
        except KeyError:
            defaults = {}
        requirements.append(
            Requirement(
                kind=kind,
                max_age_days=int(value["max_age_days"]),
                thresholds={**defaults, **{name: float(number) for name, number in value["thresholds"].items()}},
            )
        )
    return requirements


def audit_thresholds(model_version: ModelVersion, kind: str) -> dict[str, float]:
    """The thresholds the ``kind`` audit of ``model_version`` is judged by: the kind's defaults for the use case's
    risk tier, made stricter by whatever the current versions of the release policies that may govern the model's
    releases (its team's and the organisation's, for that tier, any environment) set for the kind. A model without
    a use case gets the defaults."""
    use_case = model_version.model.use_case
    tier = use_case.risk_tier if use_case is not None else None
    defaults = spec(kind).default_thresholds(tier)
    if tier is None:
        return defaults
    policies = ReleasePolicy.objects.filter(
        Q(team_id=model_version.model.team_id) | Q(team__isnull=True), risk_tier=tier
    ).values_list("pk", flat=True)
    candidates = [defaults]
    for policy_id in policies:
        current = ReleasePolicyVersion.objects.filter(policy_id=policy_id).order_by("-number").first()
        if current is not None:
            candidates.append(current.audit_requirements.get(kind, {}).get("thresholds", {}))
    return strictest(candidates)


def release_audit_key(release: Release, kind: str) -> str:
    """The idempotency key of the ``kind`` audit a release request starts: one job per release and kind, however
    often the start is retried."""
    return f"release:{release.uid}:{kind}"


def release_requirements(release: Release) -> list[Requirement]:
    """What the release's policy version requires of audits, with the thresholds the gate judges by."""
    use_case = release.model_version.model.use_case
    return requirements_of(
        release.policy_version.audit_requirements, use_case.risk_tier if use_case is not None else None
    )


def release_audits(release: Release, *, now: datetime | None = None) -> list[dict[str, Any]]:
    """Where each audit kind the release's policy requires stands, for the release's API and page, each with a
    ``status``: ``passed`` (``reports``: the reports that count, all passing the policy); ``started`` (``job``: the
    job the release request started, and its ``job_status``); ``failed`` (reports count but do not pass the
    policy); ``not_started`` (a plan, but no job: the job service was unavailable or the plan no longer fits the
    data); ``missing`` (neither a report nor a plan). All but ``passed`` carry the gate's ``reason``."""
    if not release.policy_version.audit_requirements:
        return []  # and costs the release page nothing
    version = release.model_version
    now = now or timezone.now()
    requirements = release_requirements(release)
    reports = current_reports(version)
    plans = {plan.kind: plan for plan in AuditPlan.objects.filter(model_id=version.model_id)}
    keys = {release_audit_key(release, requirement.kind): requirement.kind for requirement in requirements}
    jobs = {keys[job.idempotency_key]: job for job in Job.objects.filter(idempotency_key__in=list(keys))}
    states = []
    for requirement in requirements:
        kind = requirement.kind
        state: dict[str, Any] = {"kind": kind}
        passed, reason = audit_verdict(version, now=now, requirements=[requirement])
        job = jobs.get(kind)
        if passed:
            state.update(status="passed", reports=[r.pk for r in reports if r.kind == kind])
        elif job is not None:
            state.update(status="started", job=str(job.public_id), job_status=job.status, reason=reason)
        elif any(report.kind == kind for report in reports):
            state.update(status="failed", reason=reason)
        elif kind in plans:
            state.update(
                status="not_started",
                reason=f"{reason} A plan exists, but this release request started no job: the job service was "
                "unavailable or the plan no longer fits the newest data; start the audit by hand.",
            )
        else:
            state.update(status="missing", reason=f"{reason} No audit plan: start the audit by hand or set a plan.")
        states.append(state)
    return states
