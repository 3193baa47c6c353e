"""Starting the Spark jobs from the web UI, through Django's test client: the feature view pages, the Materialize form
on a feature view and the Train form on a model.

Each persona of the cast opens the pages and tries the forms (engineers and admins of team A see them and start
jobs; the rest of team A reads the pages without a form and gets a 403 for a POST; team B's engineer gets a 404 as
for a missing view). CSRF is enforced. Every malformed or hostile value is a form error and leaves no job; an action's
refusal shows on the field it names; a double submit of one rendered form starts one job. Nothing here runs Spark:
the jobs are queued (tests/browser/test_job_pages.py runs one).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client

from core.choices import AuditEventType
from core.jobs import dispatch_job
from core.models import AuditEvent, Job
from registry import actions
from tests.registry.factories import (
    SCHEMA,
    SPINE_SCHEMA,
    fingerprint,
    make_dataset,
    make_dataset_version,
    make_events_dataset,
    make_feature_view,
    make_model,
)
from tests.registry.test_ui import client_for, text

WRITERS = ("superuser", "admin_a", "engineer_a")
READERS = ("compliance", "auditor", "reviewer_legal", "reviewer_technical")


@dataclass
class JobsWorld:
    view: Any
    version: Any
    spine: Any
    customers: Any
    model: Any
    feature_set: Any
    by_hand: Any
    b_view: Any
    b_version: Any
    b_model: Any
    seed_job: Any

    def started(self) -> Any:
        """The jobs asked for since the world was built (not the one that wrote its feature-set version)."""
        return Job.objects.exclude(pk=self.seed_job.pk)


@pytest.fixture
def jw(cast: Any, settings: Any, tmp_path: Any) -> JobsWorld:
    """Team A: an events dataset, a labels spine, a customers table (no event time: no spine), a feature view, a
    model, a materialized feature-set version and one registered by hand (no data). Team B: a view and a model."""
    settings.ARTIFACT_ROOT = tmp_path / "artifacts"
    engineer = cast.engineer_a
    dataset, version = make_events_dataset(cast.team_a, engineer, location="lake://events")
    spine_dataset = make_dataset(cast.team_a, engineer, name="Churn labels", location="lake://labels")
    spine = make_dataset_version(spine_dataset, engineer, schema=SPINE_SCHEMA)
    customers_dataset = make_dataset(cast.team_a, engineer, name="Customers only", location="lake://customers")
    customers = make_dataset_version(customers_dataset, engineer, schema=SCHEMA)
    view = make_feature_view(cast.team_a, engineer, dataset)
    job, _ = dispatch_job("registry.materialize_features", actor=engineer, team=cast.team_a, target=view, params={})
    feature_set = actions.do_register_feature_set_version(
        view,
        actor=engineer,
        dataset_versions=[version.pk, spine.pk],
        job=job,
        storage_location=f"features/{job.public_id}",
        output_fingerprint=fingerprint("output"),
        row_count=10,
        statistics={"spend_7d": {"count": 10, "nulls": 0, "mean": 12.5, "quantiles": {"0.5": 11.0, "0.05": 1.5}}},
    )
    by_hand = actions.do_register_feature_set_version(view, actor=engineer, dataset_versions=[version.pk])
    model = make_model(cast.team_a, engineer)
    b_dataset, b_version = make_events_dataset(cast.team_b, cast.engineer_b, location="lake://b-events")
    b_view = make_feature_view(cast.team_b, cast.engineer_b, b_dataset, owner=cast.engineer_b, name="ledger_activity")
    b_model = make_model(cast.team_b, cast.engineer_b, owner=cast.engineer_b, name="Ledger scorer")
    return JobsWorld(view, version, spine, customers, model, feature_set, by_hand, b_view, b_version, b_model, job)


def persona(cast: Any, name: str) -> Client:
    return client_for(cast.all()[name])


def hidden_key(html: str, form_id: str) -> str:
    form = html[html.index(f'id="{form_id}"') :]
    match = re.search(r'name="idempotency_key" value="([^"]+)"', form)
    assert match, "the form carries no idempotency key"
    return match.group(1)


def materialize_data(jw: JobsWorld, **changes: Any) -> dict[str, Any]:
    data = {"dataset_version": jw.version.pk, "spine_dataset_version": jw.spine.pk, "idempotency_key": "ui-test-1"}
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


def train_data(jw: JobsWorld, **changes: Any) -> dict[str, Any]:
    data = {
        "feature_set_version": jw.feature_set.pk,
        "label": "churned",
        "algorithm": "gbt",
        "features": "",
        "params": "",
        "idempotency_key": "ui-train-1",
    }
    data.update(changes)
    return data


# --- Who sees what ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [*WRITERS, *READERS, "engineer_b"])
def test_feature_view_pages_by_persona(cast: Any, jw: JobsWorld, name: str) -> None:
    client = persona(cast, name)
    listing = client.get("/feature-views/")
    assert listing.status_code == 200
    detail = client.get(f"/feature-views/{jw.view.pk}/")
    version = client.get(f"/feature-views/{jw.view.pk}/versions/{jw.feature_set.number}/")
    model = client.get(f"/models/{jw.model.pk}/")
    if name == "engineer_b":
        # Another team's view reads exactly like a missing one; theirs shows, ours does not.
        assert (detail.status_code, version.status_code, model.status_code) == (404, 404, 404)
        assert "ledger_activity" in text(listing)
        assert "customer_activity" not in text(listing)
        return
    assert (detail.status_code, version.status_code, model.status_code) == (200, 200, 200)
    assert "customer_activity" in text(listing)
    assert ("ledger_activity" in text(listing)) is (name == "superuser")
    page = detail.content.decode()
    writer = name in WRITERS
    assert ('id="materialize-form"' in page) is writer
    assert ('id="materialize-not-allowed"' in page) is not writer
    assert ('id="train-form"' in model.content.decode()) is writer
    assert ('id="train-not-allowed"' in model.content.decode()) is not writer


def test_the_feature_view_page_states_definitions_versions_and_jobs(cast: Any, jw: JobsWorld) -> None:
    client = persona(cast, "engineer_a")
    client.post(f"/feature-views/{jw.view.pk}/materialize/", materialize_data(jw))
    job = jw.started().get()
    page = text(client.get(f"/feature-views/{jw.view.pk}/"))
    assert "spend_7d amount Sum 7d Spend" in page
    assert "orders_30d 1 Count 30d" in page
    assert "Entity customer" in page
    assert "Event time event_time" in page
    assert "v1 10 " in page  # the materialized version with its row count
    assert "registered by hand, no data" in page  # v2
    assert "Events v1 , Churn labels v1" in page  # (the text of two links)
    html = client.get(f"/feature-views/{jw.view.pk}/").content.decode()
    assert f'href="/jobs/{jw.feature_set.job.public_id}/"' in html  # the version links the job that wrote it
    assert f'href="/jobs/{job.public_id}/"' in html  # the jobs started for the view
    # A version's page: its statistics, quantiles in order, and the job.
    version = text(client.get(f"/feature-views/{jw.view.pk}/versions/1/"))
    assert "spend_7d amount sum · 7d 10 0 12.5" in version
    assert "p0.05 1.5 p0.5 11" in version
    assert "Rows 10" in version


def test_the_list_filters_and_refuses_a_bad_filter(cast: Any, jw: JobsWorld) -> None:
    client = persona(cast, "superuser")
    assert "customer_activity" not in text(client.get("/feature-views/?team=team-b"))
    assert "ledger_activity" in text(client.get("/feature-views/?team=team-b"))
    assert client.get("/feature-views/?source_dataset=abc").status_code == 400


# --- Who may start a job ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [*READERS, "engineer_b"])
def test_readers_and_other_teams_cannot_start_jobs(cast: Any, jw: JobsWorld, name: str) -> None:
    client = persona(cast, name)
    materialize = client.post(f"/feature-views/{jw.view.pk}/materialize/", materialize_data(jw))
    train = client.post(f"/models/{jw.model.pk}/train/", train_data(jw))
    expected = 404 if name == "engineer_b" else 403
    assert (materialize.status_code, train.status_code) == (expected, expected)
    assert not jw.started().exists()


def test_anonymous_is_sent_to_sign_in_and_get_is_refused(cast: Any, jw: JobsWorld) -> None:
    response = Client().post(f"/feature-views/{jw.view.pk}/materialize/", materialize_data(jw))
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")
    assert persona(cast, "engineer_a").get(f"/feature-views/{jw.view.pk}/materialize/").status_code == 405
    assert persona(cast, "engineer_a").get(f"/models/{jw.model.pk}/train/").status_code == 405
    assert not jw.started().exists()


def test_csrf_is_enforced(cast: Any, jw: JobsWorld) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(cast.engineer_a)
    # WHEN a form is posted without the CSRF token (another site's form)
    assert client.post(f"/feature-views/{jw.view.pk}/materialize/", materialize_data(jw)).status_code == 403
    assert client.post(f"/models/{jw.model.pk}/train/", train_data(jw)).status_code == 403
    assert not jw.started().exists()
    # THEN with the page's token it goes through
    page = client.get(f"/feature-views/{jw.view.pk}/").content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert token
    data = materialize_data(jw, csrfmiddlewaretoken=token.group(1))
    assert client.post(f"/feature-views/{jw.view.pk}/materialize/", data).status_code == 302
    assert jw.started().count() == 1


# --- Materialize --------------------------------------------------------------------------------------------------


def test_materialize_starts_the_job_the_api_would(cast: Any, jw: JobsWorld) -> None:
    client = persona(cast, "engineer_a")
    key = hidden_key(client.get(f"/feature-views/{jw.view.pk}/").content.decode(), "materialize-form")
    data = materialize_data(
        jw,
        idempotency_key=key,
        then_train="on",
        train_model=jw.model.pk,
        train_label="churned",
        train_algorithm="logistic_regression",
    )
    response = client.post(f"/feature-views/{jw.view.pk}/materialize/", data, follow=True)
    job = jw.started().get()
    assert response.redirect_chain == [(f"/jobs/{job.public_id}/", 302)]
    assert "Materialization of customer_activity requested" in text(response)
    assert (job.kind, job.status, job.requested_by, job.team) == (
        "registry.materialize_features",
        "queued",
        cast.engineer_a,
        cast.team_a,
    )
    assert (job.target_type, job.target_id, job.idempotency_key) == ("registry.featureview", str(jw.view.pk), key)
    assert job.params == {
        "dataset_version": jw.version.pk,
        "spine_dataset_version": jw.spine.pk,
        "features": jw.view.features,
        "then_train": {"model": jw.model.pk, "label": "churned", "algorithm": "logistic_regression", "params": {}},
    }
    assert AuditEvent.objects.filter(event_type=AuditEventType.JOB_REQUESTED).count() == 2  # the fixture's and this


def test_without_a_spine_or_training(cast: Any, jw: JobsWorld) -> None:
    data = materialize_data(jw, spine_dataset_version="", train_label="ignored", train_algorithm="gbt")
    response = persona(cast, "admin_a").post(f"/feature-views/{jw.view.pk}/materialize/", data)
    assert response.status_code == 302
    assert jw.started().get().params == {
        "dataset_version": jw.version.pk,
        "spine_dataset_version": None,
        "features": jw.view.features,
    }


def test_each_render_has_its_own_key_and_a_double_submit_starts_one_job(cast: Any, jw: JobsWorld) -> None:
    client = persona(cast, "engineer_a")
    first = hidden_key(client.get(f"/feature-views/{jw.view.pk}/").content.decode(), "materialize-form")
    second = hidden_key(client.get(f"/feature-views/{jw.view.pk}/").content.decode(), "materialize-form")
    assert first != second
    # WHEN the same rendered form is sent twice (a double click)
    data = materialize_data(jw, idempotency_key=first)
    one = client.post(f"/feature-views/{jw.view.pk}/materialize/", data)
    two = client.post(f"/feature-views/{jw.view.pk}/materialize/", data, follow=True)
    # THEN one job, and the second answer is that job
    job = jw.started().get()
    assert one["Location"] == f"/jobs/{job.public_id}/"
    assert two.redirect_chain == [(f"/jobs/{job.public_id}/", 302)]
    assert "already sent" in text(two)
    # AND another render of the form starts another job
    assert client.post(f"/feature-views/{jw.view.pk}/materialize/", materialize_data(jw, idempotency_key=second))
    assert jw.started().count() == 2


@pytest.mark.parametrize(
    ("changes", "field", "says"),
    [
        ({"dataset_version": "b_version"}, "dataset_version", "Select a valid choice"),
        ({"dataset_version": "spine"}, "dataset_version", "Select a valid choice"),
        ({"dataset_version": "999999"}, "dataset_version", "Select a valid choice"),
        ({"dataset_version": "1 OR 1=1"}, "dataset_version", "Select a valid choice"),
        ({"dataset_version": None}, "dataset_version", "This field is required."),
        ({"spine_dataset_version": "b_version"}, "spine_dataset_version", "Select a valid choice"),
        ({"then_train": "on", "train_model": "b_model", "train_label": "churned", "train_algorithm": "gbt"},
         "train_model", "Select a valid choice"),
        ({"then_train": "on", "train_model": "model", "train_label": "", "train_algorithm": "gbt"},
         "train_label", "Name the label column."),
        ({"then_train": "on", "train_model": "model", "train_label": "churned", "train_algorithm": "random_forest"},
         "train_algorithm", "Select a valid choice"),
        ({"idempotency_key": "no spaces <script>"}, "idempotency_key", "reload the page and send it again"),
        ({"idempotency_key": "k" * 129}, "idempotency_key", "reload the page and send it again"),
    ],
)  # fmt: skip
def test_malformed_or_hostile_materialize_input_is_a_form_error(
    cast: Any, jw: JobsWorld, changes: dict[str, Any], field: str, says: str
) -> None:
    objects = {"b_version": jw.b_version.pk, "spine": jw.spine.pk, "b_model": jw.b_model.pk, "model": jw.model.pk}
    data = materialize_data(jw, **{key: objects.get(value, value) for key, value in changes.items()})
    response = persona(cast, "engineer_a").post(f"/feature-views/{jw.view.pk}/materialize/", data)
    assert response.status_code == 400
    form = response.context["form"]
    assert field in form.errors
    assert says in " ".join(form.errors[field]) or says in text(response), form.errors
    assert 'id="materialize-errors"' in response.content.decode()
    assert not jw.started().exists()


def test_the_action_s_refusal_shows_on_the_field_it_names(cast: Any, jw: JobsWorld) -> None:
    """GIVEN a spine of the team without the event time (offered: any dataset version of the team may be a spine)
    WHEN the form asks for a materialization at its rows
    THEN the action refuses it, the refusal shows on the spine field, and no job exists."""
    data = materialize_data(jw, spine_dataset_version=jw.customers.pk)
    response = persona(cast, "engineer_a").post(f"/feature-views/{jw.view.pk}/materialize/", data)
    assert response.status_code == 400
    errors = response.context["form"].errors["spine_dataset_version"]
    assert errors == ["Customers only v1 lacks the column(s) a spine needs: event_time (the event time)."]
    assert "lacks the column(s) a spine needs" in text(response)
    assert not jw.started().exists()


# --- Train --------------------------------------------------------------------------------------------------------


def test_train_starts_the_job_the_api_would(cast: Any, jw: JobsWorld) -> None:
    client = persona(cast, "engineer_a")
    page = client.get(f"/models/{jw.model.pk}/").content.decode()
    # Only materialized versions are offered: the one registered by hand holds no data.
    assert f'<option value="{jw.feature_set.pk}"' in page
    assert f'<option value="{jw.by_hand.pk}"' not in page
    key = hidden_key(page, "train-form")
    params = '{"maxDepth": 3, "search": {"maxIter": [5, 9]}}'
    data = train_data(jw, idempotency_key=key, features="spend_7d, orders_30d", params=params)
    response = client.post(f"/models/{jw.model.pk}/train/", data)
    job = jw.started().get()
    assert response["Location"] == f"/jobs/{job.public_id}/"
    assert (job.kind, job.target_type, job.target_id, job.idempotency_key) == (
        "registry.train_model",
        "registry.registeredmodel",
        str(jw.model.pk),
        key,
    )
    assert job.params == {
        "feature_set_version": jw.feature_set.pk,
        "label": "churned",
        "algorithm": "gbt",
        "params": {"maxDepth": 3, "search": {"maxIter": [5, 9]}},
        "features": ["spend_7d", "orders_30d"],
    }
    # Sent again: the same job.
    assert client.post(f"/models/{jw.model.pk}/train/", data)["Location"] == f"/jobs/{job.public_id}/"
    assert jw.started().count() == 1


@pytest.mark.parametrize(
    ("changes", "field", "says"),
    [
        ({"feature_set_version": "by_hand"}, "feature_set_version", "Select a valid choice"),
        ({"feature_set_version": "-1"}, "feature_set_version", "Select a valid choice"),
        ({"label": ""}, "label", "This field is required."),
        ({"label": "segment"}, "label", "'segment' is string; a binary label is boolean or an integer column"),
        ({"label": "no_such_column"}, "label", "'no_such_column' is not a column of"),
        ({"label": "spend_7d", "features": "spend_7d"}, "label", "is also a feature"),
        ({"features": "spend_7d, bogus"}, "features", "Not features of customer_activity v1: bogus."),
        ({"features": "spend_7d spend_7d"}, "features", "A feature is listed twice."),
        ({"algorithm": "__import__('os')"}, "algorithm", "Select a valid choice"),
        ({"label": "x" * 300}, "label", "at most 255 characters"),
        ({"params": "{maxIter: 3}"}, "params", "Not JSON: Expecting property name enclosed in double quotes"),
        ({"params": "[1, 2]"}, "params", "Must be a JSON object"),
        ({"params": '{"maxIter": 3, "__class__": 1}'}, "params", "Unknown parameter '__class__' for gbt"),
        ({"params": '{"maxIter": -5}'}, "params", "maxIter"),
        ({"params": '{"search": {"maxDepth": []}}'}, "params", 'params["search"]["maxDepth"] must be a non-empty'),
        ({"params": "{" * 4001}, "params", "at most 4000 characters"),
    ],
)
def test_malformed_or_hostile_train_input_is_a_form_error(
    cast: Any, jw: JobsWorld, changes: dict[str, Any], field: str, says: str
) -> None:
    objects = {"by_hand": jw.by_hand.pk}
    data = train_data(jw, **{key: objects.get(value, value) for key, value in changes.items()})
    response = persona(cast, "engineer_a").post(f"/models/{jw.model.pk}/train/", data)
    assert response.status_code == 400
    errors = response.context["train_form"].errors.get(field, [])
    assert any(says in error for error in errors), response.context["train_form"].errors
    assert 'id="train-errors"' in response.content.decode()
    assert not jw.started().exists()


@pytest.mark.parametrize("form", ["materialize", "train"])
def test_with_the_broker_down_the_form_says_so_and_starts_nothing(
    cast: Any, jw: JobsWorld, monkeypatch: pytest.MonkeyPatch, form: str
) -> None:
    from assay.celery import app

    # Nothing listens on port 1. Celery prefers the environment variable over its configuration, so set both.
    dead_broker = "redis://127.0.0.1:1/0"
    monkeypatch.setenv("CELERY_BROKER_URL", dead_broker)
    monkeypatch.setitem(app.conf, "broker_url", dead_broker)
    events = AuditEvent.objects.count()
    client = persona(cast, "engineer_a")
    if form == "materialize":
        response = client.post(f"/feature-views/{jw.view.pk}/materialize/", materialize_data(jw))
    else:
        response = client.post(f"/models/{jw.model.pk}/train/", train_data(jw))

    assert response.status_code == 503
    assert "The job service is unavailable, so no job was started." in text(response)
    assert f'id="{form}-form"' in response.content.decode()  # the form is still there, filled in
    assert not jw.started().exists()
    assert AuditEvent.objects.count() == events
