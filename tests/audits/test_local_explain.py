"""POST /api/v1/model-versions/{id}/explain and .../statement: local explanations on the decision path.

GIVEN credit models registered as versions (a boosted tree, a scaled logistic regression) and explanation reports
registered as the job would (tests/audits/explain_factories.py), the API explains rows with the report's background,
its SHAP values add up to the model's output, the reasons follow the catalogue and never name a protected attribute,
and every bad input is a precise 4xx. Also the explainer cache (audits.explainers) and the reasons' ranking.
"""

from __future__ import annotations

import io
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.conf import settings
from pypdf import PdfReader

from audits import explainers
from audits.explainers import ExplainerCache, LocalExplainer, local_explainer
from audits.local_explanations import NO_TEXT, rank_reasons, value_problem
from audits.pipelines.explain import ADDITIVITY
from core.checks import check_validation_limits
from core.refusals import Busy
from tests.api_cases import TEAM_A, ApiCase, World, matrix, run_case
from tests.audits.explain_factories import (
    FEATURES,
    credit_data,
    make_catalogue,
    make_explained_model,
    make_explanation_report,
)
from tests.registry import factories

_empty_cache = factories._empty_cache
artifact_root = factories.artifact_root
world = factories.world

READERS = ("superuser", *TEAM_A)
ROW = {"income": 2.1, "debt": 1.4, "utilisation": 0.9, "age": 61.0}


@pytest.fixture(autouse=True)
def fresh_explainers() -> Any:
    explainers.CACHE.clear()
    yield
    explainers.CACHE.clear()


def folder() -> Path:
    return Path(settings.ARTIFACT_ROOT).parent / "models"


def explained(
    world: World, kind: str = "tree", method: str = "tree_exact", output_space: str = "probability"
) -> dict[str, Any]:
    objects = make_explained_model(world.cast.team_a, world.cast.engineer_a, folder(), kind=kind)
    report = make_explanation_report(
        objects["model_version"],
        objects["dataset_version"],
        world.cast.engineer_a,
        method=method,
        output_space=output_space,
    )
    return {**objects, "report": report}


CASES = [
    ApiCase(
        "model_versions.explain",
        "post",
        lambda w: f"/api/v1/model-versions/{w.model_version.pk}/explain/",
        data=lambda w: {"rows": [ROW]},
        statuses=dict.fromkeys(READERS, 200),
        default=404,
        setup=explained,
    ),
    ApiCase(
        "model_versions.statement",
        "post",
        lambda w: f"/api/v1/model-versions/{w.model_version.pk}/statement/",
        data=lambda w: {"row": ROW, "reference": "application 123"},
        statuses=dict.fromkeys(READERS, 200),
        default=404,
        setup=explained,
    ),
]


@pytest.mark.parametrize(("case", "persona"), matrix(CASES))
def test_matrix(case: ApiCase, persona: str, world: World) -> None:
    run_case(case, persona, world)


def explain(world: World, version: Any, body: Any, persona: str = "engineer_a") -> Any:
    return world.client(persona).post(f"/api/v1/model-versions/{version.pk}/explain/", body, format="json")


# --- the figures ---------------------------------------------------------------------------------------------------


