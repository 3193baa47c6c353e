"""The registry's pages for compliance officers, through Django's test client: who sees which page, what each page
states (versions, contract, metrics, status history, schema markers, evolution report, KPIs, audit trail), the
filters, and that list pages cost the same number of queries whatever the number of rows.

The data is made by the registry's actions, with real ONNX files (the ``models`` fixture of conftest.py)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from django.db import connection, transaction
from django.db.models import Q
from django.test import Client
from django.test.utils import CaptureQueriesContext

from core.models import AuditEvent
from registry import actions
from registry.views import shared
from tests.registry.factories import (
    SCHEMA,
    make_dataset,
    make_dataset_version,
    make_model,
    make_model_version,
    make_use_case,
)

# The second version of the "Customers" dataset: one column added (compatible), one type narrowed (breaking), a
# protection removed (needs review), and columns carrying each of the privacy markers.
SCHEMA_V2: dict[str, Any] = {
    "columns": [
        {"name": "customer_id", "type": "int64", "nullable": False},
        {"name": "age", "type": "int32", "nullable": True, "personal_data": True},
        {"name": "income", "type": "float32", "nullable": True, "personal_data": True},
        {"name": "churned", "type": "boolean", "nullable": False},
        {"name": "region", "type": "string", "nullable": True, "description": "Sales region"},
        {
            "name": "health_condition",
            "type": "string",
            "nullable": True,
            "personal_data": True,
            "special_category": True,
        },
        {
            "name": "ethnicity",
            "type": "string",
            "nullable": True,
            "personal_data": True,
            "special_category": True,
            "protected_attribute": True,
            "prohibited_input": True,
        },
    ]
}


@dataclass
class RegistryWorld:
    use_case: Any
    high_risk: Any
    dataset: Any
    v1: Any
    v2: Any
    model: Any
    mv1: Any
    mv2: Any
    bare_model: Any
    b_use_case: Any
    b_dataset: Any
    b_model: Any


def build_registry(cast: Any, onnx_path: Path) -> RegistryWorld:
    """Team A: a use case with KPI observations, a dataset with a breaking second version, a model with two real
    ONNX versions (one deployed) and a model without versions. Team B: one of each, never visible to team A."""
    engineer, compliance = cast.engineer_a, cast.compliance
    use_case = make_use_case(
        cast.team_a,
        engineer,
        kpis=[
            {"name": "churn_rate", "unit": "%", "baseline": 12.0, "target": 9.0, "description": "Monthly churn."},
            {"name": "retained_revenue", "unit": "kEUR", "baseline": 0.0, "target": 500.0},
        ],
    )
    start = datetime(2026, 6, 1, tzinfo=UTC)
    for month, value in enumerate([12.1, 11.4, 10.2, 8.8]):
        actions.do_record_kpi_observation(
            use_case,
            actor=engineer,
            kpi="churn_rate",
            value=value,
            observed_at=start + timedelta(days=30 * month),
            note="after v1 went live" if month == 2 else "",
        )
    high_risk = make_use_case(
        cast.team_a, engineer, name="Credit pre-screening", risk_tier="high", decision_mode="automated"
    )
    dataset = make_dataset(cast.team_a, engineer)
    v1 = make_dataset_version(dataset, engineer, row_count=120_000)
    v2 = make_dataset_version(dataset, engineer, schema=SCHEMA_V2, row_count=130_500, allow_breaking_change=True)
    model = make_model(cast.team_a, engineer, use_case=use_case)
    mv1 = make_model_version(model, engineer, onnx_path, dataset_versions=[v1.pk])
    mv1 = actions.do_change_version_status(
        mv1, actor=engineer, to_status="in_review", reason="Ready for the model risk board."
    )
    # What the release path records when the board's quorum signs and the gate lets a release through.
    with transaction.atomic():
        mv1 = actions.record_release_transition(
            mv1, actor=compliance, to_status="approved", reason="Fairness checks passed on age bands."
        )
        mv1 = actions.record_release_transition(
            mv1, actor=engineer, to_status="deployed", reason="Rolled out to the retention tool."
        )
    mv2 = make_model_version(
        model,
        engineer,
        onnx_path,
        dataset_versions=[v2.pk],
        metrics={"auc": 0.934, "test": {"f1": 0.81, "recall": 0.77}},
        training_params={"C": 0.5, "penalty": "l2", "classes": [0, 1]},
    )
    mv2 = actions.do_change_version_status(mv2, actor=engineer, to_status="in_review", reason="Retrained on v2.")
    bare_model = make_model(cast.team_a, engineer, name="Fraud screen", tags=["fraud"], use_case=high_risk)
    b_use_case = make_use_case(cast.team_b, cast.engineer_b, name="Ledger anomalies", owner=cast.engineer_b)
    b_dataset = make_dataset(cast.team_b, cast.engineer_b, name="Ledger", owner=cast.engineer_b)
    make_dataset_version(b_dataset, cast.engineer_b)
    b_model = make_model(cast.team_b, cast.engineer_b, name="Ledger scorer", owner=cast.engineer_b, tags=["churn"])
    return RegistryWorld(
        use_case, high_risk, dataset, v1, v2, model, mv1, mv2, bare_model, b_use_case, b_dataset, b_model
    )


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def text(response: Any) -> str:
    """The page's visible text, tags dropped and whitespace folded, for assertions that read like the page."""
    body = response.content.decode()
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", body, flags=re.S)
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", body)).split())


