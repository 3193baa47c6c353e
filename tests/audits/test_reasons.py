"""Reason catalogues (audits.ReasonCatalogue): GET and PUT /models/{id}/reasons/, GET .../reasons/versions/ and
.../versions/{number}/, each tried by each persona of the cast; then the catalogue's rules, and every bad input a 400
naming the field with nothing written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from audits.actions import do_set_reason_catalogue
from audits.models import ReasonCatalogue
from audits.reasons import current_catalogue, model_features
from core.canonical import canonical_digest
from core.choices import AuditEventType
from core.models import AuditEvent
from tests.api_cases import PERSONAS, TEAM_A, ApiCase, World, matrix, run_case
from tests.audits.factories import make_credit
from tests.audits.reason_factories import make_flagged_credit
from tests.registry import factories
from tests.registry.factories import make_model, make_model_version

_empty_cache = factories._empty_cache
artifact_root = factories.artifact_root
world = factories.world

WRITERS = ("superuser", "admin_a", "engineer_a")
READERS = ("superuser", *TEAM_A)
ENTRIES = [
    {"feature": "income", "direction": "raises", "text": "Your income is low relative to the amount requested"},
    {"feature": "income", "direction": "lowers", "text": "Your income is high relative to the amount requested"},
    {"feature": "debt", "direction": "raises", "text": "Your existing debt is high"},
]
CATALOGUE: dict[str, Any] = {
    "entries": ENTRIES,
    "threshold": 0.3,
    "positive_decision": "Declined",
    "negative_decision": "Approved",
    "note": "First catalogue.",
}


def _credit(world: World) -> dict[str, Any]:
    return make_credit(world.cast.team_a, world.cast.engineer_a, Path(settings.ARTIFACT_ROOT).parent / "models")


def _with_catalogue(world: World) -> dict[str, Any]:
    objects = _credit(world)
    catalogue, _ = do_set_reason_catalogue(objects["model"], actor=world.cast.engineer_a, **CATALOGUE)
    return {**objects, "catalogue": catalogue}


def url(model: Any, rest: str = "") -> str:
    return f"/api/v1/models/{model.pk}/reasons/{rest}"


CASES = [
    ApiCase(
        "reasons.current",
        "get",
        lambda w: url(w.model),
        statuses=dict.fromkeys(READERS, 200),
        default=404,
        setup=_with_catalogue,
    ),
    ApiCase(
        "reasons.put",
        "put",
        lambda w: url(w.model),
        data=lambda w: CATALOGUE,
        statuses={**dict.fromkeys(READERS, 403), **dict.fromkeys(WRITERS, 201)},
        default=404,
        setup=_credit,
        event=AuditEventType.REASON_CATALOGUE_SET,
        counted=(ReasonCatalogue,),
    ),
    ApiCase(
        "reasons.versions",
        "get",
        lambda w: url(w.model, "versions/"),
        statuses=dict.fromkeys(READERS, 200),
        default=404,
        setup=_with_catalogue,
        listed=lambda w: w.catalogue.digest,
        visible_to=READERS,
    ),
    ApiCase(
        "reasons.version",
        "get",
        lambda w: url(w.model, "versions/1/"),
        statuses=dict.fromkeys(READERS, 200),
        default=404,
        setup=_with_catalogue,
    ),
]


@pytest.mark.parametrize(("case", "persona"), matrix(CASES, PERSONAS))
def test_matrix(case: ApiCase, persona: str, world: World) -> None:
    run_case(case, persona, world)


def put(world: World, model: Any, body: Any, client: Any = None) -> Any:
    return (client or world.client("engineer_a")).put(url(model), body, format="json")


def events() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(event_type=AuditEventType.REASON_CATALOGUE_SET).order_by("seq"))


def test_a_catalogue_is_versioned_audited_and_unchanged_when_sent_again(world: World) -> None:
    # GIVEN a credit model without a catalogue: reading it is a 404 that says how to write one
    model = _credit(world)["model"]
    client = world.client("engineer_a")
    missing = client.get(url(model))
    assert missing.status_code == 404
    assert missing.json()["error"]["message"] == (
        f"{model} has no reason catalogue yet: PUT /api/v1/models/{model.pk}/reasons/ writes one."
    )
    # WHEN an engineer writes one, naming a feature in another case
    body = {**CATALOGUE, "entries": [{**ENTRIES[2], "feature": "DEBT"}, *ENTRIES[:2]]}
    response = put(world, model, body, client)
    # THEN it is version 1, its features spelled as the model spells them, in the model's feature order
    assert response.status_code == 201, response.content
    first = ReasonCatalogue.objects.get()
    assert first.number == 1
    assert first.entries == ENTRIES
    assert first.digest == canonical_digest(first.body())
    assert response.json()["digest"] == first.digest
    assert response.json()["created_by"] == "erin-engineer"
    (event,) = events()
    assert event.before is None
    assert event.after == {
        "model": str(model),
        "number": 1,
        "digest": first.digest,
        "entries": 3,
        "threshold": 0.3,
        "positive_decision": "Declined",
        "negative_decision": "Approved",
        "changes": {"added": ["income (raises)", "income (lowers)", "debt (raises)"], "removed": [], "reworded": []},
    }
    # WHEN the same catalogue is sent again THEN nothing is written and the one in force comes back (200)
    again = put(world, model, body, client)
    assert again.status_code == 200
    assert again.json()["id"] == first.pk
    assert ReasonCatalogue.objects.count() == 1
    assert len(events()) == 1
    # WHEN a sentence is reworded, one removed and one added THEN version 2 is in force and the event says what changed
    changed = [
        {**ENTRIES[0], "text": "Your income is low for the limit requested"},
        ENTRIES[2],
        {"feature": "debt", "direction": "lowers", "text": "Your existing debt is low"},
    ]
    response = put(world, model, {**CATALOGUE, "entries": changed, "note": "Reworded income."}, client)
    assert response.status_code == 201, response.content
    second = current_catalogue(model)
    assert second is not None
    assert second.number == 2
    last = events()[-1]
    assert last.before == {"number": 1, "digest": first.digest}
    assert last.after is not None
    assert last.after["changes"] == {
        "added": ["debt (lowers)"],
        "removed": ["income (lowers)"],
        "reworded": ["income (raises)"],
    }
    # AND the catalogue in force, the versions and each version read back
    assert client.get(url(model)).json()["number"] == 2
    listed = client.get(url(model, "versions/")).json()
    assert [row["number"] for row in listed["results"]] == [2, 1]
    assert client.get(url(model, "versions/1/")).json()["entries"] == ENTRIES
    assert client.get(url(model, "versions/3/")).status_code == 404


def test_another_teams_model_is_a_404_for_reading_and_writing(world: World) -> None:
    objects = _with_catalogue(world)
    client = world.client("engineer_b")
    before = (ReasonCatalogue.objects.count(), AuditEvent.objects.count())
    assert client.get(url(objects["model"])).status_code == 404
    assert put(world, objects["model"], {**CATALOGUE, "note": "mine"}, client).status_code == 404
    assert (ReasonCatalogue.objects.count(), AuditEvent.objects.count()) == before


LONG = "x" * 301


@pytest.mark.parametrize(
    ("change", "field", "says"),
    [
        ({"entries": {"income": "high"}}, "entries", "A list of entries"),
        ({"entries": [ENTRIES[0]] * 501}, "entries", "At most 500 entries"),
        ({"entries": ["income"]}, "entries[0]", "An object with exactly feature, direction and text"),
        ({"entries": [{"feature": "income", "direction": "raises"}]}, "entries[0].text", "required"),
        ({"entries": [{**ENTRIES[0], "weight": 2}]}, "entries[0].weight", "Unknown field"),
        (
            {"entries": [ENTRIES[0], {**ENTRIES[2], "feature": "salary"}]},
            "entries[1].feature",
            "'salary' is not a feature",
        ),
        ({"entries": [{**ENTRIES[0], "feature": 7}]}, "entries[0].feature", "7 is not a feature"),
        ({"entries": [{**ENTRIES[0], "direction": "up"}]}, "entries[0].direction", "one of raises, lowers"),
        ({"entries": [{**ENTRIES[0], "text": "  "}]}, "entries[0].text", "a non-empty string"),
        ({"entries": [{**ENTRIES[0], "text": LONG}]}, "entries[0].text", "at most 300 characters"),
        ({"entries": [{**ENTRIES[0], "text": "Your income\nis low"}]}, "entries[0].text", "a single line"),
        ({"entries": [{**ENTRIES[0], "text": "<b>Income</b> is low"}]}, "entries[0].text", "no HTML"),
        (
            {"entries": [ENTRIES[0], {**ENTRIES[0], "feature": "Income", "text": "Low income"}]},
            "entries[1].direction",
            "entries[0] already gives 'income' a 'raises' sentence",
        ),
        ({"threshold": 1.5}, "threshold", "from 0 to 1"),
        ({"threshold": -0.1}, "threshold", "from 0 to 1"),
        ({"threshold": "high"}, "threshold", "valid number"),
        ({"positive_decision": ""}, "positive_decision", ""),
        ({"negative_decision": "x" * 201}, "negative_decision", "200"),
        ({"negative_decision": "Approved\nwith conditions"}, "negative_decision", "a single line"),
        ({"note": "n" * 4001}, "note", "4000"),
        ({"surprise": 1}, "surprise", "Unknown field"),
    ],
)
def test_bad_catalogues_are_refused_naming_the_field(
    world: World, change: dict[str, Any], field: str, says: str
) -> None:
    model = _credit(world)["model"]
    client = world.client("engineer_a")  # its token is an event: made before counting
    before = (ReasonCatalogue.objects.count(), AuditEvent.objects.count())
    response = put(world, model, {**CATALOGUE, **change}, client)
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert field in error.get("fields", {}), error
    assert says in str(error["fields"][field]), error
    assert (ReasonCatalogue.objects.count(), AuditEvent.objects.count()) == before


def test_a_model_without_a_version_has_no_features_to_give_reasons_for(world: World) -> None:
    model = make_model(world.cast.team_a, world.cast.engineer_a, name="Unversioned scorer")
    client = world.client("engineer_a")
    before = AuditEvent.objects.count()
    response = put(world, model, CATALOGUE, client)
    assert response.status_code == 400
    assert response.json()["error"]["fields"]["model"] == [
        "Unversioned scorer has no version yet: register one, then write the reasons for its features."
    ]
    assert (ReasonCatalogue.objects.count(), AuditEvent.objects.count()) == (0, before)


def test_a_protected_column_is_never_a_reason_and_the_refusal_says_why(world: World) -> None:
    # GIVEN a model trained on a dataset version whose schema flags its "debt" input as special-category data
    model = make_flagged_credit(world.cast.team_a, world.cast.engineer_a, Path(settings.ARTIFACT_ROOT).parent / "m")
    assert model_features(model) == ["income", "debt"]
    client = world.client("engineer_a")
    before = AuditEvent.objects.count()
    # WHEN an engineer gives "debt" a sentence
    response = put(world, model, CATALOGUE, client)
    # THEN it is refused on that entry, saying why; nothing is written
    assert response.status_code == 400, response.content
    (message,) = response.json()["error"]["fields"]["entries[2].feature"]
    assert message.startswith("'debt' is never given as a reason: it is special-category data in Flagged applications")
    assert (ReasonCatalogue.objects.count(), AuditEvent.objects.count()) == (0, before)
    # AND without it the catalogue is accepted
    assert put(world, model, {**CATALOGUE, "entries": ENTRIES[:2]}, client).status_code == 201


def test_a_model_whose_versions_name_no_features_is_refused_saying_how_to_name_them(world: World) -> None:
    from tests.governance.factories import write_onnx

    model = make_model(world.cast.team_a, world.cast.engineer_a, name="Unnamed inputs")
    folder = Path(settings.ARTIFACT_ROOT).parent / "models"
    folder.mkdir(parents=True, exist_ok=True)
    make_model_version(model, world.cast.engineer_a, write_onnx(folder / "add.onnx"))
    response = put(world, model, CATALOGUE)
    assert response.status_code == 400
    (message,) = response.json()["error"]["fields"]["model"]
    assert "needs the ONNX metadata property 'features'" in message
    assert ReasonCatalogue.objects.count() == 0


# --- The model page's panel and the edit form (the browser test: tests/browser/test_reason_pages.py) -------------


def page_client(user: Any) -> Any:
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client


def test_readers_see_the_catalogue_and_only_the_teams_engineers_may_edit_it(world: World) -> None:
    objects = _with_catalogue(world)
    model, cast = objects["model"], world.cast
    # GIVEN a compliance officer of the team: the catalogue in force and its gaps, no edit button, the form refused
    page = page_client(cast.compliance).get(f"/models/{model.pk}/").content.decode()
    assert "Version 1 in force, set by erin-engineer" in page
    assert "Your existing debt is high" in page
    assert page.count("no reason text") == 1  # debt has no "lowers" sentence
    assert 'id="edit-reasons"' not in page
    assert page_client(cast.compliance).get(f"/models/{model.pk}/reasons/edit/").status_code == 403
    # AND another team's engineer finds neither the page nor the form
    assert page_client(cast.engineer_b).get(f"/models/{model.pk}/reasons/edit/").status_code == 404
    assert page_client(cast.engineer_b).post(f"/models/{model.pk}/reasons/edit/", {}).status_code == 404
    # WHEN the team's engineer saves the form unchanged THEN no version is written
    engineer = page_client(cast.engineer_a)
    form = engineer.get(f"/models/{model.pk}/reasons/edit/")
    assert form.status_code == 200
    fields = {
        "text_0_raises": ENTRIES[0]["text"],
        "text_0_lowers": ENTRIES[1]["text"],
        "text_1_raises": ENTRIES[2]["text"],
        "text_1_lowers": "",
        "threshold": "0.3",
        "positive_decision": "Declined",
        "negative_decision": "Approved",
        "note": "First catalogue.",
    }
    assert engineer.post(f"/models/{model.pk}/reasons/edit/", fields).status_code == 302
    assert ReasonCatalogue.objects.count() == 1
    # AND a threshold out of range is refused on its field
    refused = engineer.post(f"/models/{model.pk}/reasons/edit/", {**fields, "threshold": "2"})
    assert refused.status_code == 400
    assert 'id="id_threshold_error">The score that splits the two decisions' in refused.content.decode()
    assert ReasonCatalogue.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_editors_at_once_get_consecutive_versions(cast: Any, artifact_root: Any) -> None:
    from tests.core.test_api_concurrency import race

    # GIVEN a model with a catalogue, and two engineers each rewording it
    model = make_credit(cast.team_a, cast.engineer_a, Path(settings.ARTIFACT_ROOT).parent / "models")["model"]
    do_set_reason_catalogue(model, actor=cast.engineer_a, **CATALOGUE)

    def reword(text: str) -> Any:
        entries = [{**ENTRIES[0], "text": text}, *ENTRIES[1:]]
        return do_set_reason_catalogue(model, actor=cast.admin_a, **{**CATALOGUE, "entries": entries})

    # WHEN both save at the same moment
    results = race([lambda: reword("Your income is low"), lambda: reword("Your income is below what we lend on")])
    # THEN both are written, numbered 2 and 3 under the lock on the model, each audited
    assert all(isinstance(result, tuple) and result[1] for result in results), results
    assert sorted(catalogue.number for catalogue, _ in results) == [2, 3]
    assert AuditEvent.objects.filter(event_type=AuditEventType.REASON_CATALOGUE_SET).count() == 3