def test_a_tree_models_shap_values_add_up_to_its_probability(world: World) -> None:
    # GIVEN a boosted tree with an explanation report and a catalogue
    objects = explained(world)
    catalogue = make_catalogue(
        objects["model"],
        [
            {"feature": "utilisation", "direction": "raises", "text": "Credit utilisation is high"},
            {"feature": "income", "direction": "lowers", "text": "Income is high"},
        ],
    )
    x, _ = credit_data(5, seed=9)
    rows = [dict(zip(FEATURES, map(float, row), strict=True)) for row in x]
    # WHEN the rows are explained
    response = explain(world, objects["model_version"], {"rows": rows, "top": 3})
    assert response.status_code == 200, response.content
    body = response.json()
    # THEN each row's base + sum(SHAP) is its probability, within the stated tolerance
    assert body["explainer"]["method"] == "tree_exact"
    assert body["explainer"]["report"] == {"id": objects["report"].pk, "digest": objects["report"].digest}
    assert body["explainer"]["background"] == {"dataset_version": objects["dataset_version"].pk, "rows": 60, "seed": 3}
    assert body["catalogue"]["number"] == catalogue.number
    assert body["catalogue"]["digest"] == catalogue.digest
    assert len(body["results"]) == 5
    for result in body["results"]:
        assert result["output_space"] == "probability"
        assert result["output"] == pytest.approx(result["score"], abs=1e-6)
        total = result["base_value"] + sum(result["shap"].values())
        assert abs(total - result["output"]) == pytest.approx(result["additivity_error"], abs=1e-9)
        assert result["additivity_error"] < result["tolerance"] == ADDITIVITY
        # AND the decision follows the catalogue's threshold, its reasons push toward it, never the protected age
        assert result["decision"] == ("Declined" if result["score"] >= 0.5 else "Approved")
        sign = 1 if result["positive"] else -1
        assert all(sign * reason["shap"] > 0 for reason in result["reasons"])
        assert len(result["reasons"]) <= 3
        assert "age" not in {reason["feature"] for reason in result["reasons"]}
        for reason in result["reasons"]:
            if (reason["feature"], reason["direction"]) == ("utilisation", "raises"):
                assert reason["text"] == "Credit utilisation is high"
            elif (reason["feature"], reason["direction"]) != ("income", "lowers"):
                assert reason["text"] is None
                assert reason["note"] == NO_TEXT
    pushing_age = [r for r in body["results"] if (1 if r["positive"] else -1) * r["shap"]["age"] > 0]
    assert pushing_age, "the data make age push some decision"
    for result in pushing_age:
        assert [w["feature"] for w in result["withheld"]] == ["age"]
        assert "a protected attribute" in result["withheld"][0]["why"]


def test_a_logistic_models_shap_values_add_up_to_its_log_odds(world: World) -> None:
    objects = explained(world, kind="logistic", method="linear", output_space="log_odds")
    response = explain(world, objects["model_version"], {"rows": [ROW, {**ROW, "income": 5.0}]})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["explainer"]["method"] == "linear"
    assert body["catalogue"]["number"] is None
    assert "no reason catalogue" in body["catalogue"]["note"]
    for result in body["results"]:
        assert result["output_space"] == "log_odds"
        assert 1 / (1 + np.exp(-result["output"])) == pytest.approx(result["score"], abs=1e-6)
        assert result["base_value"] + sum(result["shap"].values()) == pytest.approx(result["output"], abs=ADDITIVITY)
        assert result["decision"] in ("positive", "negative")
        assert all(reason["text"] is None for reason in result["reasons"])


# --- bad input -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("row", "field", "words"),
    [
        ({"income": 1.0, "debt": 1.0, "utilisation": 0.5}, "rows[0].age", "is missing"),
        ({**ROW, "shoe_size": 43}, "rows[0].shoe_size", "is not a feature"),
        ({**ROW, "income": "high"}, "rows[0].income", "not text"),
        ({**ROW, "income": True}, "rows[0].income", "not true/false"),
        ({**ROW, "debt": {"value": 1}}, "rows[0].debt", "not an object"),
        ({**ROW, "debt": 1e39}, "rows[0].debt", "beyond the range of the model's float32 input"),
        ("not a row", "rows[0]", "must be an object"),
    ],
)
def test_a_bad_row_is_a_400_naming_the_row_and_feature(world: World, row: Any, field: str, words: str) -> None:
    objects = explained(world)
    response = explain(world, objects["model_version"], {"rows": [ROW, row][1:]})
    assert response.status_code == 400, response.content
    fields = response.json()["error"]["fields"]
    assert field in fields, fields
    assert words in fields[field][0]