def row_of(response: Any, marker: str) -> str:
    """The text of the table row whose opening tag carries ``marker`` (a data attribute)."""
    body = response.content.decode()
    match = re.search(rf"<tr[^>]*{re.escape(marker)}[^>]*>(.*?)</tr>", body, flags=re.S)
    assert match is not None, f"no row with {marker}"
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", match.group(1))).split())


@pytest.fixture
def world(cast: Any, models: Any, artifact_root: Path) -> RegistryWorld:
    return build_registry(cast, models.logistic)


@pytest.fixture
def artifact_root(settings: Any, tmp_path: Path) -> Path:
    settings.ARTIFACT_ROOT = tmp_path / "artifacts"
    return Path(settings.ARTIFACT_ROOT)


def team_a_pages(w: RegistryWorld) -> list[str]:
    return [
        f"/models/{w.model.pk}/",
        f"/models/{w.model.pk}/versions/1/",
        f"/models/{w.model.pk}/versions/2/",
        f"/models/{w.bare_model.pk}/",
        f"/datasets/{w.dataset.pk}/",
        f"/datasets/{w.dataset.pk}/versions/1/",
        f"/datasets/{w.dataset.pk}/versions/2/",
        f"/use-cases/{w.use_case.pk}/",
        f"/use-cases/{w.high_risk.pk}/",
    ]


# --- Who sees what ------------------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/models/", "/models/1/", "/models/1/versions/1/", "/datasets/", "/datasets/1/",
                                  "/datasets/1/versions/1/", "/use-cases/", "/use-cases/1/"])  # fmt: skip
