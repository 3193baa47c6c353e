"""The audits' writes: asking for an audit job, and registering its report (docs/audits.md).

``do_request_fairness_audit`` checks everything that can be checked without reading the data (who asks, that the
dataset version is the model's team's, that the label, protected attributes and segment are columns of it, that
the model's inputs are, that the parameters are in range) and asks the job layer for the job, after commit; a
refused request writes nothing (a ValidationError naming the field: a 400). ``do_register_audit_report`` is the
only writer of reports: the job calls it once the figures are computed, so a job that fails or dies midway leaves
no report.
"""

from __future__ import annotations

import math
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction

from audits.choices import AuditKind, Verdict
from audits.models import AuditReport
from audits.thresholds import fairness_thresholds
from core.audit import record_event
from core.canonical import canonical_digest
from core.choices import AuditEventType
from core.idempotency import clean_idempotency_key
from core.jobs import dispatch_job
from core.models import Job
from registry.actions.jobs import check_readable
from registry.actions.rules import require, same_team
from registry.models import DatasetVersion, ModelVersion

FAIRNESS_KIND = "audits.fairness"
LABEL_TYPES = frozenset({"boolean", "int8", "int16", "int32", "int64"})
LIMITS = {"min_group_size": (1, 10_000_000), "bootstrap_iterations": (0, 10_000), "seed": (0, 2**31 - 1)}
DEFAULTS = {"threshold": 0.5, "min_group_size": 30, "bootstrap_iterations": 200, "seed": 0, "score_bins": 1000}


def _columns(version: DatasetVersion) -> dict[str, dict[str, Any]]:
    return {column["name"].casefold(): column for column in version.schema["columns"]}


def _column(columns: dict[str, dict[str, Any]], name: Any, field: str, version: DatasetVersion) -> dict[str, Any]:
    if not isinstance(name, str) or not name:
        raise ValidationError({field: "Name a column of the dataset version."})
    column = columns.get(name.casefold())
    if column is None:
        raise ValidationError({field: f"{name!r} is not a column of {version}."})
    return column


def _integer(value: Any, field: str) -> int:
    low, high = LIMITS[field]
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValidationError({field: f"An integer from {low} to {high}."})
    return value


def clean_fairness_params(
    model_version: ModelVersion, dataset_version: DatasetVersion, raw: dict[str, Any]
) -> dict[str, Any]:
    """The audit's parameters, checked against the dataset's schema and the model's interface."""
    columns = _columns(dataset_version)
    label = _column(columns, raw.get("label"), "label", dataset_version)
    if label["type"] not in LABEL_TYPES:
        raise ValidationError(
            {"label": f"{label['name']!r} is {label['type']}; a binary label is boolean or an integer of 0 and 1."}
        )
    flagged = [c["name"] for c in dataset_version.schema["columns"] if c.get("protected_attribute")]
    attributes = raw.get("protected_attributes")
    if attributes is None:
        attributes = flagged
        if not attributes:
            raise ValidationError(
                {"protected_attributes": f"{dataset_version} flags no column as a protected attribute: name them."}
            )
    if not isinstance(attributes, list) or not attributes or len(set(attributes)) != len(attributes):
        raise ValidationError({"protected_attributes": "A non-empty list of distinct column names."})
    names = [_column(columns, name, "protected_attributes", dataset_version)["name"] for name in attributes]
    if label["name"] in names:
        raise ValidationError({"protected_attributes": "The label cannot also be a protected attribute."})
    segment = raw.get("segment_column")
    if segment is not None:
        segment = _column(columns, segment, "segment_column", dataset_version)["name"]
    threshold = raw.get("threshold", DEFAULTS["threshold"])
    if (
        isinstance(threshold, bool)
        or not isinstance(threshold, int | float)
        or not math.isfinite(threshold)
        or not 0 <= threshold <= 1
    ):
        raise ValidationError({"threshold": "A number from 0 to 1 (the score at and above which a row is positive)."})
    inputs = [str(value.get("name", "")) for value in model_version.interface.get("inputs", [])]
    missing = [name for name in inputs if name.casefold() not in columns]
    if missing:
        raise ValidationError(
            {
                "dataset_version": f"{dataset_version} does not match the interface of {model_version}: it lacks "
                f"{', '.join(missing)}."
            }
        )
    return {
        "label": label["name"],
        "protected_attributes": names,
        "segment_column": segment,
        "threshold": float(threshold),
        "min_group_size": _integer(raw.get("min_group_size", DEFAULTS["min_group_size"]), "min_group_size"),
        "bootstrap_iterations": _integer(
            raw.get("bootstrap_iterations", DEFAULTS["bootstrap_iterations"]), "bootstrap_iterations"
        ),
        "seed": _integer(raw.get("seed", DEFAULTS["seed"]), "seed"),
        "score_bins": DEFAULTS["score_bins"],
    }


@transaction.atomic
def do_request_fairness_audit(
    model_version: ModelVersion,
    *,
    actor: User,
    dataset_version: Any,
    params: dict[str, Any],
    idempotency_key: Any = "",
) -> tuple[Job, bool]:
    """Ask for a job that audits ``model_version``'s fairness on ``dataset_version`` (an id of a dataset version of
    the model's team). ``params``: ``label``, ``protected_attributes`` (default: the columns the schema flags),
    ``segment_column``, ``threshold``, ``min_group_size``, ``bootstrap_iterations``, ``seed``."""
    team = model_version.model.team
    require(actor, team)
    key = clean_idempotency_key(idempotency_key)
    if isinstance(dataset_version, bool) or not isinstance(dataset_version, int) or dataset_version < 1:
        raise ValidationError({"dataset_version": "The id of a dataset version (a positive integer)."})
    (version,) = same_team(
        DatasetVersion.objects.select_related("dataset"), "dataset__team", team, [dataset_version], "dataset_version"
    )
    check_readable(version, "dataset_version")
    cleaned = clean_fairness_params(model_version, version, params)
    return dispatch_job(
        FAIRNESS_KIND,
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


def thresholds_for(model_version: ModelVersion) -> dict[str, float]:
    """The fairness thresholds for the model's use case's risk tier (audits.thresholds)."""
    use_case = model_version.model.use_case
    return fairness_thresholds(use_case.risk_tier if use_case is not None else None)