def test_null_is_a_missing_value_explained_when_the_model_scores_it(world: World) -> None:
    # A tree ensemble routes a missing value by its default direction: explained, the value echoed as null.
    objects = explained(world)
    response = explain(world, objects["model_version"], {"rows": [{**ROW, "utilisation": None}]})
    assert response.status_code == 200, response.content
    result = response.json()["results"][0]
    assert result["additivity_error"] < ADDITIVITY


def test_null_is_a_400_when_the_model_gives_no_score_for_it(world: World) -> None:
    # The logistic model returns NaN for a missing input: nothing to explain, the missing feature named.
    objects = explained(world, kind="logistic", method="linear", output_space="log_odds")
    response = explain(world, objects["model_version"], {"rows": [ROW, {**ROW, "debt": None}]})
    assert response.status_code == 400, response.content
    fields = response.json()["error"]["fields"]
    assert list(fields) == ["rows[1].debt"]
    assert "no score" in fields["rows[1].debt"][0]


def test_too_many_rows_is_a_413_with_the_limit(world: World, settings: Any) -> None:
    settings.EXPLAIN_MAX_ROWS = 3
    objects = explained(world)
    response = explain(world, objects["model_version"], {"rows": [ROW] * 4})
    assert response.status_code == 413, response.content
    assert response.json()["error"]["code"] == "too_many_rows"
    assert "the limit is 3" in response.json()["error"]["message"]


def test_a_body_over_the_limit_is_a_413(world: World, settings: Any) -> None:
    objects = explained(world)
    rows = [ROW] * (settings.MAX_REQUEST_BODY_BYTES // 60)
    response = explain(world, objects["model_version"], {"rows": rows})
    assert response.status_code == 413


def test_the_path_without_its_trailing_slash_answers_the_same(world: World) -> None:
    objects = explained(world)
    response = world.client("engineer_a").post(
        f"/api/v1/model-versions/{objects['model_version'].pk}/explain", {"rows": [ROW]}, format="json"
    )
    assert response.status_code == 200, response.content


def test_another_teams_version_is_a_404(world: World) -> None:
    objects = explained(world)
    response = explain(world, objects["model_version"], {"rows": [ROW]}, persona="engineer_b")
    assert response.status_code == 404


def test_a_version_without_an_explanation_report_is_a_409_naming_the_fix(world: World) -> None:
    objects = make_explained_model(world.cast.team_a, world.cast.engineer_a, folder())
    response = explain(world, objects["model_version"], {"rows": [ROW]})
    assert response.status_code == 409, response.content
    error = response.json()["error"]
    assert error["code"] == "no_explanation_report"
    assert "request an explanation audit of this version first" in error["message"]
    assert "/api/v1/audits/explanation/" in error["message"]


def test_a_report_of_another_artifact_does_not_count(world: World) -> None:
    # A report's background whose columns are not the model's is refused as it is read.
    objects = make_explained_model(world.cast.team_a, world.cast.engineer_a, folder())
    make_explanation_report(
        objects["model_version"],
        objects["dataset_version"],
        world.cast.engineer_a,
        method="tree_exact",
        features=["income", "debt", "utilisation", "height"],
    )
    response = explain(world, objects["model_version"], {"rows": [ROW]})
    assert response.status_code == 409, response.content
    assert "background columns" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("kind", "code", "words"), [("multiclass", "no_single_score", "3 columns"), ("string", "string_input", "region")]
)
def test_a_model_without_one_numeric_score_is_a_409_saying_which(
    world: World, kind: str, code: str, words: str
) -> None:
    objects = make_explained_model(world.cast.team_a, world.cast.engineer_a, folder(), kind=kind)
    response = explain(world, objects["model_version"], {"rows": [ROW]})
    assert response.status_code == 409, response.content
    error = response.json()["error"]
    assert error["code"] == code, error
    assert words in error["message"], error


