"""The Spark job requests: POST /feature-views/{id}/materialize/ and POST /models/{id}/train/.

Each persona of the cast tries both (engineers and admins of team A start jobs: 202 with the job; the rest of
team A may read but not start them: 403; team B's engineer sees nothing: 404). Then the rules: inputs of the
target's team that fit together, definitions and label checked before any job exists, and one job per idempotency
key. Nothing here runs Spark: the jobs are queued, not run (tests/workers/test_spark_jobs.py runs them).
"""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ValidationError

from core.choices import AuditEventType
from core.jobs import dispatch_job
from core.models import Job
from registry import actions
from registry.models import FeatureSetVersion
from tests.api_cases import ApiCase, World, matrix, run_case
from tests.registry import factories
from tests.registry.factories import (
    SPINE_SCHEMA,
    fingerprint,
    make_dataset,
    make_dataset_version,
    make_events_dataset,
    make_feature_view,
    make_model,
)

_empty_cache = factories._empty_cache
artifact_root = factories.artifact_root
world = factories.world

WRITERS = ("superuser", "admin_a", "engineer_a")


def started(status: int) -> dict[str, int]:
    return {**dict.fromkeys(WRITERS, status), "engineer_b": 404}


def _view(world: World) -> dict[str, Any]:
    engineer = world.cast.engineer_a
    dataset, version = make_events_dataset(world.cast.team_a, engineer, location="lake://events")
    spine_dataset = make_dataset(world.cast.team_a, engineer, name="Churn labels", location="lake://labels")
    spine = make_dataset_version(spine_dataset, engineer, schema=SPINE_SCHEMA)
    return {"view": make_feature_view(world.cast.team_a, engineer, dataset), "version": version, "spine": spine}


def _materialized(world: World) -> dict[str, Any]:
    objects = _view(world)
    engineer = world.cast.engineer_a
    view = objects["view"]
    job, _ = dispatch_job(
        "registry.materialize_features", actor=engineer, team=world.cast.team_a, target=view, params={}
    )
    feature_set = actions.do_register_feature_set_version(
        view,
        actor=engineer,
        dataset_versions=[objects["version"].pk, objects["spine"].pk],
        job=job,
        storage_location=f"features/{job.public_id}",
        output_fingerprint=fingerprint("output"),
        row_count=10,
    )
    return {**objects, "feature_set": feature_set, "model": make_model(world.cast.team_a, engineer)}


CASES = [
    ApiCase(
        "feature_views.materialize",
        "post",
        lambda w: f"/api/v1/feature-views/{w.view.pk}/materialize/",
        data=lambda w: {"dataset_version": w.version.pk, "spine_dataset_version": w.spine.pk},
        statuses=started(202),
        setup=_view,
        event=AuditEventType.JOB_REQUESTED,
        counted=(Job,),
    ),
    ApiCase(
        "models.train",
        "post",
        lambda w: f"/api/v1/models/{w.model.pk}/train/",
        data=lambda w: {"feature_set_version": w.feature_set.pk, "label": "churned", "algorithm": "gbt"},
        statuses=started(202),
        setup=_materialized,
        event=AuditEventType.JOB_REQUESTED,
        counted=(Job,),
    ),
]


@pytest.mark.parametrize(("case", "persona"), matrix(CASES))
def test_matrix(case: ApiCase, persona: str, world: World) -> None:
    run_case(case, persona, world)


def post(world: World, url: str, data: dict[str, Any], persona: str = "engineer_a") -> Any:
    return world.client(persona).post(url, data, format="json")


def test_a_materialization_job_pins_the_view_s_definitions(world: World) -> None:
    objects = _view(world)
    view = objects["view"]
    response = post(world, f"/api/v1/feature-views/{view.pk}/materialize/", {"dataset_version": objects["version"].pk})
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["kind"] == "registry.materialize_features"
    assert body["status"] == "queued"
    job = Job.objects.get(public_id=body["id"])
    assert job.team == world.cast.team_a
    assert job.target_id == str(view.pk)
    assert job.params == {
        "dataset_version": objects["version"].pk,
        "spine_dataset_version": None,
        "features": view.features,
    }


def test_one_job_per_idempotency_key(world: World) -> None:
    objects = _view(world)
    url = f"/api/v1/feature-views/{objects['view'].pk}/materialize/"
    data = {"dataset_version": objects["version"].pk, "idempotency_key": "nightly-2024-06-01"}
    first = post(world, url, data)
    second = post(world, url, data)
    assert (first.status_code, second.status_code) == (202, 200)
    assert first.json()["id"] == second.json()["id"]
    assert Job.objects.filter(kind="registry.materialize_features").count() == 1


