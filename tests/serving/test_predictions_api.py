"""Prediction logs and decision records over the API: every persona of the cast and an anonymous client
(tests/api_cases.py), then the filters (a bad one is a 400 naming it), the subject search by keyed hash, and the
statement of reasons of a recorded decision (HTML and PDF), as recorded rather than recomputed.

The members of the model's team read them; the engineer of team B sees none of it (404, like a missing one).
"""

from __future__ import annotations

import datetime as dt
import io
import uuid
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.utils import timezone
from pypdf import PdfReader

from serving.decisions import Decision, store_decision_records
from serving.subjects import subject_digest
from tests.api_cases import TEAM_A, ApiCase, World, assert_error_shape, matrix, run_case
from tests.audits.explain_factories import make_catalogue, make_explained_model, make_explanation_report
from tests.governance.factories import make_release_world
from tests.serving.factories import deploy, make_prediction

pytestmark = pytest.mark.django_db

READERS = ("superuser", *TEAM_A)
ONNX: list[Path] = []
REASONS = [
    {"feature": "debt", "value": 1.4, "shap": 0.21, "direction": "raises", "text": "Your debt is high."},
    {"feature": "utilisation", "value": 0.9, "shap": 0.12, "direction": "raises", "text": None, "note": "no text"},
]


@pytest.fixture(autouse=True)
def _onnx(onnx_path: Path) -> None:
    ONNX[:] = [onnx_path]


def reads() -> dict[str, int]:
    return {**dict.fromkeys(READERS, 200), "engineer_b": 404}


def logged(world: World) -> dict[str, Any]:
    """A deployment with two logged predictions (the second of a data subject), the first with a decision record."""
    rw = make_release_world(world.cast, ONNX[0])
    deployment = deploy(rw)
    first = make_prediction(deployment, quality={"missing": {"x": 1}})
    second = make_prediction(
        deployment,
        subject_digest=subject_digest("customer-42"),
        logged_at=timezone.now() - dt.timedelta(days=2),
    )
    credit = make_explained_model(world.cast.team_a, world.cast.engineer_a, Path(settings.ARTIFACT_ROOT).parent / "m")
    report = make_explanation_report(
        credit["model_version"], credit["dataset_version"], world.cast.engineer_a, method="tree_exact"
    )
    catalogue = make_catalogue(
        credit["model"], [{"feature": "debt", "direction": "raises", "text": "Your debt is high."}]
    )
    decision = Decision("Declined", 0.82, REASONS, report.pk, catalogue.pk, True)
    (record,) = store_decision_records([(first, decision)])
    return {
        "rw": rw,
        "deployment": deployment,
        "first": first,
        "second": second,
        "record": record,
        "report": report,
        "catalogue": catalogue,
    }


CASES = [
    ApiCase(
        "predictions.list",
        "get",
        lambda w: "/api/v1/predictions/",
        setup=logged,
        statuses={},
        default=200,
        listed=lambda w: str(w.first.request_id),
        visible_to=READERS,
    ),
    ApiCase(
        "predictions.detail", "get", lambda w: f"/api/v1/predictions/{w.first.pk}/", setup=logged, statuses=reads()
    ),
    ApiCase("decisions.detail", "get", lambda w: f"/api/v1/decisions/{w.record.uid}/", setup=logged, statuses=reads()),
    ApiCase(
        "decisions.statement",
        "get",
        lambda w: f"/api/v1/decisions/{w.record.uid}/statement/",
        setup=logged,
        statuses=reads(),
    ),
]


@pytest.mark.parametrize(("case", "persona"), matrix(CASES))
def test_matrix(case: ApiCase, persona: str, world: World) -> None:
    run_case(case, persona, world)


@pytest.fixture
def logs(world: World) -> dict[str, Any]:
    return logged(world)


def test_a_prediction_reads_as_logged_with_its_decision_record(world, logs):
    # GIVEN a logged prediction with a decision record
    client = world.client("engineer_a")
    # WHEN engineer A reads it
    body = client.get(f"/api/v1/predictions/{logs['first'].pk}/").json()
    # THEN its columns, its data quality and its record's uid are there
    assert body["request_id"] == str(logs["first"].request_id)
    assert body["deployment"] == logs["deployment"].pk
    assert body["environment"] == logs["rw"].environment.slug
    assert body["quality"] == {"missing": {"x": 1}}
    assert body["inputs"] == logs["first"].inputs
    assert body["decision_record"] == str(logs["record"].uid)
    assert client.get(f"/api/v1/predictions/{logs['second'].pk}/").json()["decision_record"] is None


