"""What each of the workers' job kinds reads and writes, for the OpenLineage events its runs emit (lineage.emit).

Registered from WorkersConfig.ready. Each function reads what exists when the event is built: a materialization's
feature-set version and a training's model version exist only once the job registered them, so START carries the
inputs and COMPLETE the outputs as well. An audit job (every kind of audits.choices.AuditKind, whether or not its
job exists yet) reads the model version and the evaluation dataset version and writes its report. A batch scoring
reads the dataset version and the model version and writes the predictions' dataset version.
"""

from __future__ import annotations

from audits.choices import AuditKind
from audits.models import AuditReport
from core.models import Job
from lineage.emit import (
    AuditReportFields,
    JobLineage,
    audit_report_output,
    dataset_version_input,
    dataset_version_output,
    feature_set_input,
    feature_set_output,
    model_version_input,
    model_version_output,
    register_job_lineage,
)
from registry.models import DatasetVersion, FeatureSetVersion, ModelVersion
from serving.batch import BATCH_SCORE_KIND, registered_output
from workers.tasks import chained_from

MATERIALIZE_KIND = "registry.materialize_features"
TRAIN_KIND = "registry.train_model"
# The audit jobs' kinds (workers.audits: ``audits.<kind>``).
AUDIT_KINDS = tuple(f"audits.{kind}" for kind in AuditKind.values)


def materialization_lineage(job: Job) -> JobLineage:
    """Inputs: the dataset version and the spine's, as pinned by the request. Output: the feature-set version the
    job registered, with its schema and the column lineage of its feature definitions."""
    params = job.params
    versions = DatasetVersion.objects.select_related("dataset")
    source = versions.filter(pk=params.get("dataset_version")).first()
    spine_pk = params.get("spine_dataset_version")
    spine = versions.filter(pk=spine_pk).first() if spine_pk else None
    inputs = [dataset_version_input(version) for version in (source, spine) if version is not None]
    made = FeatureSetVersion.objects.filter(job=job).select_related("feature_view__team").first()
    outputs = [feature_set_output(made, source, spine)] if made is not None and source is not None else []
    return JobLineage(inputs=inputs, outputs=outputs)


def training_lineage(job: Job) -> JobLineage:
    """Input: the feature-set version trained on. Output: the model version registered, named by its digest. A
    training chained on a materialization (``then_train``) has that materialization's run as its parent."""
    feature_set = (
        FeatureSetVersion.objects.filter(pk=job.params.get("feature_set_version"))
        .select_related("feature_view__team")
        .first()
    )
    made = ModelVersion.objects.filter(job=job).select_related("model__team").first()
    return JobLineage(
        inputs=[feature_set_input(feature_set)] if feature_set is not None else [],
        outputs=[model_version_output(made)] if made is not None else [],
        parent=chained_from(job),
    )


def audit_lineage(job: Job) -> JobLineage:
    """Inputs: the model version audited (its ``sha256:`` node) and the evaluation dataset version. Output: the
    report the job registered, named by its id, with its digest as the version and its verdict in a facet."""
    version = (
        ModelVersion.objects.filter(pk=job.target_id).select_related("model__team").first() if job.target_id else None
    )
    dataset = DatasetVersion.objects.filter(pk=job.params.get("dataset_version")).select_related("dataset").first()
    inputs = [model_version_input(version)] if version is not None else []
    inputs += [dataset_version_input(dataset)] if dataset is not None else []
    report = AuditReport.objects.filter(job=job).select_related("model_version__model__team").first()
    outputs = []
    if report is not None:
        fields = AuditReportFields(
            team_slug=report.model_version.model.team.slug,
            kind=report.kind,
            report_id=report.pk,
            digest=report.digest,
            verdict=report.verdict,
            checks={str(name): str(verdict) for name, verdict in (report.checks or {}).items()},
            artifact_sha256=report.artifact_sha256,
            dataset_fingerprint=report.dataset_fingerprint,
        )
        outputs.append(audit_report_output(fields))
    return JobLineage(inputs=inputs, outputs=outputs)


def batch_scoring_lineage(job: Job) -> JobLineage:
    """Inputs: the dataset version scored and the model version that scored it (its ``sha256:`` node). Output: the
    dataset version of the predictions, once registered."""
    params = job.params
    source = DatasetVersion.objects.filter(pk=params.get("dataset_version")).select_related("dataset").first()
    version = ModelVersion.objects.filter(pk=params.get("model_version")).select_related("model__team").first()
    inputs = [dataset_version_input(source)] if source is not None else []
    inputs += [model_version_input(version)] if version is not None else []
    made = registered_output(job)
    return JobLineage(inputs=inputs, outputs=[dataset_version_output(made)] if made is not None else [])


def register() -> None:
    register_job_lineage(MATERIALIZE_KIND, materialization_lineage)
    register_job_lineage(TRAIN_KIND, training_lineage)
    for kind in AUDIT_KINDS:
        register_job_lineage(kind, audit_lineage)
    register_job_lineage(BATCH_SCORE_KIND, batch_scoring_lineage)
