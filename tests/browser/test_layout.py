"""Layout defects a screenshot shows and a DOM query can measure: the main navigation stays on one line on a laptop
screen, and the release page's "sign with your own key" block shows its commands whole, to those who still have
to sign. Screenshots go to $ASSAY_DATA_DIR/shots."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import pytest

from governance import actions
from tests.conftest import PASSWORD
from tests.governance.factories import ReleaseWorld, sign

pytestmark = pytest.mark.browser

SHOTS = Path(os.environ.get("ASSAY_DATA_DIR") or Path(tempfile.gettempdir()) / "assay-ui") / "shots"
NAV_ROWS = """() => new Set([...document.querySelectorAll('.site-nav li')].map(li => li.offsetTop)).size"""
CLIPPED = """el => el.scrollWidth - el.clientWidth"""


def shot(ui: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    ui.page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


@pytest.mark.parametrize("width", [1400, 1280])
def test_the_navigation_stays_on_one_line(ui: Any, cast: Any, width: int) -> None:
    # GIVEN a compliance officer, who sees every section (the audit log too)
    ui.page.set_viewport_size({"width": width, "height": 860})
    ui.login("carol-compliance", PASSWORD)
    assert ui.page.locator(".site-nav a", has_text="Audit log").count() == 1
    # THEN every link of the main navigation is on the same line
    shot(ui, f"nav-{width}")
    assert ui.page.evaluate(NAV_ROWS) == 1


def test_the_own_key_commands_are_whole_and_leave_once_signed(ui: Any, cast: Any, rw: ReleaseWorld) -> None:
    legal = cast.reviewers["legal"]
    ui.page.set_viewport_size({"width": 1400, "height": 860})
    ui.login(legal.username, PASSWORD)
    # GIVEN a board member who has not signed: the commands show, no line cut off
    ui.go(f"/releases/{rw.release.pk}/")
    block = ui.page.locator("#sign-cli pre")
    assert "assay release sign" in block.inner_text()
    assert ui.page.eval_on_selector("#sign-cli pre", CLIPPED) <= 0
    shot(ui, "release-own-key")
    # WHEN she has signed (with her own key, as the block says)
    private, _ = rw.key_of(legal)
    actions.do_submit_approval(rw.release, actor=legal, envelope=sign(rw.release, legal, private, board_role="legal"))
    ui.go(f"/releases/{rw.release.pk}/")
    # THEN the page says she signed, and no longer asks her to
    assert ui.page.locator("#signed-current").count() == 1
    assert ui.page.locator("#sign-cli").count() == 0
    shot(ui, "release-own-key-signed")
