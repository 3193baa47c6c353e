"""Data quality of served inputs against the training statistics (serving.quality): where a version's profile comes
from (feature-set statistics, the validation report's, the explanation report's background, in that order) and what
``Profile.assess`` counts."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from audits.actions import do_register_audit_report
from audits.choices import AuditKind
from audits.fairness import JOB_KIND as FAIRNESS_JOB
from audits.pipelines.edge_cases import TOP_CATEGORIES
from core.jobs import dispatch_job
from registry import actions as registry
from serving.quality import Profile, training_profile
from tests.audits.explain_factories import make_explained_model, make_explanation_report, onnx_model
from tests.registry import factories
from tests.registry.factories import make_dataset, make_dataset_version, make_model, make_model_version

pytestmark = pytest.mark.django_db

_empty_cache = factories._empty_cache
artifact_root = factories.artifact_root

ROW: dict[str, Any] = {"income": 3.0, "debt": 1.0, "utilisation": 0.5, "age": 40.0}


def folder() -> Path:
    return Path(settings.ARTIFACT_ROOT).parent / "models"


def validation_report(version: Any, dataset_version: Any, actor: Any, statistics: dict[str, Any]) -> Any:
    """A validation report of ``version`` carrying the edge cases' column statistics, as the job writes them."""
    job, _ = dispatch_job(
        FAIRNESS_JOB, actor=actor, team=version.model.team, target=version, params={"n": dataset_version.pk}
    )
    return do_register_audit_report(
        job,
        actor=actor,
        kind=AuditKind.VALIDATION,
        model_version=version,
        dataset_version=dataset_version,
        parameters={"dataset_version": dataset_version.pk},
        thresholds={"edge_cases_failed_max": 0},
        code={"assay_audits": "1"},
        results={"edge_cases": {"statistics_from": "the training data, loans v1", "statistics": statistics}},
        checks={"edge_cases": "pass"},
        verdict="pass",
    )


def with_feature_set(cast: Any, statistics: dict[str, Any]) -> Any:
    """A credit model version trained on a feature-set version whose statistics are ``statistics``."""
    objects = make_explained_model(cast.team_a, cast.engineer_a, folder())
    events = make_dataset(cast.team_a, cast.engineer_a, name="Credit events", location="lake://credit-events")
    events_version = make_dataset_version(
        events,
        cast.engineer_a,
        schema={
            "columns": [
                {"name": "event_time", "type": "timestamp", "nullable": False},
                {"name": "amount", "type": "float64", "nullable": False},
            ]
        },
    )
    features = [
        {"name": name, "definition": "amount", "aggregation": "sum", "window": "7d"}
        for name in ("income", "debt", "utilisation", "age")
    ]
    view = registry.do_create_feature_view(
        cast.team_a,
        actor=cast.engineer_a,
        name="credit",
        entity="customer",
        source_dataset=events,
        event_time_column="event_time",
        features=features,
        owner=cast.engineer_a,
    )
    feature_set = registry.do_register_feature_set_version(
        view, actor=cast.engineer_a, dataset_versions=[events_version.pk], statistics=statistics
    )
    model = make_model(cast.team_a, cast.engineer_a, name="Credit with features")
    path = folder() / "tree-features.onnx"
    path.write_bytes(onnx_model("tree"))
    version = make_model_version(model, cast.engineer_a, path, feature_set_versions=[feature_set.pk])
    return {**objects, "model_version": version, "feature_set": feature_set}


def test_a_version_without_statistics_flags_only_missing_values(cast, artifact_root):
    # GIVEN a credit model version with no statistics anywhere (no feature set, no report)
    version = make_explained_model(cast.team_a, cast.engineer_a, folder())["model_version"]
    # WHEN its profile assesses rows with a null, a NaN, an absent feature and wild values
    profile = training_profile(version)
    rows = [
        {**ROW, "income": None},
        {**ROW, "debt": math.nan, "age": 1e9},
        {"INCOME": 2.0, "debt": 1.0, "utilisation": 0.5},
    ]
    # THEN only missing values are counted, per input (a feature's case does not matter)
    assert profile.features == ("income", "debt", "utilisation", "age")
    assert profile.ranges == {}
    assert profile.categories == {}
    assert profile.assess(rows) == {"missing": {"income": 1, "debt": 1, "age": 1}}
    assert profile.assess([ROW]) == {}


