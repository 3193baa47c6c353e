"""The edit pages of datasets, registered models and use cases (issue 10): the web's PATCH.

Every persona of the cast tries each page: the team's engineers and admins (and platform administrators) edit,
another team's engineer gets a 404, everyone else who reads the object a 403 and no "Edit" link. A change goes
through the same action as the API, which records one audit event with the changed fields; a refusal is shown on
the field it names and writes nothing.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from core.choices import AuditEventType
from core.models import AuditEvent
from registry.forms import RegistryEditForm
from registry.models import Dataset, RegisteredModel, UseCase
from registry.models.registered_models import RegisteredModelTag
from registry.views.editing import team_members
from tests.registry.factories import make_dataset, make_model, make_use_case

EDITORS = ("superuser", "admin_a", "engineer_a")
OUTSIDERS = ("engineer_b",)
UPDATED = {
    "dataset": AuditEventType.DATASET_UPDATED,
    "model": AuditEventType.MODEL_UPDATED,
    "use_case": AuditEventType.USE_CASE_UPDATED,
}
PATHS = {"dataset": "datasets", "model": "models", "use_case": "use-cases"}
# The text field each test changes, per kind.
TEXT_FIELD = {"dataset": "description", "model": "description", "use_case": "objective"}


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def objects(cast: Any) -> dict[str, Any]:
    use_case = make_use_case(cast.team_a, cast.engineer_a)
    return {
        "dataset": make_dataset(cast.team_a, cast.engineer_a),
        "model": make_model(cast.team_a, cast.engineer_a, use_case=use_case),
        "use_case": use_case,
    }


def edit_url(kind: str, obj: Any) -> str:
    return f"/{PATHS[kind]}/{obj.pk}/edit/"


def detail_url(kind: str, obj: Any) -> str:
    return f"/{PATHS[kind]}/{obj.pk}/"


def form_data(obj: Any, **changes: Any) -> dict[str, Any]:
    """What the page's form sends unchanged (its fields as rendered), with ``changes`` typed over it."""
    form = RegistryEditForm(instance=obj, members=team_members(obj.team))
    data = {}
    for name, field in form.fields.items():
        value = field.prepare_value(form.initial.get(name))
        data[name] = "" if value is None else value
    data.update(changes)
    return data


def events(kind: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(event_type=UPDATED[kind]).order_by("seq"))


def reload(obj: Any) -> Any:
    return type(obj).objects.get(pk=obj.pk)


@pytest.mark.parametrize("kind", ["dataset", "model", "use_case"])
def test_every_persona_gets_the_edit_page_the_api_would_let_them_use(cast: Any, objects: Any, kind: str) -> None:
    obj = objects[kind]
    field = TEXT_FIELD[kind]
    for persona, user in cast.all().items():
        client = client_for(user)
        page = client.get(edit_url(kind, obj))
        sent = client.post(edit_url(kind, obj), form_data(reload(obj), **{field: f"Changed by {persona}."}))
        detail = client.get(detail_url(kind, obj))
        if persona in EDITORS:
            assert page.status_code == 200, persona
            assert 'id="edit-form"' in page.content.decode()
            assert sent.status_code == 302, (persona, sent.content[:2000])
            assert sent["Location"] == detail_url(kind, obj)
            assert getattr(reload(obj), field) == f"Changed by {persona}."
            event = events(kind)[-1]
            assert event.actor_id == user.pk
            assert event.target_id == str(obj.pk)
            assert set(event.after or {}) == {field}
            assert (event.after or {})[field] == f"Changed by {persona}."
            assert 'id="edit-link"' in detail.content.decode()
        elif persona in OUTSIDERS:
            assert (page.status_code, sent.status_code, detail.status_code) == (404, 404, 404), persona
        else:
            assert (page.status_code, sent.status_code) == (403, 403), persona
            assert detail.status_code == 200
            assert 'id="edit-link"' not in detail.content.decode(), persona
    # Three editors, three events; nobody else wrote anything
    assert [event.actor_id for event in events(kind)] == [cast.all()[name].pk for name in EDITORS]


def test_an_engineer_changes_a_models_owner_and_tags_through_the_action(cast: Any, objects: Any) -> None:
    model = objects["model"]
    client = client_for(cast.engineer_a)
    response = client.post(
        edit_url("model", model),
        form_data(model, owner=cast.admin_a.username, tags="fraud, tier-2\nchurn", upstream_dependencies="etl\nfeed"),
    )
    assert response.status_code == 302, response.content[:2000]
    model = reload(model)
    assert model.owner == cast.admin_a
    assert model.tags == ["fraud", "tier-2", "churn"]
    assert model.upstream_dependencies == ["etl", "feed"]
    assert sorted(RegisteredModelTag.objects.filter(model=model).values_list("tag", flat=True)) == [
        "churn",
        "fraud",
        "tier-2",
    ]
    [event] = events("model")
    assert event.before == {
        "owner": "erin-engineer",
        "tags": ["churn", "tier-1"],
        "upstream_dependencies": ["customers-etl"],
    }
    assert event.after == {
        "owner": "alice-admin",
        "tags": ["fraud", "tier-2", "churn"],
        "upstream_dependencies": ["etl", "feed"],
    }


def test_an_unchanged_form_writes_nothing(cast: Any, objects: Any) -> None:
    for kind, obj in objects.items():
        before = reload(obj).updated_at
        response = client_for(cast.engineer_a).post(edit_url(kind, obj), form_data(obj))
        assert response.status_code == 302, (kind, response.content[:2000])
        assert events(kind) == []
        assert reload(obj).updated_at == before