def test_anonymous_is_sent_to_login(client: Client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"] == f"/login/?next={path}"


def test_every_persona_reads_its_teams_registry_and_nothing_else(cast: Any, world: RegistryWorld) -> None:
    b_pages = [f"/models/{world.b_model.pk}/", f"/datasets/{world.b_dataset.pk}/", f"/use-cases/{world.b_use_case.pk}/"]
    for name, user in cast.all().items():
        client = client_for(user)
        in_team_a = name != "engineer_b"
        for path in team_a_pages(world):
            assert client.get(path).status_code == (200 if in_team_a else 404), (name, path)
        for path in b_pages:
            # Out of scope reads exactly like missing: the superuser alone sees both teams.
            assert client.get(path).status_code == (200 if name in ("superuser", "engineer_b") else 404), (name, path)
        models = text(client.get("/models/"))
        datasets = text(client.get("/datasets/"))
        use_cases = text(client.get("/use-cases/"))
        assert ("Churn scorer" in models) is in_team_a
        assert ("Ledger scorer" in models) is (name in ("superuser", "engineer_b"))
        assert ("Customers" in datasets) is in_team_a
        assert ("Ledger" in datasets) is (name in ("superuser", "engineer_b"))
        assert ("Churn prevention" in use_cases) is in_team_a
        assert ("Ledger anomalies" in use_cases) is (name in ("superuser", "engineer_b"))


def test_missing_objects_and_versions_are_404(cast: Any, world: RegistryWorld) -> None:
    client = client_for(cast.compliance)
    for path in [
        "/models/999999/",
        f"/models/{world.model.pk}/versions/3/",
        f"/models/{world.bare_model.pk}/versions/1/",
        # Another team's model's version under a visible model's number: still not found.
        f"/models/{world.b_model.pk}/versions/1/",
        f"/datasets/{world.dataset.pk}/versions/9/",
        f"/datasets/{world.b_dataset.pk}/versions/1/",
        "/use-cases/999999/",
    ]:
        assert client.get(path).status_code == 404, path


def test_the_pages_are_read_only(cast: Any, world: RegistryWorld) -> None:
    client = client_for(cast.superuser)
    for path in ["/models/", f"/models/{world.model.pk}/", f"/datasets/{world.dataset.pk}/versions/2/"]:
        assert client.post(path, {"name": "x"}).status_code == 405
    assert client.get("/models/").status_code == 200


def test_navigation_links_the_registry(cast: Any, world: RegistryWorld) -> None:
    body = client_for(cast.engineer_a).get("/models/").content.decode()
    assert '<a href="/models/" aria-current="page">Models</a>' in body
    assert '<a href="/datasets/">Datasets</a>' in body
    assert '<a href="/use-cases/">Use cases</a>' in body


# --- Models -------------------------------------------------------------------------------------------------------


def test_model_list_states_versions_status_and_use_case(cast: Any, world: RegistryWorld) -> None:
    page = text(client_for(cast.compliance).get("/models/"))
    assert "Registered models 2" in page
    assert "Churn scorer team-a Churn prevention Limited risk churn tier-1 2 v2 In review v1 erin-engineer" in page
    assert "Fraud screen team-a Credit pre-screening High risk fraud 0 no version — erin-engineer" in page


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("q=churn", {"Churn scorer"}),
        ("q=SCREEN", {"Fraud screen"}),
        ("tag=fraud", {"Fraud screen"}),
        ("tag=tier-1", {"Churn scorer"}),
        ("tag=tier", set()),  # a tag matches whole, not as a prefix
        ("status=deployed", {"Churn scorer"}),
        ("status=retired", set()),
        ("team=team-a", {"Churn scorer", "Fraud screen"}),
        ("team=team-b", {"Ledger scorer"}),
        ("tag=churn&team=team-b", {"Ledger scorer"}),
    ],
)
def test_model_list_filters(cast: Any, world: RegistryWorld, query: str, expected: set[str]) -> None:
    response = client_for(cast.superuser).get(f"/models/?{query}")
    assert response.status_code == 200
    shown = set(re.findall(r'<a href="/models/\d+/">([^<]+)</a>', response.content.decode()))
    assert shown == expected


def test_model_list_refuses_an_unknown_status(cast: Any, world: RegistryWorld) -> None:
    response = client_for(cast.compliance).get("/models/?status=bogus")
    assert response.status_code == 400
    assert "The filter is not valid; nothing is shown." in text(response)
    assert "Churn scorer" not in text(response)


def test_model_detail_shows_versions_history_and_audit_trail(cast: Any, world: RegistryWorld) -> None:
    response = client_for(cast.compliance).get(f"/models/{world.model.pk}/")
    page = text(response)
    assert "Churn scorer team-a" in page
    assert "Owner erin-engineer" in page
    assert "On call #churn-oncall" in page
    assert "Use case Churn prevention Limited risk" in page
    assert "Limitations Not calibrated below 1% risk." in page
    sha = world.mv2.artifact_sha256
    assert f"v2 In review {sha[:12]}… logistic.onnx" in page
    assert "auc 0.934 · test.f1 0.81 · test.recall 0.77" in page
    assert "Customers v2" in page
    assert "Customers v1" in page
    # Status history: every transition of every version, newest first, with who and why
    history = page.split("Status history", 1)[1].split("Audit trail", 1)[0]
    assert "v2 Registered → In review erin-engineer Retrained on v2." in history
    assert "v1 Approved → Deployed erin-engineer Rolled out to the retention tool." in history
    assert "v1 In review → Approved carol-compliance Fairness checks passed on age bands." in history
    assert history.index("Retrained on v2.") < history.index("Rolled out") < history.index("Fairness checks")
    # Audit trail: the model's and its versions' events, as the audit log has them
    trail = page.split("Audit trail", 1)[1]
    expected = AuditEvent.objects.filter(
        Q(target_type="registry.registeredmodel", target_id=str(world.model.pk))
        | Q(target_type="registry.modelversion", target_id__in=[str(world.mv1.pk), str(world.mv2.pk)])
    )
    assert expected.count() == 7  # created, 2 registered, 4 status changes
    for event in expected:
        assert f"#{event.seq}" in trail
    assert "Model version status changed" in trail
    assert "Registered model created" in trail
    assert "Dataset version registered" not in trail
    body = response.content.decode()
    assert f'href="/audit/?target_type=registry.registeredmodel&amp;target_id={world.model.pk}"' in body


