"""Links from a finished batch-scoring job's page to what it made (core.jobs.register_output_links)."""

from __future__ import annotations

from django.urls import reverse

from core.jobs import register_output_links
from core.models import Job
from registry.models import DatasetVersion
from serving.batch import BATCH_SCORE_KIND


def _batch_scoring(job: Job) -> list[tuple[str, str]]:
    version = DatasetVersion.objects.filter(pk=job.result.get("dataset_version")).select_related("dataset").first()
    if version is None:
        return []
    url = reverse("registry-dataset-version", args=[version.dataset_id, version.number])
    return [(f"Dataset version {version}", url)]


def register() -> None:
    register_output_links(BATCH_SCORE_KIND, _batch_scoring)