def test_feature_set_statistics_come_first_then_the_background_fills_in(cast, artifact_root):
    # GIVEN a version trained on a feature set with ranges for income and age, and an explanation report whose
    # background covers every feature
    objects = with_feature_set(cast, {"income": {"min": 0.0, "max": 10.0}, "age": {"min": 18.0, "max": 90.0}})
    version = objects["model_version"]
    report = make_explanation_report(version, objects["dataset_version"], cast.engineer_a, method="tree_exact")
    # WHEN its profile is read
    profile = training_profile(version)
    # THEN income and age have the feature set's ranges; debt and utilisation the background sample's
    assert profile.ranges["income"] == (0.0, 10.0)
    assert profile.ranges["age"] == (18.0, 90.0)
    assert profile.sources["income"].startswith("feature set credit")
    values = report.results["background"]["values"]
    assert profile.ranges["debt"] == (min(r[1] for r in values), max(r[1] for r in values))
    assert profile.sources["debt"] == f"explanation report {report.pk}'s background ({len(values)} sampled rows)"
    # AND values beyond them are counted per input
    rows = [{**ROW, "income": 11.0, "age": 17.0}, {**ROW, "income": -1.0}, {**ROW, "debt": 1e6}, ROW]
    assert profile.assess(rows) == {"out_of_range": {"income": 2, "age": 1, "debt": 1}}
    # AND the range's ends are in range
    assert profile.assess([{**ROW, "income": 10, "age": 18}]) == {}


def test_the_validation_report_gives_categories_and_a_cut_list_is_not_used(cast, artifact_root):
    # GIVEN a model with a string input, validated with its training data's categories
    objects = make_explained_model(cast.team_a, cast.engineer_a, folder(), kind="string")
    version = objects["model_version"]
    validation_report(
        version,
        objects["dataset_version"],
        cast.engineer_a,
        {"region": {"type": "string", "categories": ["north", "south", "west"]}},
    )
    # WHEN its profile assesses a known region, an unseen one and a missing one
    profile = training_profile(version)
    rows: list[dict[str, Any]] = [{"region": "north"}, {"region": "east"}, {"region": "East"}, {"region": None}]
    # THEN the unseen categories are counted, and the missing one
    assert profile.categories == {"region": frozenset({"north", "south", "west"})}
    assert profile.sources["region"].startswith("validation report")
    assert profile.assess(rows) == {"unseen": {"region": 2}, "missing": {"region": 1}}

    # GIVEN a newer validation report whose category list was cut at TOP_CATEGORIES
    many = [f"r{i}" for i in range(TOP_CATEGORIES)]
    validation_report(
        version, objects["dataset_version"], cast.engineer_a, {"region": {"type": "string", "categories": many}}
    )
    # THEN no category is judged unseen: the list does not say which exist
    assert training_profile(version).assess(rows) == {"missing": {"region": 1}}


def test_the_validation_report_ranges_precede_the_background(cast, artifact_root):
    # GIVEN a version with a validation report's numeric statistics and an explanation report
    objects = make_explained_model(cast.team_a, cast.engineer_a, folder())
    version = objects["model_version"]
    make_explanation_report(version, objects["dataset_version"], cast.engineer_a, method="tree_exact")
    validation_report(
        version,
        objects["dataset_version"],
        cast.engineer_a,
        {"income": {"type": "numeric", "min": -5.0, "max": 50.0, "quantiles": {}}, "elsewhere": {"min": 0, "max": 1}},
    )
    # WHEN its profile is read
    profile = training_profile(version)
    # THEN income's range is the validation report's, a column the model does not read is ignored
    assert profile.ranges["income"] == (-5.0, 50.0)
    assert "elsewhere" not in profile.ranges
    assert profile.assess([{**ROW, "income": 49.0}]) == {}


def test_assess_is_plain_python_over_any_rows():
    # GIVEN a hand-made profile
    profile = Profile(
        features=("age", "region", "vip"),
        ranges={"age": (18.0, 90.0), "vip": (0.0, 1.0)},
        categories={"region": frozenset({"north"})},
    )
    # WHEN rows carry booleans, integers, text where a number is expected and numbers where text is expected
    rows: list[dict[str, Any]] = [
        {"age": 17, "region": "north", "vip": True},
        {"age": 91.5, "region": 3, "vip": False},
        {"age": "old", "region": "south", "vip": 2},
    ]
    # THEN a boolean is never out of range, text is judged only against categories, numbers only against ranges
    assert profile.assess(rows) == {"out_of_range": {"age": 2, "vip": 1}, "unseen": {"region": 1}}
    assert profile.assess([]) == {}
    # AND an empty profile checks the columns a row names
    assert Profile().assess([{"a": None, "b": 1}]) == {"missing": {"a": 1}}