def test_the_audit_trail_is_for_audit_readers_only(cast: Any, world: RegistryWorld) -> None:
    for user in [cast.engineer_a, cast.reviewers["risk"]]:
        page = text(client_for(user).get(f"/models/{world.model.pk}/"))
        trail = page.split("Audit trail", 1)[1]
        assert "The audit trail is shown to the team's compliance officers, auditors and admins." in trail
        assert "Registered model created" not in trail
    for user in [cast.admin_a, cast.auditor, cast.superuser]:
        trail = text(client_for(user).get(f"/models/{world.model.pk}/")).split("Audit trail", 1)[1]
        assert "Registered model created" in trail


def test_model_version_detail_shows_contract_metrics_lineage_and_history(cast: Any, world: RegistryWorld) -> None:
    response = client_for(cast.auditor).get(f"/models/{world.model.pk}/versions/2/")
    page = text(response)
    interface = world.mv2.interface
    assert interface["inputs"], "the registered version carries its contract"
    first_input = interface["inputs"][0]
    shape = "[" + ", ".join("?" if d is None else str(d) for d in first_input["shape"]) + "]"
    inputs = page.split("Inputs", 1)[1].split("Outputs", 1)[0]
    assert f"{first_input['name']} tensor {first_input['elem_type']} {shape}" in inputs
    outputs = page.split("Outputs", 1)[1].split("Opsets", 1)[0]
    assert interface["outputs"]
    for output in interface["outputs"]:
        assert output["name"] in outputs
    assert f"SHA-256 {world.mv2.artifact_sha256}" in page
    assert "Authors erin-engineer" in page
    assert "auc 0.934 test.f1 0.81 test.recall 0.77" in page
    assert "C 0.5 classes [0, 1] penalty l2" in page
    assert "Customers v2 team-a 130500" in page
    assert "Registered → In review erin-engineer Retrained on v2." in page
    assert "← v1" in page
    assert "v3 →" not in page
    body = response.content.decode()
    assert f'href="/api/v1/models/{world.model.pk}/versions/2/artifact/"' in body
    trail = page.split("Audit trail", 1)[1]
    assert "Model version registered" in trail
    assert "Model version status changed" in trail
    assert "Registered model created" not in trail  # the version's own events only


def test_the_artifact_link_downloads_with_the_session(cast: Any, world: RegistryWorld) -> None:
    response = client_for(cast.compliance).get(f"/api/v1/models/{world.model.pk}/versions/1/artifact/")
    assert response.status_code == 200
    assert response["ETag"] == f'"{world.mv1.artifact_sha256}"'


# --- Datasets -----------------------------------------------------------------------------------------------------


def test_dataset_list_and_filters(cast: Any, world: RegistryWorld) -> None:
    client = client_for(cast.superuser)
    page = text(client.get("/datasets/"))
    assert "Customers team-a Confidential Contract eu-west-1 Parquet 2 1 breaking v2" in page
    assert set(
        re.findall(r'<a href="/datasets/\d+/">([^<]+)</a>', client.get("/datasets/?q=cust").content.decode())
    ) == {"Customers"}
    assert "Customers" not in text(client.get("/datasets/?classification=public"))
    assert "Ledger" in text(client.get("/datasets/?team=team-b"))
    assert "Customers" not in text(client.get("/datasets/?team=team-b"))
    invalid = client.get("/datasets/?classification=secret")
    assert invalid.status_code == 400
    assert "Classification:" in text(invalid)


