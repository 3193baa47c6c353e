"""Audit plans (audits.AuditPlan): how a release request runs the audits its policy requires.
GET /models/{id}/audit-plans/, PUT and DELETE /models/{id}/audit-plans/{kind}/: each persona of the cast tries each;
then every bad input is a 400 naming the field, with nothing written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from audits.actions import do_set_audit_plan
from audits.models import AuditPlan
from core.choices import AuditEventType
from core.models import AuditEvent
from tests.api_cases import PERSONAS, TEAM_A, ApiCase, World, matrix, run_case
from tests.audits.factories import make_credit
from tests.registry import factories
from tests.registry.factories import make_dataset, make_dataset_version, make_model

_empty_cache = factories._empty_cache
artifact_root = factories.artifact_root
world = factories.world

WRITERS = ("superuser", "admin_a", "engineer_a")
READERS = ("superuser", *TEAM_A)
PLAN = {"label": "defaulted", "threshold": 0.4}
OURS = "<the model's evaluation dataset>"


def _credit(world: World) -> dict[str, Any]:
    return make_credit(world.cast.team_a, world.cast.engineer_a, Path(settings.ARTIFACT_ROOT).parent / "models")


def _planned(world: World) -> dict[str, Any]:
    objects = _credit(world)
    plan, _ = do_set_audit_plan(
        objects["model"], kind="fairness", actor=world.cast.engineer_a, dataset=objects["dataset"].pk, params=PLAN
    )
    return {**objects, "plan": plan}


CASES = [
    ApiCase(
        "audit_plans.list",
        "get",
        lambda w: f"/api/v1/models/{w.model.pk}/audit-plans/",
        statuses=dict.fromkeys(READERS, 200),
        default=404,
        setup=_planned,
    ),
    ApiCase(
        "audit_plans.put",
        "put",
        lambda w: f"/api/v1/models/{w.model.pk}/audit-plans/fairness/",
        data=lambda w: {"dataset": w.dataset.pk, "params": PLAN},
        statuses={**dict.fromkeys(READERS, 403), **dict.fromkeys(WRITERS, 201)},
        default=404,
        setup=_credit,
        event=AuditEventType.AUDIT_PLAN_SET,
        counted=(AuditPlan,),
    ),
    ApiCase(
        "audit_plans.delete",
        "delete",
        lambda w: f"/api/v1/models/{w.model.pk}/audit-plans/fairness/",
        statuses={**dict.fromkeys(READERS, 403), **dict.fromkeys(WRITERS, 204)},
        default=404,
        setup=_planned,
        event=AuditEventType.AUDIT_PLAN_DELETED,
        counted=(AuditPlan,),
    ),
]


@pytest.mark.parametrize(("case", "persona"), matrix(CASES, PERSONAS))
def test_matrix(case: ApiCase, persona: str, world: World) -> None:
    run_case(case, persona, world)


def put_plan(world: World, model: Any, body: Any, kind: str = "fairness", client: Any = None) -> Any:
    client = client or world.client("engineer_a")
    return client.put(f"/api/v1/models/{model.pk}/audit-plans/{kind}/", body, format="json")


def test_a_plan_is_checked_and_stored_cleaned_then_replaced(world: World) -> None:
    # GIVEN a credit model and its evaluation dataset
    objects = _credit(world)
    # WHEN an engineer plans its fairness audit on the dataset
    response = put_plan(world, objects["model"], {"dataset": objects["dataset"].pk, "params": PLAN})
    # THEN the parameters are checked against the dataset's newest version and stored as the audit will get them
    assert response.status_code == 201, response.content
    plan = AuditPlan.objects.get()
    assert plan.params["protected_attributes"] == ["sex", "age_band"]
    assert plan.params["threshold"] == 0.4
    assert response.json()["params"] == plan.params
    # AND the list shows it
    listed = world.client("engineer_a").get(f"/api/v1/models/{objects['model'].pk}/audit-plans/").json()
    assert [entry["kind"] for entry in listed] == ["fairness"]
    # WHEN it is set again THEN the same plan is replaced (one per model and kind), and the event says what it was
    response = put_plan(world, objects["model"], {"dataset": objects["dataset"].pk, "params": {"label": "defaulted"}})
    assert response.status_code == 200
    assert AuditPlan.objects.get().params["threshold"] == 0.5
    event = AuditEvent.objects.filter(event_type=AuditEventType.AUDIT_PLAN_SET).order_by("-seq").first()
    assert event is not None
    assert event.before is not None
    assert event.before["params"]["threshold"] == 0.4


@pytest.mark.parametrize(
    ("body", "kind", "field", "says"),
    [
        ({"params": PLAN}, "fairness", "dataset", "required"),
        ({"dataset": 999_999, "params": PLAN}, "fairness", "dataset", 'Invalid pk "999999"'),
        ({"dataset": "x", "params": PLAN}, "fairness", "dataset", "valid integer"),
        ({"dataset": None, "params": PLAN}, "fairness", "dataset", "null"),
        ({"dataset": OURS, "params": [1]}, "fairness", "params", "An object of the fairness audit's parameters"),
        ({"dataset": OURS, "params": {"label": "nope"}}, "fairness", "label", "'nope' is not a column of"),
        ({"dataset": OURS, "params": {"label": "defaulted", "threshold": 2}}, "fairness", "threshold", "0 to 1"),
        ({"dataset": OURS, "params": PLAN}, "astrology", "kind", "'astrology' is not a kind of audit."),
        ({"dataset": OURS, "params": PLAN, "surprise": 1}, "fairness", "surprise", ""),
    ],
)
def test_bad_plans_are_refused_naming_the_field(
    world: World, body: dict[str, Any], kind: str, field: str, says: str
) -> None:
    objects = _credit(world)
    body = {name: objects["dataset"].pk if value == OURS else value for name, value in body.items()}
    client = world.client("engineer_a")  # its token is an event: made before counting
    before = (AuditPlan.objects.count(), AuditEvent.objects.count())
    response = put_plan(world, objects["model"], body, kind=kind, client=client)
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert field in error.get("fields", {}), error
    assert says in str(error), error
    assert (AuditPlan.objects.count(), AuditEvent.objects.count()) == before


def test_a_dataset_of_another_team_reads_as_missing(world: World) -> None:
    objects = _credit(world)
    other = make_credit(world.cast.team_b, world.cast.engineer_b, Path(settings.ARTIFACT_ROOT).parent / "b")
    response = put_plan(world, objects["model"], {"dataset": other["dataset"].pk, "params": PLAN})
    assert response.status_code == 400
    assert response.json()["error"]["fields"]["dataset"] == [
        f'Invalid pk "{other["dataset"].pk}" - object does not exist.'
    ]
    assert not AuditPlan.objects.exists()


def test_a_dataset_without_a_version_or_a_model_without_one_is_refused(world: World) -> None:
    objects = _credit(world)
    empty = make_dataset(world.cast.team_a, world.cast.engineer_a, name="Empty", location="lake://empty")
    response = put_plan(world, objects["model"], {"dataset": empty.pk, "params": PLAN})
    assert response.status_code == 400
    assert "has no version yet" in response.json()["error"]["fields"]["dataset"][0]
    bare = make_model(world.cast.team_a, world.cast.engineer_a, name="Bare")
    response = put_plan(world, bare, {"dataset": objects["dataset"].pk, "params": PLAN})
    assert response.status_code == 400
    assert "has no version yet" in response.json()["error"]["fields"]["model"][0]


def test_a_plan_is_checked_against_the_dataset_s_newest_version(world: World) -> None:
    # GIVEN the dataset registered again without its label column
    objects = _credit(world)
    schema = {"columns": [c for c in objects["dataset_version"].schema["columns"] if c["name"] != "defaulted"]}
    make_dataset_version(objects["dataset"], world.cast.engineer_a, schema=schema, allow_breaking_change=True)
    # THEN a plan naming that label is refused
    response = put_plan(world, objects["model"], {"dataset": objects["dataset"].pk, "params": PLAN})
    assert response.status_code == 400
    assert "'defaulted' is not a column of" in str(response.json()["error"]["fields"]["label"])


@pytest.mark.parametrize(
    ("kind", "params"),
    [
        ("fairness", {"label": "defaulted", "threshold": 0.4, "segment_column": "region"}),
        ("proxy", {"bins": 5}),
        ("validation", {"label": "defaulted", "segment_column": "region", "monotonic": {"income": "decreasing"}}),
    ],
)
def test_every_kind_cleans_its_own_cleaned_parameters_to_the_same(world: World, kind: str, params: dict[str, Any]):
    # A plan stores cleaned parameters, and a release request cleans them again when it starts the audit: each
    # kind's clean must take its own output unchanged.
    from audits.kinds import spec

    objects = _credit(world)
    clean = spec(kind).clean
    once = clean(objects["model_version"], objects["dataset_version"], params)
    assert clean(objects["model_version"], objects["dataset_version"], once) == once