def test_the_answer_follows_whether_the_action_created_the_job(world: World, monkeypatch: Any) -> None:
    # GIVEN a request whose key another request (the same user's retry, say) uses at the same moment, and wins
    objects = _view(world)
    url = f"/api/v1/feature-views/{objects['view'].pk}/materialize/"
    data = {"dataset_version": objects["version"].pk, "idempotency_key": "nightly-2024-06-02"}
    request = actions.do_request_materialization
    winners = []

    def concurrent(view: Any, **arguments: Any) -> tuple[Job, bool]:
        winners.append(request(view, **arguments))  # the other request commits its job first
        return request(view, **arguments)

    monkeypatch.setattr(actions, "do_request_materialization", concurrent)
    # WHEN this one is answered
    response = post(world, url, data)
    # THEN it returns the winner's job as an earlier request's (200), as the action says, not as a new one (202)
    assert response.status_code == 200, response.content
    assert [(str(job.public_id), created) for job, created in winners] == [(response.json()["id"], True)]
    assert Job.objects.filter(kind="registry.materialize_features").count() == 1


@pytest.mark.parametrize(
    ("change", "field", "says"),
    [
        ({"dataset_version": "spine"}, "dataset_version", "is not a version of the view's source dataset"),
        ({"dataset_version": 999_999}, "dataset_version", 'Invalid pk "999999" - object does not exist.'),
        ({"spine_dataset_version": "source"}, "spine_dataset_version", None),
        ({"unknown": 1}, "unknown", None),
        ({"idempotency_key": "no spaces allowed"}, "idempotency_key", None),
    ],
)
def test_materialization_inputs_are_checked(world: World, change: dict[str, Any], field: str, says: str | None) -> None:
    objects = _view(world)
    data: dict[str, Any] = {"dataset_version": objects["version"].pk}
    for key, value in change.items():
        data[key] = {"spine": objects["spine"].pk, "source": objects["version"].pk}.get(value, value)
    if change.get("spine_dataset_version") == "source":
        # The events have the entity and the time but no label: fine as a spine. A spine lacking the time is not:
        data["spine_dataset_version"] = _spine_without_time(world).pk
        says = "lacks the column(s) a spine needs: event_time (the event time)"
    response = post(world, f"/api/v1/feature-views/{objects['view'].pk}/materialize/", data)
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["message"] or field in str(response.json())
    if says:
        assert says in str(response.json())
    assert not Job.objects.exists()


@pytest.mark.parametrize(
    ("then_train", "says"),
    [
        ({"label": "churned", "algorithm": "gbt"}, 'An object with "model", "label" and "algorithm".'),
        ({"model": "theirs", "label": "churned", "algorithm": "gbt"}, "object does not exist"),
        ({"model": "mine", "label": "churned", "algorithm": "random_forest"}, "'random_forest' is not one of"),
        ({"model": "mine", "label": "churned", "algorithm": "gbt", "epochs": 3}, "Unknown field(s): epochs."),
        ({"model": "mine", "label": "", "algorithm": "gbt"}, "Name the label column."),
    ],
)
def test_a_chained_training_request_is_checked_with_the_materialization(
    world: World, then_train: dict[str, Any], says: str
) -> None:
    """GIVEN a materialization that asks for training once its feature set is registered (then_train)
    WHEN what it would train is wrong: another team's model, an unknown algorithm or field, no label
    THEN the request is refused before any job, naming then_train."""
    objects = _view(world)
    models = {
        "mine": make_model(world.cast.team_a, world.cast.engineer_a),
        "theirs": make_model(world.cast.team_b, world.cast.engineer_b, owner=world.cast.engineer_b),
    }
    if "model" in then_train:
        then_train = {**then_train, "model": models[then_train["model"]].pk}
    data = {"dataset_version": objects["version"].pk, "then_train": then_train}
    response = post(world, f"/api/v1/feature-views/{objects['view'].pk}/materialize/", data)
    assert response.status_code == 400, response.content
    assert "then_train" in str(response.json())
    assert says in str(response.json())
    assert not Job.objects.exists()


def _spine_without_time(world: World) -> Any:
    dataset = make_dataset(world.cast.team_a, world.cast.engineer_a, name="Customers only", location="lake://c")
    return make_dataset_version(
        dataset,
        world.cast.engineer_a,
        schema={"columns": [{"name": "customer_id", "type": "int64", "nullable": False}]},
    )