def test_value_problems_of_every_input_type() -> None:
    assert value_problem(float("nan"), "float64") == "must be a finite number"
    assert value_problem(float("inf"), "float32") == "must be a finite number"
    assert value_problem(1e300, "float64") is None
    assert "whole number" in (value_problem(1.5, "int64") or "")
    assert value_problem(3.0, "int64") is None
    assert "beyond" in (value_problem(300, "int8") or "")
    assert "0 or 1" in (value_problem(2, "bool") or "")
    assert value_problem(None, "float32") is None
    assert value_problem(10**400, "float64") == "must be a finite number"


# --- reasons -------------------------------------------------------------------------------------------------------


def test_reasons_are_the_features_pushing_toward_the_decision_made_largest_first() -> None:
    features = ["income", "debt", "utilisation", "age", "tenure"]
    values = [2.0, 1.0, 0.9, 61.0, float("nan")]
    shap_values = [-0.30, 0.10, 0.25, 0.40, 0.10]
    entries = [
        {"feature": "Utilisation", "direction": "raises", "text": "Credit utilisation is high"},
        {"feature": "income", "direction": "lowers", "text": "Income is high"},
    ]
    sensitive = {"age": "a protected attribute in applications v1"}
    # A positive decision: the positive SHAP values, largest first, age withheld, ties in feature order
    reasons, withheld = rank_reasons(
        features, values, shap_values, positive=True, entries=entries, sensitive=sensitive, top=2
    )
    assert [r["feature"] for r in reasons] == ["utilisation", "debt"]
    assert reasons[0]["text"] == "Credit utilisation is high"
    assert reasons[0]["direction"] == "raises"
    assert reasons[1]["text"] is None
    assert reasons[1]["note"] == NO_TEXT
    assert withheld == [
        {"feature": "age", "shap": 0.40, "why": "never a reason: a protected attribute in applications v1"}
    ]
    # A negative decision: the negative ones only
    reasons, withheld = rank_reasons(
        features, values, shap_values, positive=False, entries=entries, sensitive=sensitive, top=4
    )
    assert [(r["feature"], r["text"], r["value"]) for r in reasons] == [("income", "Income is high", 2.0)]
    assert withheld == []
    # A missing value is echoed as None
    reasons, _ = rank_reasons(features, values, shap_values, positive=True, entries=[], sensitive={}, top=5)
    assert reasons[-1]["feature"] == "tenure"
    assert reasons[-1]["value"] is None


# --- the cache -----------------------------------------------------------------------------------------------------


def test_the_explainer_is_built_once_per_version_and_report_and_a_newer_report_replaces_it(world: World) -> None:
    objects = explained(world)
    version = objects["model_version"]
    cache = ExplainerCache(4)
    first = local_explainer(version, objects["report"], FEATURES, cache=cache)
    again = local_explainer(version, objects["report"], FEATURES, cache=cache)
    assert again is first
    assert cache.builds == 1
    # WHEN a newer explanation report is registered (another background)
    newer = make_explanation_report(
        version, objects["dataset_version"], world.cast.engineer_a, method="tree_exact", seed=11
    )
    rebuilt = local_explainer(version, newer, FEATURES, cache=cache)
    # THEN the next explainer is built from it
    assert cache.builds == 2
    assert rebuilt is not first
    assert (rebuilt.report_id, rebuilt.background["seed"]) == (newer.pk, 11)
    # AND the API uses the newest report
    response = explain(world, version, {"rows": [ROW]})
    assert response.json()["explainer"]["report"]["id"] == newer.pk


