"""Decisions of served models (serving.decisions): the same decision and reasons as the explain endpoint, the refusal
of a version without an explanation report, and the decision records written for logged predictions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError

from audits import explainers
from audits.local_explanations import NotExplainable, explain_rows
from serving.decisions import Decision, decide, decision_rule, store_decision_records
from serving.models import DecisionRecord
from tests.audits.explain_factories import make_catalogue, make_explained_model, make_explanation_report
from tests.serving.factories import deploy, make_prediction

pytestmark = pytest.mark.django_db

ROW = {"income": 2.1, "debt": 1.4, "utilisation": 0.9, "age": 61.0}
ENTRIES = [
    {"feature": "debt", "direction": "raises", "text": "Your debt is high."},
    {"feature": "utilisation", "direction": "raises", "text": "Your credit utilisation is high."},
]


@pytest.fixture(autouse=True)
def fresh_explainers() -> Any:
    explainers.CACHE.clear()
    yield
    explainers.CACHE.clear()


def folder() -> Path:
    return Path(settings.ARTIFACT_ROOT).parent / "models"


def explained(cast: Any, *, catalogue: bool = True) -> dict[str, Any]:
    objects = make_explained_model(cast.team_a, cast.engineer_a, folder())
    report = make_explanation_report(
        objects["model_version"], objects["dataset_version"], cast.engineer_a, method="tree_exact"
    )
    found = make_catalogue(objects["model"], ENTRIES, threshold=0.5) if catalogue else None
    return {**objects, "report": report, "catalogue": found}


def test_a_decision_is_what_the_explain_endpoint_says(cast, artifact_root):
    # GIVEN a credit model with an explanation report and a reason catalogue
    objects = explained(cast)
    version = objects["model_version"]
    # WHEN its rule is loaded once and two rows are decided
    rule = decision_rule(version)
    rows = [ROW, {**ROW, "debt": 0.2, "utilisation": 0.05, "income": 4.5}]
    decisions = decide(version, rows, rule=rule)
    # THEN each decision, score and reason list is the explain endpoint's, with what it came from
    answer = explain_rows(version, rows)
    assert rule is not None
    assert rule.catalogue == objects["catalogue"]
    for decision, result in zip(decisions, answer["results"], strict=True):
        assert decision.decision == result["decision"]
        assert decision.score == pytest.approx(result["score"])
        assert decision.reasons == result["reasons"]
        assert decision.positive == result["positive"]
        assert decision.withheld == len(result["withheld"])
        assert decision.explanation_report_id == objects["report"].pk
        assert decision.reason_catalogue_id == objects["catalogue"].pk
    # AND the protected attribute age is never a reason
    assert all(reason["feature"] != "age" for d in decisions for reason in d.reasons)
    assert {d.decision for d in decisions} <= {"Declined", "Approved"}
    assert decisions[0].uid != decisions[1].uid


def test_without_a_catalogue_the_defaults_decide(cast, artifact_root):
    # GIVEN an explained model without a reason catalogue
    version = explained(cast, catalogue=False)["model_version"]
    # WHEN a row is decided
    (decision,) = decide(version, [ROW], rule=decision_rule(version))
    # THEN the default decisions apply and no catalogue is named
    assert decision.decision in ("positive", "negative")
    assert decision.reason_catalogue_id is None
    assert all(reason["text"] is None for reason in decision.reasons)


def test_a_version_without_an_explanation_report_is_refused(cast, artifact_root):
    # GIVEN a credit model version never explained
    version = make_explained_model(cast.team_a, cast.engineer_a, folder())["model_version"]
    # WHEN its rule is loaded and a row is decided
    rule = decision_rule(version)
    # THEN there is no rule, and deciding is refused as the explain endpoint refuses it (409)
    assert rule is None
    with pytest.raises(NotExplainable, match="has no explanation report") as refused:
        decide(version, [ROW], rule=rule)
    assert (refused.value.code, refused.value.status) == ("no_explanation_report", 409)
    assert f"Model version {version.pk} has no explanation report" in refused.value.message


def test_a_model_with_a_string_input_is_refused_for_what_it_is(cast, artifact_root):
    # GIVEN a model whose input is text
    version = make_explained_model(cast.team_a, cast.engineer_a, folder(), kind="string")["model_version"]
    # WHEN a row is decided
    # THEN the refusal names the string input, not a missing report
    assert decision_rule(version) is None
    with pytest.raises(NotExplainable, match="string input") as refused:
        decide(version, [{"region": "north"}], rule=None)
    assert refused.value.code == "string_input"


def test_bad_rows_name_the_row_and_feature(cast, artifact_root):
    # GIVEN an explained model
    version = explained(cast)["model_version"]
    rule = decision_rule(version)
    # WHEN a row lacks a feature and another has text for a number
    with pytest.raises(ValidationError, match="rows") as refused:
        decide(version, [{**ROW, "debt": "high"}, {"income": 1.0, "debt": 1.0, "utilisation": 0.1}], rule=rule)
    # THEN each is named
    assert set(refused.value.message_dict) == {"rows[0].debt", "rows[1].age"}


def test_decision_records_are_written_for_logged_predictions(cast, rw, artifact_root):
    # GIVEN a deployment's logged prediction, and a decision
    deployment = deploy(rw)
    prediction = make_prediction(deployment)
    objects = explained(cast)
    (decision,) = decide(objects["model_version"], [ROW], rule=decision_rule(objects["model_version"]))
    # WHEN the logbook stores its record
    (record,) = store_decision_records([(prediction, decision)])
    # THEN the record is the decision's, under the uid the response named, of the prediction's version
    stored = DecisionRecord.objects.get(uid=decision.uid)
    assert stored.pk == record.pk
    assert stored.prediction == prediction
    assert stored.model_version_id == deployment.model_version_id
    assert (stored.decision, stored.score, stored.reasons) == (decision.decision, decision.score, decision.reasons)
    assert stored.explanation_report_id == objects["report"].pk
    assert stored.reason_catalogue_id == objects["catalogue"].pk
    # AND a prediction has one record at most
    again = Decision("Approved", 0.1, [], objects["report"].pk, None, False)
    with pytest.raises(IntegrityError, match=r"(?i)unique"):
        store_decision_records([(prediction, again)])


def test_an_unsaved_prediction_gets_no_record(cast, rw, artifact_root):
    # GIVEN a prediction not saved
    from serving.models import PredictionLog

    # WHEN its record is stored
    # THEN it is refused, and nothing is written
    with pytest.raises(ValueError, match="saved prediction"):
        store_decision_records([(PredictionLog(), Decision("Approved", 0.1, [], 1, None, False))])
    assert DecisionRecord.objects.count() == 0


def test_another_versions_rule_is_not_used(cast, artifact_root):
    # GIVEN an explained version and a string-input one of the same team
    first = explained(cast)["model_version"]
    second = make_explained_model(cast.team_a, cast.engineer_a, folder(), kind="string")["model_version"]
    # WHEN the second is decided with the first's rule
    # THEN it is refused: a rule is its version's
    with pytest.raises(ValueError, match="is not"):
        decide(second, [ROW], rule=decision_rule(first))