def test_dataset_version_marks_personal_data_columns_in_words(cast: Any, world: RegistryWorld) -> None:
    # GIVEN version 2 with personal, special-category, protected and prohibited columns
    # WHEN a compliance officer opens it
    response = client_for(cast.compliance).get(f"/datasets/{world.dataset.pk}/versions/2/")
    # THEN each column carries its markers as text, and unmarked columns say so
    assert row_of(response, 'data-column="customer_id"') == "1 customer_id int64 No —"
    assert row_of(response, 'data-column="age"') == "2 age int32 Yes Personal data"
    assert row_of(response, 'data-column="health_condition"') == (
        "6 health_condition string Yes Personal data Special category"
    )
    assert row_of(response, 'data-column="ethnicity"') == (
        "7 ethnicity string Yes Personal data Special category Protected attribute Prohibited input"
    )
    assert row_of(response, 'data-column="region"') == "5 region string Yes — Sales region"
    page = text(response)
    assert (
        "7 columns; 4 marked for privacy or fairness: Personal data (4) Special category (2) "
        "Protected attribute (1) Prohibited input (1)." in page
    )
    body = response.content.decode()
    assert body.count('class="schema-row--flagged"') == 4


def test_dataset_version_evolution_report(cast: Any, world: RegistryWorld) -> None:
    response = client_for(cast.compliance).get(f"/datasets/{world.dataset.pk}/versions/2/")
    page = text(response)
    assert "Against version 1: 5 changes, 1 breaking 1 needs review" in page
    assert "Registered with the explicit breaking-change flag by erin-engineer." in page
    assert row_of(response, 'data-change-kind="type_changed"') == (
        "Breaking Type changed income type narrowed from float64 to float32"
    )
    assert row_of(response, 'data-change-kind="flag_removed"') == (
        "Compatible Needs review Privacy flag removed age no longer marked as a protected attribute: needs review"
    )
    assert row_of(response, 'data-change-kind="column_added"').startswith("Compatible Column added region added")
    first = text(client_for(cast.compliance).get(f"/datasets/{world.dataset.pk}/versions/1/"))
    assert "The first version: there is nothing to compare it with." in first
    assert "Models trained on it 1 Model version Status Registered Churn scorer v1 Deployed" in first


def test_dataset_detail_lists_versions_latest_schema_and_trail(cast: Any, world: RegistryWorld) -> None:
    page = text(client_for(cast.compliance).get(f"/datasets/{world.dataset.pk}/"))
    assert "Classification Confidential Legal basis Contract Residency eu-west-1" in page
    assert "Parquet at s3://lake/customers/ Partitioned by month" in page
    fingerprint = world.v2.content_fingerprint[:12]
    assert f"v2 7 4 1 breaking 4 compatible 1 to review breaking flag set 130500 {fingerprint}… supplied" in page
    assert f"v1 4 2 first version 120000 {world.v1.content_fingerprint[:12]}…" in page
    assert "Schema of v2 (latest)" in page
    trail = page.split("Audit trail", 1)[1]
    assert "Dataset created" in trail
    assert trail.count("Dataset version registered") == 2


def test_a_refused_breaking_version_shows_in_the_datasets_trail(cast: Any, world: RegistryWorld, api_as: Any) -> None:
    # GIVEN an engineer who sends a breaking schema without the flag through the API
    schema = {"columns": [column for column in SCHEMA["columns"] if column["name"] != "income"]}
    response = api_as(cast.engineer_a).post(
        f"/api/v1/datasets/{world.dataset.pk}/versions/",
        {"schema": schema, "content_fingerprint": "a" * 64},
        format="json",
    )
    assert response.status_code == 400
    # THEN the compliance officer sees the refusal in the dataset's audit trail
    trail = text(client_for(cast.compliance).get(f"/datasets/{world.dataset.pk}/")).split("Audit trail", 1)[1]
    assert "Dataset version refused" in trail


# --- Use cases ----------------------------------------------------------------------------------------------------


def test_use_case_list_and_filters(cast: Any, world: RegistryWorld) -> None:
    client = client_for(cast.compliance)
    page = text(client.get("/use-cases/"))
    assert "Churn prevention team-a Limited risk Decision support Keep customers who would leave. 2 1" in page
    assert "Credit pre-screening team-a High risk Automated" in page
    high = client.get("/use-cases/?risk_tier=high").content.decode()
    assert set(re.findall(r'<a href="/use-cases/\d+/">([^<]+)</a>', high)) == {"Credit pre-screening"}
    assert client.get("/use-cases/?risk_tier=extreme").status_code == 400


