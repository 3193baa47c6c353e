"""What each of the workers' job kinds reads and writes, for the OpenLineage events its runs emit (lineage.emit).

Registered from WorkersConfig.ready. Each function reads what exists when the event is built: a materialization's
feature-set version and a training's model version exist only once the job registered them, so START carries the
inputs and COMPLETE the outputs as well. The audit jobs read and write no dataset: their runs carry none.
"""

from __future__ import annotations

from core.models import Job
from lineage.emit import (
    JobLineage,
    dataset_version_input,
    feature_set_input,
    feature_set_output,
    model_version_output,
    register_job_lineage,
)
from registry.models import DatasetVersion, FeatureSetVersion, ModelVersion
from workers.tasks import chained_from

MATERIALIZE_KIND = "registry.materialize_features"
TRAIN_KIND = "registry.train_model"


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


def register() -> None:
    register_job_lineage(MATERIALIZE_KIND, materialization_lineage)
    register_job_lineage(TRAIN_KIND, training_lineage)
