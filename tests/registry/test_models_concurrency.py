"""Versions registered at the same moment get distinct, gapless numbers: the lock on the parent serializes them.

Real threads, each with its own database connection, committing (see tests/core/test_api_concurrency.py).
"""

from __future__ import annotations

from functools import partial

import pytest

from core.choices import AuditEventType
from core.models import AuditEvent
from registry.models import DatasetVersion, ModelVersion
from tests.core.test_api_concurrency import race
from tests.registry import factories
from tests.registry.factories import fingerprint, make_dataset, make_dataset_version, make_model, make_model_version

artifact_root = factories.artifact_root
WRITERS = 4


@pytest.mark.django_db(transaction=True)
def test_concurrent_dataset_versions_get_distinct_numbers(cast):
    # GIVEN a dataset
    dataset = make_dataset(cast.team_a, cast.engineer_a)
    # WHEN four versions are registered at the same moment
    results = race(
        [
            partial(make_dataset_version, dataset, cast.engineer_a, content_fingerprint=fingerprint(f"race-{index}"))
            for index in range(WRITERS)
        ]
    )
    # THEN each succeeded, with its own number, and each left its event
    assert all(isinstance(result, DatasetVersion) for result in results), results
    assert sorted(version.number for version in results) == list(range(1, WRITERS + 1))
    assert AuditEvent.objects.filter(event_type=AuditEventType.DATASET_VERSION_REGISTERED).count() == WRITERS


@pytest.mark.django_db(transaction=True)
def test_concurrent_model_versions_get_distinct_numbers(cast, models, artifact_root, settings):
    # A validation slot for each writer: this is about numbering, not about the host's validation capacity (a busy
    # host refuses the extra uploads with 503: tests/registry/test_validation_availability.py).
    settings.ARTIFACT_VALIDATION_CONCURRENCY = WRITERS
    model = make_model(cast.team_a, cast.engineer_a)
    files = [models.logistic, models.forest, models.add, models.logistic]
    results = race([partial(make_model_version, model, cast.engineer_a, path) for path in files])
    assert all(isinstance(result, ModelVersion) for result in results), results
    assert sorted(version.number for version in results) == list(range(1, WRITERS + 1))
    stored = sorted(path for path in artifact_root.rglob("*") if path.is_file())
    assert len(stored) == 3  # the logistic model's bytes once
