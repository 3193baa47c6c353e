"""The statement of reasons in a real browser: an engineer fills the model version page's form with one applicant's
values, reads the statement (the decision, the catalogue's sentences, never the protected age) and downloads it as
a PDF whose text says the same. A value out of the model's range shows on its field."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

from audits import explainers
from tests.audits.explain_factories import make_catalogue, make_explained_model, make_explanation_report
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser

APPLICANT = {"income": "2.1", "debt": "1.4", "utilisation": "0.9", "age": "61"}


def test_an_engineer_gives_a_statement_of_reasons_from_the_model_version_page(
    ui: Any, cast: Any, settings: Any, tmp_path: Path
) -> None:
    settings.ARTIFACT_ROOT = tmp_path / "artifacts"
    explainers.CACHE.clear()
    objects = make_explained_model(cast.team_a, cast.engineer_a, tmp_path / "models")
    make_explanation_report(objects["model_version"], objects["dataset_version"], cast.engineer_a, method="tree_exact")
    make_catalogue(
        objects["model"],
        [
            {"feature": "utilisation", "direction": "raises", "text": "Credit utilisation is high"},
            {"feature": "debt", "direction": "raises", "text": "Existing debt is high"},
        ],
    )
    version = objects["model_version"]
    ui.login("erin-engineer", PASSWORD)
    ui.go(f"/models/{version.model_id}/versions/{version.number}/")
    form = ui.page.locator("#statement-of-reasons")
    # GIVEN one applicant's values in the model version page's form
    for name, value in APPLICANT.items():
        form.locator(f"#id_statement-{name}").fill(value)
    form.locator("#id_statement-reference").fill("application 123")
    with ui.page.expect_navigation():
        form.locator("button[type=submit]").click()
    ui.page.wait_for_load_state("networkidle")
    assert ui.page.locator("#statement-decision").inner_text() in ("Declined", "Approved")
    reasons = ui.page.locator("#statement-reasons").inner_text()
    assert "Credit utilisation is high" in reasons
    assert not re.search(r"\bage\b", reasons, re.IGNORECASE), reasons
    assert ui.page.locator("#statement-reference").inner_text() == "application 123"
    assert "version 1" in ui.page.locator("#statement-catalogue").inner_text()
    ui.assert_styled()
    ui.shot("statement-of-reasons")
    # WHEN the PDF is downloaded
    with ui.page.expect_download() as download:
        ui.page.locator("#download-pdf").click()
    pdf = Path(download.value.path()).read_bytes()
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    assert "Statement of reasons" in text
    assert "Credit utilisation is high" in text
    assert "application 123" in text
    assert download.value.suggested_filename.endswith(f"-v{version.number}.pdf")
    # AND a value the model cannot take is shown on its field
    ui.page.locator("#id_statement-income").fill("1e39")
    with ui.page.expect_navigation():
        ui.page.locator("#statement-form button[type=submit]").click()
    assert "beyond the range of the model's float32 input" in ui.page.locator("#statement-form").inner_text()
    ui.shot("statement-of-reasons-error")
    assert not ui.console, ui.console