def test_use_case_detail_shows_objective_kpis_observations_and_limits(cast: Any, world: RegistryWorld) -> None:
    response = client_for(cast.compliance).get(f"/use-cases/{world.use_case.pk}/")
    page = text(response)
    assert "Limited risk EU AI Act risk tier Limited risk (transparency duties). People must be told" in page
    assert "Decision support (a person decides)." in page
    assert "Objective Keep customers who would leave." in page
    assert "Limitations what the model must not be used for Not for credit decisions." in page
    assert "Stakeholders Retention team; DPO" in page
    kpis = page.split("KPIs", 1)[1].split("Models serving it", 1)[0]
    assert "churn_rate (%) Baseline 12 Target 9 Latest 8.8 2026-08-30 Target met Yes" in kpis
    assert "retained_revenue (kEUR) Baseline 0 Target 500 Latest none Target met —" in kpis
    # Observations newest first, with the note
    assert "2026-08-30 00:00 8.8 erin-engineer 2026-07-31 00:00 10.2 after v1 went live erin-engineer" in kpis
    assert "No observation recorded yet." in kpis
    body = response.content.decode()
    assert body.count('<polyline class="chart__line"') == 1  # a chart where there are observations to draw
    assert 'aria-label="churn_rate: 4 observations from 2026-06-01 to 2026-08-30, latest 8.8, target 9"' in body
    assert "Models serving it 1 Model Latest version Deployed Owner Churn scorer v2 v1 erin-engineer" in page
    trail = page.split("Audit trail", 1)[1]
    assert "Use case created" in trail
    assert trail.count("KPI observation recorded") == 4


def test_a_prohibited_use_case_says_so(cast: Any, world: RegistryWorld) -> None:
    banned = make_use_case(cast.team_a, cast.engineer_a, name="Social scoring", risk_tier="prohibited")
    page = text(client_for(cast.compliance).get(f"/use-cases/{banned.pk}/"))
    assert "Prohibited EU AI Act risk tier Prohibited practice. No model may be approved or deployed for it." in page


# --- Cost ---------------------------------------------------------------------------------------------------------


def _queries(client: Client, path: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(path).status_code == 200
    return len(captured.captured_queries)


def test_list_pages_cost_the_same_queries_for_more_rows(cast: Any, world: RegistryWorld, models: Any) -> None:
    client = client_for(cast.compliance)
    paths = ["/models/", "/datasets/", "/use-cases/"]
    before = {path: _queries(client, path) for path in paths}
    # GIVEN more rows of each kind, with versions, deployments and tags
    for index in range(4):
        use_case = make_use_case(cast.team_a, cast.engineer_a, name=f"Use case {index}")
        dataset = make_dataset(cast.team_a, cast.engineer_a, name=f"Dataset {index}")
        make_dataset_version(dataset, cast.engineer_a)
        model = make_model(cast.team_a, cast.engineer_a, name=f"Model {index}", use_case=use_case, tags=[f"t{index}"])
        version = make_model_version(model, cast.engineer_a, models.add)
        actions.do_change_version_status(version, actor=cast.engineer_a, to_status="in_review", reason="r")
    # THEN each list page runs exactly as many queries as before
    after = {path: _queries(client, path) for path in paths}
    assert after == before


def test_lists_and_versions_are_paginated(cast: Any, world: RegistryWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shared, "PAGE_SIZE", 1)
    monkeypatch.setattr(shared, "VERSION_PAGE_SIZE", 1)
    client = client_for(cast.compliance)
    first, second = text(client.get("/models/?team=team-a")), text(client.get("/models/?team=team-a&page=2"))
    assert "Page 1 of 2" in first
    assert "Churn scorer" in first
    assert "Fraud screen" not in first
    assert "Fraud screen" in second
    assert 'href="?team=team-a&amp;page=2"' in client.get("/models/?team=team-a").content.decode()
    versions = text(client.get(f"/datasets/{world.dataset.pk}/?page=2"))
    assert "Page 2 of 2" in versions
    assert "v1 4 2 first version" in versions
