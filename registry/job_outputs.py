"""Links from a finished Spark job's page to what it made (core.jobs.register_output_links; registered by the app's
ready()). The job's result holds ids; a link is made only to a row that still exists."""

from __future__ import annotations

from django.urls import reverse

from core.jobs import register_output_links
from core.models import Job
from registry.actions.jobs import MATERIALIZE_KIND, TRAIN_KIND
from registry.models import FeatureSetVersion, ModelVersion


def _materialization(job: Job) -> list[tuple[str, str]]:
    links: list[tuple[str, str]] = []
    version = (
        FeatureSetVersion.objects.filter(pk=job.result.get("feature_set_version"))
        .select_related("feature_view")
        .first()
    )
    if version is not None:
        url = reverse("registry-feature-set-version", args=[version.feature_view_id, version.number])
        links.append((f"Feature-set version {version}", url))
    training = job.result.get("training_job")
    if training:
        links.append(("The training job it asked for", reverse("job-detail", args=[training])))
    return links


def _training(job: Job) -> list[tuple[str, str]]:
    version = ModelVersion.objects.filter(pk=job.result.get("model_version")).select_related("model").first()
    if version is None:
        return []
    return [(f"Model version {version}", reverse("registry-model-version", args=[version.model_id, version.number]))]


def register() -> None:
    register_output_links(MATERIALIZE_KIND, _materialization)
    register_output_links(TRAIN_KIND, _training)
