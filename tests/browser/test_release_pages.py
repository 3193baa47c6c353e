"""The release pages in a real browser: a reviewer makes a web-signing key, finds the release in the review queue,
reads it, mistypes the passphrase, signs, sees the approval count and the queue empty; a compliance officer reads
boards, policies and the deployment history. Data comes from the real actions with a real ONNX file. Screenshots
go to $ASSAY_DATA_DIR/shots (default /tmp/assay-ui/shots)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import pytest

from governance import actions
from serving.actions import do_deploy
from tests.conftest import PASSWORD
from tests.governance.factories import ReleaseWorld, sign

pytestmark = pytest.mark.browser

PASSPHRASE = "a long signing passphrase"
X = "\N{MULTIPLICATION SIGN}"  # the pages write "2 <times> Legal"
SHOTS = Path(os.environ.get("ASSAY_DATA_DIR") or Path(tempfile.gettempdir()) / "assay-ui") / "shots"


def text_of(locator: Any) -> str:
    return " ".join(locator.inner_text().split())


def shot(ui: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    ui.page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_reviewer_signs_in_the_browser_and_the_queue_empties(ui: Any, cast: Any, rw: ReleaseWorld) -> None:
    release = rw.release
    ui.login("rita-legal", PASSWORD)
    ui.assert_styled()

    # No key yet: the release page says how to get one
    ui.go(f"/releases/{release.pk}/")
    assert "You have no web-signing key" in text_of(ui.page.locator("#no-web-key"))
    shot(ui, "release-no-key")

    # Create a web-signing key from the navigation
    with ui.page.expect_navigation():
        ui.page.click(".account__links a:text-is('Signing keys')")
    ui.page.fill("#id_passphrase", PASSPHRASE)
    ui.page.fill("#id_passphrase_again", PASSPHRASE + " typo")
    with ui.page.expect_navigation():
        ui.page.click("#web-key-form button[type=submit]")
    assert text_of(ui.page.locator("#id_passphrase_again_error")) == "The two passphrases differ."
    ui.page.fill("#id_name", "web signing")
    ui.page.fill("#id_passphrase", PASSPHRASE)
    ui.page.fill("#id_passphrase_again", PASSPHRASE)
    with ui.page.expect_navigation():
        ui.page.click("#web-key-form button[type=submit]")
    assert ui.page.locator("#my-keys tbody tr").count() == 1
    assert "Web signing Active" in text_of(ui.page.locator("#my-keys tbody tr"))
    ui.assert_fits()
    shot(ui, "keys")

    # The queue lists the release, awaiting the legal role
    with ui.page.expect_navigation():
        ui.page.click(".site-nav a:text-is('Reviews')")
    assert ui.page.inner_text("#queue-count") == "1"
    row = ui.page.locator(f"#review-queue tr[data-release='{release.pk}']")
    assert "Legal" in text_of(row)
    ui.assert_fits()
    shot(ui, "review-queue")

    with ui.page.expect_navigation():
        row.locator("a").first.click()
    assert ui.page.url == f"{ui.base_url}/releases/{release.pk}/"
    assert ui.page.inner_text("#manifest-digest") == release.manifest_digest
    assert ui.page.locator("[data-check=quorum].check--fail").count() == 1
    ui.assert_fits()
    shot(ui, "release-page")

    # A mistyped passphrase: the precise error on the field, nothing signed
    ui.page.check("input[name=decision][value=approve]")
    ui.page.fill("#id_comment", "Contract terms and data basis reviewed.")
    ui.page.fill("#id_passphrase", "not my passphrase")
    with ui.page.expect_navigation():
        ui.page.click("#sign-form button[type=submit]")
    assert text_of(ui.page.locator("#id_passphrase_error")) == "Wrong signing passphrase."
    assert ui.page.input_value("#id_passphrase") == ""
    assert ui.page.input_value("#id_comment") == "Contract terms and data basis reviewed."
    ui.page.locator("#sign").scroll_into_view_if_needed()
    shot(ui, "release-sign-error")

    ui.page.fill("#id_passphrase", PASSPHRASE)
    with ui.page.expect_navigation():
        ui.page.click("#sign-form button[type=submit]")
    assert ui.page.url.endswith(f"/releases/{release.pk}/#signatures")
    signature = ui.page.locator(".table--signatures tr[data-signer='rita-legal']")
    assert "Approve" in text_of(signature)
    assert "Counts" in text_of(signature)
    assert "Contract terms and data basis reviewed." in text_of(signature)
    assert ui.page.inner_text("#signature-count") == "1"
    assert f"1 more {X} Technical" in text_of(ui.page.locator("#roles-needed"))
    assert "You signed this manifest" in text_of(ui.page.locator("#signed-current"))
    assert ui.page.locator("#sign-form").count() == 0
    shot(ui, "release-signed")

    with ui.page.expect_navigation():
        ui.page.click(".site-nav a:text-is('Reviews')")
    assert ui.page.inner_text("#queue-count") == "0"
    assert ui.page.locator("#queue-empty").is_visible()
    shot(ui, "review-queue-empty")

    ui.page.set_viewport_size({"width": 390, "height": 844})
    ui.go(f"/releases/{release.pk}/")
    ui.assert_fits()
    shot(ui, "release-page-narrow")


def test_compliance_officer_reads_boards_policies_and_deployments(ui: Any, cast: Any, rw: ReleaseWorld) -> None:
    for role in ("legal", "technical"):
        user = cast.reviewers[role]
        private, _ = rw.key_of(user)
        actions.do_submit_approval(rw.release, actor=user, envelope=sign(rw.release, user, private, board_role=role))
    do_deploy(rw.release, actor=cast.engineer_a)

    ui.login("carol-compliance", PASSWORD)
    for label, path, name in [
        ("Boards", "/boards/", "boards"),
        ("Policies", "/policies/", "policies"),
        ("Deployments", "/environments/", "environments"),
        ("Releases", "/releases/", "releases"),
    ]:
        with ui.page.expect_navigation():
            ui.page.click(f".site-nav a:text-is('{label}')")
        assert ui.page.url == ui.base_url + path
        assert ui.page.locator(".site-nav a[aria-current=page]").inner_text() == label
        ui.assert_fits()
        shot(ui, name)

    ui.go(f"/boards/{rw.board.pk}/")
    assert ui.page.locator(".table--board-members tbody tr").count() == len(cast.reviewers)
    shot(ui, "board-detail")
    ui.go(f"/policies/{rw.policy.pk}/")
    assert "In force" in text_of(ui.page.locator("tr[data-policy-version='1']"))
    shot(ui, "policy-detail")
    ui.go("/environments/production/")
    assert ui.page.inner_text("#current-count") == "1"
    assert "Limit scorer" in text_of(ui.page.locator(".table--current tbody tr"))
    shot(ui, "environment-detail")
    ui.go(f"/releases/{rw.release.pk}/")
    assert "Deployed" in text_of(ui.page.locator("h1"))
    assert "passed, deployed" in text_of(ui.page.locator("#gate"))
    shot(ui, "release-deployed")
    ui.go("/keys/")
    assert ui.page.locator("#team-keys tbody tr").count() == 2
    shot(ui, "keys-compliance")