def test_filters_narrow_the_list_and_a_subject_is_found_by_its_keyed_hash(world, logs):
    # GIVEN two logged predictions, the older of customer-42
    client = world.client("engineer_a")

    def ids(query: str) -> list[int]:
        response = client.get(f"/api/v1/predictions/?{query}")
        assert response.status_code == 200, response.content
        return [row["id"] for row in response.json()["results"]]

    first, second = logs["first"].pk, logs["second"].pk
    # WHEN the list is filtered
    # THEN each filter narrows it
    assert ids("") == [first, second]
    assert ids(f"deployment={logs['deployment'].pk}") == [first, second]
    assert ids("deployment=999999") == []
    assert ids(f"model={logs['deployment'].model_id}&environment={logs['rw'].environment.slug}") == [first, second]
    assert ids("role=primary") == [first, second]
    assert ids("role=shadow") == []
    assert ids(f"request_id={logs['second'].request_id}") == [second]
    since = (timezone.now() - dt.timedelta(days=1)).isoformat()
    assert ids(f"logged_after={since.replace('+', '%2B')}") == [first]
    assert ids(f"logged_before={since.replace('+', '%2B')}") == [second]
    assert ids("subject=customer-42") == [second]
    assert ids("subject=customer-43") == []
    # AND the subject's raw identifier is nowhere in the answer
    assert "customer-42" not in client.get("/api/v1/predictions/?subject=customer-42").content.decode()


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("deployment=abc", "deployment"),
        ("model=9223372036854775808", "model"),
        ("role=leader", "role"),
        ("request_id=not-a-uuid", "request_id"),
        ("logged_after=yesterday", "logged_after"),
        ("subject=" + "x" * 300, "subject"),
        ("ordering=caller", "ordering"),
    ],
)
def test_a_bad_filter_is_a_400_naming_it(world, logs, query, field):
    # GIVEN engineer A
    client = world.client("engineer_a")
    # WHEN a filter has a bad value
    response = client.get(f"/api/v1/predictions/?{query}")
    # THEN a 400 names the field
    assert response.status_code == 400
    error = assert_error_shape(response)
    assert field in error.get("fields", {}), error


def test_a_decision_record_reads_as_recorded(world, logs):
    # GIVEN a decision record
    record = logs["record"]
    # WHEN engineer A reads it by uid
    body = world.client("engineer_a").get(f"/api/v1/decisions/{record.uid}/").json()
    # THEN the decision, score, reasons and sources are those recorded, with the prediction it decided
    assert body["uid"] == str(record.uid)
    assert (body["decision"], body["score"], body["reasons"]) == ("Declined", 0.82, REASONS)
    assert body["prediction"] == logs["first"].pk
    assert body["request_id"] == str(logs["first"].request_id)
    assert body["explanation_report"] == logs["report"].pk
    assert body["reason_catalogue"] == logs["catalogue"].number
    assert body["statement"] == f"/api/v1/decisions/{record.uid}/statement/"
    # AND an unknown uid or a malformed one is a 404
    client = world.client("engineer_a")
    assert client.get(f"/api/v1/decisions/{uuid.uuid4()}/").status_code == 404
    assert client.get("/api/v1/decisions/not-a-uid/").status_code == 404


def test_the_statement_of_a_record_is_the_recorded_decision_in_html_and_pdf(world, logs):
    # GIVEN a decision record whose second reason has no catalogue sentence
    record = logs["record"]
    client = world.client("engineer_a")
    # WHEN its statement is asked for as HTML
    html = client.get(f"/api/v1/decisions/{record.uid}/statement/")
    # THEN it states the recorded decision, its reasons in plain language and the record's uid as reference
    assert html.status_code == 200
    assert html["Content-Type"].startswith("text/html")
    page = html.content.decode()
    assert "Declined" in page
    assert "Your debt is high." in page
    assert "no plain-language sentence for this reason yet (utilisation raised the score)" in page
    assert str(record.uid) in page
    # WHEN as PDF
    pdf = client.get(f"/api/v1/decisions/{record.uid}/statement/?format=pdf")
    # THEN a PDF with the same text
    assert pdf.status_code == 200
    assert pdf["Content-Type"] == "application/pdf"
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.content)).pages)
    assert "Declined" in text
    assert "Your debt is high." in text
    # AND an unknown format is a 400 naming it
    bad = client.get(f"/api/v1/decisions/{record.uid}/statement/?format=docx")
    assert bad.status_code == 400
    assert "format" in assert_error_shape(bad).get("fields", {})


def test_a_record_without_catalogue_or_report_still_has_its_statement(world, logs):
    # GIVEN a decision recorded with the default rule and no explanation report named
    second = logs["second"]
    (record,) = store_decision_records([(second, Decision("negative", 0.3, [], None, None, False))])
    client = world.client("engineer_a")
    # WHEN it and its statement are read
    body = client.get(f"/api/v1/decisions/{record.uid}/").json()
    statement = client.get(f"/api/v1/decisions/{record.uid}/statement/")
    # THEN they say so plainly
    assert (body["reason_catalogue"], body["explanation_report"]) == (None, None)
    assert statement.status_code == 200
    page = statement.content.decode()
    assert "No single factor pushed the score toward this decision." in page
    assert "the model has no reason catalogue" in page