def _refused(client: Client, kind: str, obj: Any, **changes: Any) -> str:
    """Post ``changes``; check the 400, that nothing changed and no event was written; the page's HTML."""
    before = {name: getattr(reload(obj), name) for name in ("name", "owner_id", "updated_at")}
    response = client.post(edit_url(kind, obj), form_data(obj, **changes))
    assert response.status_code == 400, response.content[:2000]
    assert {name: getattr(reload(obj), name) for name in before} == before
    assert events(kind) == []
    html: str = response.content.decode()
    assert 'id="edit-errors"' in html
    return html


def field_errors(html: str, name: str) -> str:
    """The text of the errors shown under the field ``name`` (core/_field.html)."""
    marker = f'id="id_{name}_error">'
    start = html.index(marker) + len(marker)
    return html[start : html.index("</p>", start)]


def test_the_actions_refusals_are_shown_on_the_field_they_name(cast: Any, objects: Any) -> None:
    client = client_for(cast.engineer_a)
    dataset, model, use_case = objects["dataset"], objects["model"], objects["use_case"]
    # The dataset location rule (registry.models.validators, run by the action's full_clean)
    html = _refused(client, "dataset", dataset, location="https://127.0.0.1/x", description="Also changed")
    assert field_errors(html, "location")
    assert reload(dataset).description == "One row per customer and month."
    # A name that looks like another dataset's of the team (registry.naming, in the action)
    make_dataset(cast.team_a, cast.engineer_a, name="Orders", location="s3://lake/orders/")
    html = _refused(client, "dataset", dataset, name="ORDERS")
    assert "looks the same as" in field_errors(html, "name") or "already taken" in field_errors(html, "name")
    # A prohibited use case: no model may serve it (the model action's rule)
    banned = make_use_case(cast.team_a, cast.engineer_a, name="Social scoring", risk_tier="prohibited")
    html = _refused(client, "model", model, use_case=str(banned.pk))
    assert "prohibited" in field_errors(html, "use_case")
    assert reload(model).use_case_id == use_case.pk
    # A tag the API would refuse
    html = _refused(client, "model", model, tags="Not A Tag!")
    assert "lower-case" in field_errors(html, "tags")
    # KPIs that are not the API's shape
    html = _refused(client, "use_case", use_case, kpis='[{"name": "churn"}]')
    assert "baseline" in field_errors(html, "kpis")
    html = _refused(client, "use_case", use_case, kpis="not json")
    assert field_errors(html, "kpis")
    # A negative cost
    html = _refused(client, "use_case", use_case, cost_false_positive="-1")
    assert "finite number" in field_errors(html, "cost_false_positive")


def test_owners_and_use_cases_are_offered_from_the_team_only(cast: Any, objects: Any) -> None:
    client = client_for(cast.engineer_a)
    model = objects["model"]
    other_use_case = make_use_case(cast.team_b, cast.engineer_b, name="Elsewhere")
    # Another team's user or use case is not offered, and a tampered form naming one is refused on the field
    html = _refused(client, "model", model, owner=cast.engineer_b.username)
    assert "Select a valid choice" in field_errors(html, "owner")
    html = _refused(client, "model", model, use_case=str(other_use_case.pk))
    assert "Select a valid choice" in field_errors(html, "use_case")
    page = client.get(edit_url("model", model)).content.decode()
    assert "bob-engineer" not in page
    assert "Elsewhere" not in page
    assert "alice-admin" in page


def test_clearing_a_models_use_case_and_a_use_cases_costs(cast: Any, objects: Any) -> None:
    client = client_for(cast.admin_a)
    model, use_case = objects["model"], objects["use_case"]
    assert client.post(edit_url("model", model), form_data(model, use_case="")).status_code == 302
    assert reload(model).use_case_id is None
    # The costs of errors come as a pair (the model's rule): one alone is refused on the field
    html = _refused(client, "use_case", use_case, cost_false_negative="12.5")
    assert "pair" in field_errors(html, "cost_false_positive")
    response = client.post(
        edit_url("use_case", use_case), form_data(use_case, cost_false_negative="12.5", cost_false_positive="2")
    )
    assert response.status_code == 302
    assert reload(use_case).cost_false_negative == 12.5
    assert [e.after for e in events("use_case")] == [{"cost_false_positive": 2.0, "cost_false_negative": 12.5}]


def test_the_edit_forms_cover_the_actions_editable_fields(cast: Any, objects: Any) -> None:
    from registry.forms import EDITABLE_FIELDS

    for model_class in (Dataset, RegisteredModel, UseCase):
        obj = next(o for o in objects.values() if isinstance(o, model_class))
        form = RegistryEditForm(instance=obj, members=[])
        assert tuple(name for name in form.fields if name != "rendered") == EDITABLE_FIELDS[model_class]


def test_a_field_changed_by_someone_else_meanwhile_is_not_written_back(cast: Any, objects: Any) -> None:
    from registry import actions

    model = objects["model"]
    shown = form_data(model, description="Scores churn risk monthly.")  # the page as erin opened it, then edited
    actions.do_update_model(model, actor=cast.admin_a, on_call="#new-oncall")  # meanwhile, through the API
    response = client_for(cast.engineer_a).post(edit_url("model", model), shown)
    assert response.status_code == 302
    model = reload(model)
    assert (model.description, model.on_call) == ("Scores churn risk monthly.", "#new-oncall")
    assert [event.after for event in events("model")] == [
        {"on_call": "#new-oncall"},
        {"description": "Scores churn risk monthly."},
    ]
