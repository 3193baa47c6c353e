"""``assay explain`` and ``assay statement`` against a live server: the reasons of one applicant's score as text and
JSON, rows from a file, the statement of reasons as a PDF file, and refusals through exit codes."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from django.conf import settings
from pypdf import PdfReader

from audits import explainers
from tests.audits.explain_factories import make_catalogue, make_explained_model, make_explanation_report
from tests.cli.conftest import Cli

ROW = '{"income": 2.1, "debt": 1.4, "utilisation": 0.9, "age": 61}'


def explained(cast: Any) -> Any:
    explainers.CACHE.clear()
    objects = make_explained_model(cast.team_a, cast.engineer_a, Path(settings.ARTIFACT_ROOT).parent / "models")
    make_explanation_report(objects["model_version"], objects["dataset_version"], cast.engineer_a, method="tree_exact")
    make_catalogue(
        objects["model"], [{"feature": "utilisation", "direction": "raises", "text": "Credit utilisation is high"}]
    )
    return objects["model_version"]


def test_explain_prints_the_score_decision_and_reasons(cli: Cli, cast: Any) -> None:
    version = explained(cast)
    shown = cli("explain", str(version.pk), "--row", ROW, "--top", "3")
    assert shown.code == 0, shown.err
    assert f"Model version {version.pk}: Team A / {version.model.name}, version 1" in shown.out
    assert "-> Declined (threshold 0.5)" in shown.out
    assert "utilisation = 0.9" in shown.out
    assert "Credit utilisation is high" in shown.out
    assert "withheld: age (never a reason: a protected attribute" in shown.out
    machine = cli("--json", "explain", str(version.pk), "--row", ROW)
    assert machine.code == 0, machine.err
    result = machine.json()["results"][0]
    assert result["additivity_error"] < result["tolerance"]
    rows = cli.write("rows.json", [{"income": 2.1, "debt": 1.4, "utilisation": 0.9, "age": 61}] * 2)
    many = cli("--json", "explain", str(version.pk), "--rows", str(rows))
    assert many.code == 0, many.err
    assert len(many.json()["results"]) == 2


def test_explain_refusals_exit_1_naming_the_feature_and_usage_errors_exit_2(cli: Cli, cast: Any) -> None:
    version = explained(cast)
    refused = cli("explain", str(version.pk), "--row", '{"income": "high", "debt": 1, "utilisation": 0.5, "age": 40}')
    assert refused.code == 1
    assert "rows[0].income" in refused.err
    missing = cli("explain", "999999", "--row", ROW)
    assert missing.code == 1
    assert "404" in missing.err or "Not found" in missing.err
    assert cli("explain", str(version.pk), "--row", "not json").code == 2
    assert cli("explain", str(version.pk)).code == 2


def test_statement_writes_the_pdf(cli: Cli, cast: Any) -> None:
    version = explained(cast)
    out = cli.folder / "statement.pdf"
    written = cli("statement", str(version.pk), "--row", ROW, "--reference", "application 123", "--pdf", str(out))
    assert written.code == 0, written.err
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(out.read_bytes())).pages)
    assert "Statement of reasons" in text
    assert "application 123" in text
    assert "Credit utilisation is high" in text
    refused = cli("statement", str(version.pk), "--row", '{"income": 1}', "--pdf", str(cli.folder / "bad.pdf"))
    assert refused.code == 1
    assert "row[0].debt" in refused.err
    assert not (cli.folder / "bad.pdf").exists()