def test_another_team_s_dataset_version_without_a_grant_is_refused(world: World) -> None:
    objects = _view(world)
    _, other_version = make_events_dataset(world.cast.team_b, world.cast.engineer_b)
    response = post(
        world, f"/api/v1/feature-views/{objects['view'].pk}/materialize/", {"dataset_version": other_version.pk}
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "no_data_grant"
    assert not Job.objects.exists()


def test_a_definition_naming_a_missing_column_is_refused_before_any_job(world: World) -> None:
    engineer = world.cast.engineer_a
    dataset, version = make_events_dataset(world.cast.team_a, engineer, location="lake://events")
    view = make_feature_view(
        world.cast.team_a,
        engineer,
        dataset,
        features=[{"name": "discounts_7d", "definition": "discount", "aggregation": "sum", "window": "7d"}],
    )
    response = post(world, f"/api/v1/feature-views/{view.pk}/materialize/", {"dataset_version": version.pk})
    assert response.status_code == 400, response.content
    assert "discount" in str(response.json())
    assert not Job.objects.exists()


@pytest.mark.parametrize("storage_format", ["avro", "delta"])
def test_formats_spark_cannot_read_here_are_refused_at_the_request(world: World, storage_format: str) -> None:
    engineer = world.cast.engineer_a
    dataset, version = make_events_dataset(
        world.cast.team_a, engineer, location="lake://events", storage_format=storage_format
    )
    view = make_feature_view(world.cast.team_a, engineer, dataset)
    response = post(world, f"/api/v1/feature-views/{view.pk}/materialize/", {"dataset_version": version.pk})
    assert response.status_code == 400
    assert "Assay does not download jars at run time" in str(response.json())


@pytest.mark.parametrize(
    ("change", "field", "says"),
    [
        ({"algorithm": "random_forest"}, "algorithm", "is not one of logistic_regression, gbt"),
        ({"label": "nope"}, "label", "'nope' is not a column of"),
        ({"label": "segment"}, "label", "'segment' is string; a binary label is boolean or an integer"),
        ({"params": {"maxIter": 0}}, "params", "maxIter must be from 1"),
        ({"params": {"learning_rate": 0.1}}, "params", "Unknown parameter 'learning_rate'"),
        ({"features": ["spend_7d", "nope"]}, "features", "Not features of"),
        ({"features": ["spend_7d"], "label": "spend_7d"}, "label", "is also a feature"),
        ({"feature_set_version": 999_999}, "feature_set_version", 'Invalid pk "999999"'),
    ],
)
def test_training_inputs_are_checked(world: World, change: dict[str, Any], field: str, says: str) -> None:
    objects = _materialized(world)
    before = Job.objects.count()
    data = {"feature_set_version": objects["feature_set"].pk, "label": "churned", "algorithm": "gbt", **change}
    response = post(world, f"/api/v1/models/{objects['model'].pk}/train/", data)
    assert response.status_code == 400, response.content
    assert says in str(response.json()), response.json()
    assert Job.objects.count() == before


def test_a_feature_set_registered_by_hand_holds_no_data_to_train_on(world: World) -> None:
    objects = _view(world)
    by_hand = actions.do_register_feature_set_version(
        objects["view"], actor=world.cast.engineer_a, dataset_versions=[objects["version"].pk]
    )
    model = make_model(world.cast.team_a, world.cast.engineer_a)
    response = post(
        world,
        f"/api/v1/models/{model.pk}/train/",
        {"feature_set_version": by_hand.pk, "label": "churned", "algorithm": "logistic_regression"},
    )
    assert response.status_code == 400
    assert "registered by hand and holds no data" in str(response.json())


def test_a_training_job_records_what_it_will_train(world: World) -> None:
    objects = _materialized(world)
    response = post(
        world,
        f"/api/v1/models/{objects['model'].pk}/train/",
        {
            "feature_set_version": objects["feature_set"].pk,
            "label": "churned",
            "algorithm": "logistic_regression",
            "params": {"maxIter": 5},
        },
    )
    assert response.status_code == 202, response.content
    job = Job.objects.get(public_id=response.json()["id"])
    assert job.kind == "registry.train_model"
    assert job.params == {
        "feature_set_version": objects["feature_set"].pk,
        "label": "churned",
        "algorithm": "logistic_regression",
        "params": {"maxIter": 5},
        "features": [feature["name"] for feature in objects["feature_set"].features],
    }


def test_the_actions_refuse_people_who_may_not_start_jobs(world: World) -> None:
    objects = _materialized(world)
    with pytest.raises(Exception, match="may not change"):
        actions.do_request_training(
            objects["model"],
            actor=world.cast.auditor,
            feature_set_version=objects["feature_set"].pk,
            label="churned",
            algorithm="gbt",
        )
    with pytest.raises(
        ValidationError, match=r"Must be the id of a dataset or feature-set version \(a positive integer\)\."
    ) as invalid:
        actions.do_request_materialization(objects["view"], actor=world.cast.engineer_a, dataset_version="1")
    assert list(invalid.value.message_dict) == ["dataset_version"]
    assert FeatureSetVersion.objects.count() == 1


def test_the_endpoints_are_in_the_openapi_schema(world: World) -> None:
    response = world.client("engineer_a").get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    paths = response.json()["paths"] if response["Content-Type"].startswith("application/json") else {}
    text = str(paths) if paths else response.content.decode()
    assert "/api/v1/feature-views/{id}/materialize/" in text
    assert "/api/v1/models/{id}/train/" in text
