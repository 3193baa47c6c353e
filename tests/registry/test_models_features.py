"""Feature views and feature-set versions: the naming convention, definitions, pinning and fingerprints."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DatabaseError, transaction

from core.choices import AuditEventType
from core.models import AuditEvent
from registry import actions
from registry.access import AccessRefused
from registry.models import FeatureSetVersion, FeatureView
from tests.registry import factories
from tests.registry.factories import (
    FEATURES,
    make_events_dataset,
    make_feature_view,
    make_model,
    make_model_version,
)

pytestmark = pytest.mark.django_db
artifact_root = factories.artifact_root


def test_a_feature_view_keeps_its_definitions_and_writes_its_event(cast):
    dataset, _ = make_events_dataset(cast.team_a, cast.engineer_a)
    view = make_feature_view(cast.team_a, cast.engineer_a, dataset)
    assert [feature["name"] for feature in view.features] == ["spend_7d", "orders_30d", "last_channel"]
    assert view.features[1] == {
        "name": "orders_30d",
        "definition": "1",
        "aggregation": "count",
        "window": "30d",
        "description": "",
    }
    event: Any = AuditEvent.objects.get(event_type=AuditEventType.FEATURE_VIEW_CREATED)
    assert event.after["entity"] == "customer"


@pytest.mark.parametrize(
    ("overrides", "field", "words"),
    [
        ({"name": "CustomerActivity"}, "name", "use a-z, 0-9 and _ only"),
        ({"name": "customer__activity"}, "name", "two underscores"),
        ({"entity": "1customer"}, "entity", "letter"),
        ({"features": []}, "features", "non-empty"),
        ({"features": [{"name": "Spend", "definition": "amount"}]}, "features", "Spend"),
        ({"features": [{"name": "spend", "definition": ""}]}, "features", "definition"),
        (
            {"features": [{"name": "spend", "definition": "amount", "aggregation": "median", "window": "7d"}]},
            "features",
            "median",
        ),
        ({"features": [{"name": "spend", "definition": "amount", "aggregation": "sum"}]}, "features", "window"),
        ({"features": [{"name": "spend", "definition": "amount", "window": "7d"}]}, "features", "needs an aggregation"),
        (
            {"features": [{"name": "spend", "definition": "amount", "aggregation": "sum", "window": "7 days"}]},
            "features",
            "window",
        ),
        ({"features": [FEATURES[0], FEATURES[0]]}, "features", "repeats"),
        ({"features": [{**FEATURES[0], "sql": "drop table"}]}, "features", "unknown keys"),
        ({"event_time_column": "event_tme"}, "event_time_column", "not a column"),
        ({"event_time_column": "amount"}, "event_time_column", "timestamp or a date"),
    ],
)
def test_feature_views_follow_the_convention(cast, overrides, field, words):
    dataset, _ = make_events_dataset(cast.team_a, cast.engineer_a)
    with pytest.raises(ValidationError, match=re.escape(words)) as refused:
        make_feature_view(cast.team_a, cast.engineer_a, dataset, **overrides)
    assert words in refused.value.message_dict[field][0]


def test_feature_view_names_are_unique_per_team(cast):
    dataset, _ = make_events_dataset(cast.team_a, cast.engineer_a)
    make_feature_view(cast.team_a, cast.engineer_a, dataset)
    with pytest.raises(ValidationError, match=r"'customer_activity' is already taken in team team-a\.") as invalid:
        make_feature_view(cast.team_a, cast.engineer_a, dataset)
    assert list(invalid.value.message_dict) == ["name"]


def test_the_source_dataset_must_be_the_teams_own_or_granted(cast):
    # GIVEN team B's dataset and no data access grant for team A
    theirs, _ = make_events_dataset(cast.team_b, cast.engineer_b, owner=cast.engineer_b)
    # WHEN team A builds a feature view over it THEN refused (403) naming the field, the refusal recorded
    with pytest.raises(AccessRefused, match=r"^source_dataset: dataset .* belongs to team team-b") as refused:
        make_feature_view(cast.team_a, cast.engineer_a, theirs)
    assert (refused.value.status, refused.value.field) == (403, "source_dataset")
    assert AuditEvent.objects.filter(event_type=AuditEventType.DATA_ACCESS_REFUSED).count() == 1
    assert not FeatureView.objects.exists()


def test_a_feature_set_version_pins_definitions_and_inputs(cast):
    # GIVEN a feature view over a dataset version
    dataset, dataset_version = make_events_dataset(cast.team_a, cast.engineer_a)
    view = make_feature_view(cast.team_a, cast.engineer_a, dataset)
    # WHEN a version is registered, and the view's definitions change afterwards
    first = actions.do_register_feature_set_version(
        view, actor=cast.engineer_a, dataset_versions=[dataset_version.pk], statistics={"spend_7d": {"mean": 12.5}}
    )
    actions.do_update_feature_view(view, actor=cast.engineer_a, features=FEATURES[:1])
    second = actions.do_register_feature_set_version(view, actor=cast.engineer_a, dataset_versions=[dataset_version.pk])
    again = actions.do_register_feature_set_version(view, actor=cast.engineer_a, dataset_versions=[dataset_version.pk])
    # THEN the first version keeps the definitions it was built from, and the fingerprint follows the inputs
    assert (first.number, second.number, again.number) == (1, 2, 3)
    assert len(first.features) == 3
    assert len(second.features) == 1
    assert first.fingerprint != second.fingerprint
    assert second.fingerprint == again.fingerprint
    assert list(first.dataset_versions.all()) == [dataset_version]
    assert first.statistics == {"spend_7d": {"mean": 12.5}}
    assert AuditEvent.objects.filter(event_type=AuditEventType.FEATURE_SET_VERSION_REGISTERED).count() == 3


def test_a_feature_set_version_must_pin_its_source_and_only_its_teams_data(cast):
    dataset, dataset_version = make_events_dataset(cast.team_a, cast.engineer_a)
    _, other_version = make_events_dataset(cast.team_a, cast.engineer_a, name="Other events")
    _, theirs = make_events_dataset(cast.team_b, cast.engineer_b, owner=cast.engineer_b)
    view = make_feature_view(cast.team_a, cast.engineer_a, dataset)
    with pytest.raises(ValidationError, match=r"Pin at least one version of the view's source dataset\.") as refused:
        actions.do_register_feature_set_version(view, actor=cast.engineer_a, dataset_versions=[other_version.pk])
    assert "source dataset" in refused.value.message_dict["dataset_versions"][0]
    with pytest.raises(AccessRefused, match=r"^dataset_versions: dataset .* belongs to team team-b"):
        actions.do_register_feature_set_version(
            view, actor=cast.engineer_a, dataset_versions=[dataset_version.pk, theirs.pk]
        )
    with pytest.raises(
        ValidationError, match=r"'dataset_versions': \['Invalid pk \"999999\" - object does not exist\.'\]"
    ):
        actions.do_register_feature_set_version(view, actor=cast.engineer_a, dataset_versions=[999999])
    with pytest.raises(ValidationError, match=r"'unknown' is not a feature of this view\.") as refused:
        actions.do_register_feature_set_version(
            view, actor=cast.engineer_a, dataset_versions=[dataset_version.pk], statistics={"unknown": {"mean": 1}}
        )
    assert "not a feature" in refused.value.message_dict["statistics"][0]
    with pytest.raises(PermissionDenied, match=r"^You may not change registry objects of team team-a\.$"):
        actions.do_register_feature_set_version(view, actor=cast.auditor, dataset_versions=[dataset_version.pk])
    assert not FeatureSetVersion.objects.exists()


def test_feature_set_versions_cannot_be_updated(cast):
    dataset, dataset_version = make_events_dataset(cast.team_a, cast.engineer_a)
    view = make_feature_view(cast.team_a, cast.engineer_a, dataset)
    version = actions.do_register_feature_set_version(
        view, actor=cast.engineer_a, dataset_versions=[dataset_version.pk]
    )
    with pytest.raises(DatabaseError, match="immutable"), transaction.atomic():
        FeatureSetVersion.objects.filter(pk=version.pk).update(features=[])


def test_a_model_version_records_the_feature_sets_it_was_trained_on(cast, models, artifact_root):
    dataset, dataset_version = make_events_dataset(cast.team_a, cast.engineer_a)
    view = make_feature_view(cast.team_a, cast.engineer_a, dataset)
    feature_set = actions.do_register_feature_set_version(
        view, actor=cast.engineer_a, dataset_versions=[dataset_version.pk]
    )
    model = make_model(cast.team_a, cast.engineer_a)
    version = make_model_version(model, cast.engineer_a, models.logistic, feature_set_versions=[feature_set.pk])
    assert list(version.feature_set_versions.all()) == [feature_set]
    # Another team's feature set reads as missing.
    dataset_b, version_b = make_events_dataset(cast.team_b, cast.engineer_b, owner=cast.engineer_b)
    view_b = make_feature_view(cast.team_b, cast.engineer_b, dataset_b, owner=cast.engineer_b)
    theirs = actions.do_register_feature_set_version(view_b, actor=cast.engineer_b, dataset_versions=[version_b.pk])
    with pytest.raises(
        ValidationError, match=r"'feature_set_versions': \['Invalid pk \"\d+\" - object does not exist\.'\]"
    ) as refused:
        make_model_version(model, cast.engineer_a, models.logistic, feature_set_versions=[theirs.pk])
    assert refused.value.message_dict["feature_set_versions"] == [f'Invalid pk "{theirs.pk}" - object does not exist.']
