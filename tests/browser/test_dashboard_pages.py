"""The dashboard per role in a real browser: a compliance officer sees the release awaiting signatures (with its
age) and what is deployed where, and follows a link to the release; a reviewer sees her queue and follows it to
sign; the model page lists the model's releases and deployments. Data comes from the real actions with real ONNX
files; screenshots go to test-artifacts/screenshots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from serving.actions import do_deploy
from tests.conftest import PASSWORD
from tests.governance.factories import ReleaseWorld, make_release_world
from tests.serving.factories import approve, new_version, request

pytestmark = pytest.mark.browser


def text_of(locator: Any) -> str:
    return " ".join(locator.inner_text().split())


@pytest.fixture
def scene(cast: Any, onnx_path: Path, settings: Any, tmp_path: Path) -> tuple[ReleaseWorld, Any, Any]:
    """Release 1 approved and deployed to production; release 2 (of v2) awaiting signatures."""
    settings.ARTIFACT_ROOT = tmp_path / "artifacts"
    rw = make_release_world(cast, onnx_path)
    deployment = do_deploy(approve(rw)[0].release, actor=cast.engineer_a)
    waiting = request(rw, new_version(rw, tmp_path, 2))
    return rw, deployment, waiting


def test_a_compliance_officer_sees_what_awaits_and_what_is_deployed(ui: Any, scene: Any) -> None:
    rw, deployment, waiting = scene
    ui.login("carol-compliance", PASSWORD)
    ui.assert_styled()
    awaiting = ui.page.locator("#dash-awaiting-signatures")
    row = text_of(awaiting.locator(f"tr[data-release='{waiting.pk}']"))
    assert row.startswith(f"#{waiting.pk} Limit scorer v2 team-a Production 0 of 2")
    assert "minute" in row  # how long it has waited
    deployed = text_of(ui.page.locator("#dash-deployed tr[data-route='production/Limit scorer']"))
    assert deployed == "Production Limit scorer team-a v1 primary"
    # The officer's other cards are there; an engineer's are not
    for name in ("coming-due", "unclassified", "gate-failures", "expiring-approvals"):
        assert ui.page.locator(f"#dash-{name}").count() == 1
    assert ui.page.locator("#dash-my-releases").count() == 0
    ui.assert_fits()
    ui.shot("dashboard-compliance")
    # The release's link leads to its page
    with ui.page.expect_navigation():
        awaiting.locator(f"tr[data-release='{waiting.pk}'] a").click()
    assert ui.page.url.endswith(f"/releases/{waiting.pk}/")

    # The model page lists both releases and the deployment
    ui.go(f"/models/{rw.version.model_id}/")
    assert ui.page.locator("#model-releases tbody tr").count() == 2
    row = text_of(ui.page.locator(f"#model-deployments tr[data-deployment='{deployment.pk}']"))
    assert "Production v1 Primary Serving now 100% erin-engineer" in row
    ui.page.locator("#model-releases").scroll_into_view_if_needed()
    ui.shot("model-page-releases-deployments")


def test_a_reviewer_sees_her_queue_and_follows_it(ui: Any, scene: Any) -> None:
    _, _, waiting = scene
    ui.login("rita-legal", PASSWORD)
    queue = ui.page.locator("#dash-review-queue")
    row = text_of(queue.locator(f"tr[data-release='{waiting.pk}']"))
    assert row.startswith(f"#{waiting.pk} Limit scorer v2 → Production Legal")
    assert ui.page.locator("#dash-awaiting-signatures").count() == 0
    ui.assert_fits()
    ui.shot("dashboard-reviewer")
    with ui.page.expect_navigation():
        queue.locator("a:text-is('Your review queue')").click()
    assert ui.page.locator(f"#review-queue tr[data-release='{waiting.pk}']").count() == 1


def test_engineer_b_sees_only_their_own_cards(ui: Any, scene: Any) -> None:
    ui.login("bob-engineer", PASSWORD)
    assert text_of(ui.page.locator("#dash-my-releases tbody")) == "You have requested no release."
    assert "Limit scorer" not in text_of(ui.page.locator("main"))
    ui.shot("dashboard-engineer-b")