def test_concurrent_first_requests_build_once() -> None:
    cache = ExplainerCache(2)
    calls: list[int] = []
    built = LocalExplainer(1, "a" * 64, 1, "b" * 64, {}, explainer=None)  # type: ignore[arg-type]

    def build() -> LocalExplainer:
        calls.append(1)
        time.sleep(0.3)
        return built

    got: list[LocalExplainer] = []
    threads = [
        threading.Thread(target=lambda: got.append(cache.get((1, "a", "b"), lambda: build, wait=5))) for _ in range(6)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1
    assert got == [built] * 6


def test_a_slow_build_answers_busy_within_the_wait_and_lands_in_the_cache() -> None:
    cache = ExplainerCache(2)
    built = LocalExplainer(1, "a" * 64, 1, "b" * 64, {}, explainer=None)  # type: ignore[arg-type]
    release = threading.Event()

    def build() -> LocalExplainer:
        release.wait(5)
        return built

    started = time.monotonic()
    with pytest.raises(Busy, match="being built") as busy:
        cache.get((1, "a", "b"), lambda: build, wait=0.2)
    assert time.monotonic() - started < 1
    assert busy.value.retry_after == explainers.RETRY_AFTER_SECONDS
    release.set()
    assert cache.get((1, "a", "b"), lambda: build, wait=5) is built
    assert cache.builds == 1


def test_the_cache_is_bounded_and_a_failed_build_is_retried() -> None:
    cache = ExplainerCache(2)
    made = LocalExplainer(1, "a" * 64, 1, "b" * 64, {}, explainer=None)  # type: ignore[arg-type]
    for key in range(3):
        cache.get((key, "a", "b"), lambda: lambda: made, wait=5)
    assert list(cache.entries) == [(1, "a", "b"), (2, "a", "b")]

    def fail() -> LocalExplainer:
        raise ValueError("no")

    with pytest.raises(ValueError, match="no"):
        cache.get((9, "a", "b"), lambda: fail, wait=5)
    assert cache.get((9, "a", "b"), lambda: lambda: made, wait=5) is made


def test_a_build_wait_the_web_timeout_cannot_hold_is_a_system_check_error(settings: Any) -> None:
    settings.WEB_TIMEOUT_SECONDS = 30
    settings.EXPLAIN_BUILD_WAIT_SECONDS = 20
    settings.ARTIFACT_VALIDATION_SECONDS = 15
    errors = {error.id: error.msg for error in check_validation_limits(None)}
    assert set(errors) == {"assay.E012"}
    assert "EXPLAIN_BUILD_WAIT_SECONDS (20)" in errors["assay.E012"]


def test_warming_up_compiles_the_permutation_explainer() -> None:
    assert explainers.warm_up() > 0
    assert explainers.warm_up() < 2  # compiled once per process


# --- the statement -------------------------------------------------------------------------------------------------


def test_the_statement_as_html_and_pdf_gives_the_decision_and_plain_reasons(world: World) -> None:
    objects = explained(world)
    make_catalogue(
        objects["model"],
        [
            {"feature": "utilisation", "direction": "raises", "text": "Credit utilisation is high"},
            {"feature": "debt", "direction": "raises", "text": "Existing debt is high"},
        ],
        note="first",
    )
    url = f"/api/v1/model-versions/{objects['model_version'].pk}/statement/"
    body = {"row": ROW, "reference": "application 123"}
    client = world.client("engineer_a")
    html = client.post(url, body, format="json")
    assert html.status_code == 200, html.content
    assert html["Content-Type"].startswith("text/html")
    page = html.content.decode()
    assert "Statement of reasons" in page
    assert "application 123" in page
    assert "Credit utilisation is high" in page
    assert "version 1" in page
    assert objects["model_version"].artifact_sha256[:12] in page
    assert ">age<" not in page
    assert "Age" not in page
    pdf = client.post(url + "?format=pdf", body, format="json")
    assert pdf.status_code == 200, pdf.content[:300]
    assert pdf["Content-Type"] == "application/pdf"
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.content)).pages)
    assert "Statement of reasons" in text
    assert "application 123" in text
    assert "Credit utilisation is high" in text
    assert "Declined" in text or "Approved" in text
    # A bad row is the same 400 as for explain; a bad format is named
    bad = client.post(url, {"row": {**ROW, "income": "x"}}, format="json")
    assert bad.status_code == 400
    assert "row[0].income" in bad.json()["error"]["fields"]
    assert client.post(url + "?format=docx", body, format="json").status_code == 400
