"""Real Chromium (Debian's /usr/bin/chromium) driven by Playwright against pytest-django's live server.

One browser for the whole session; each test gets a fresh context (no shared cookies) and fails if the page logged a
Content Security Policy violation or any other console error.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.governance.factories import ReleaseWorld, make_release_world, write_onnx

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip(f"Browser tests need Chromium at {CHROMIUM} (apt-get install chromium).")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop running in this thread, and Django's ORM refuses to run in a thread
    # with a running loop. The test's ORM calls are plain synchronous code, so the guard does not apply here.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            yield chromium
            chromium.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@dataclass
class UI:
    """A browser tab on the live server, with the console and failed requests it saw."""

    page: Any
    base_url: str
    console: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def go(self, path: str) -> Any:
        response = self.page.goto(self.base_url + path)
        self.page.wait_for_load_state("networkidle")
        return response

    def login(self, username: str, password: str) -> None:
        self.go("/login/")
        self.page.fill("#id_username", username)
        self.page.fill("#id_password", password)
        with self.page.expect_navigation():
            self.page.click("button[type=submit]")

    def shot(self, name: str) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def assert_styled(self) -> None:
        """The stylesheet was served and applied (not merely linked)."""
        background = self.page.eval_on_selector(".site-header", "el => getComputedStyle(el).backgroundColor")
        assert background == "rgb(28, 43, 61)", f"assay.css not applied: header background is {background}"
        font = self.page.eval_on_selector("body", "el => getComputedStyle(el).fontFamily")
        assert "system-ui" in font

    def assert_fits(self) -> None:
        """No horizontal scrolling of the page itself (wide tables scroll inside their card)."""
        overflow = self.page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"the page is {overflow}px wider than the window"

    def csp_violations(self) -> list[str]:
        return [line for line in self.console if "Content Security Policy" in line]


@pytest.fixture
def ui(browser: Any, live_server: Any) -> Iterator[UI]:
    context = browser.new_context(viewport={"width": 1360, "height": 860}, locale="en-GB", timezone_id="UTC")
    context.set_default_timeout(10_000)
    page = context.new_page()
    tab = UI(page=page, base_url=live_server.url)
    page.on("console", lambda message: tab.console.append(f"{message.type}: {message.text}"))
    # A navigation cancels the previous page's pending loads (ERR_ABORTED): that is the browser's housekeeping.
    page.on(
        "requestfailed",
        lambda request: (
            tab.failed.append(f"{request.method} {request.url}: {request.failure}")
            if "ERR_ABORTED" not in (request.failure or "")
            else None
        ),
    )
    page.on(
        "response",
        lambda response: (
            tab.failed.append(f"{response.status} {response.url}")
            if "/static/" in response.url and response.status >= 400
            else None
        ),
    )
    yield tab
    context.close()
    assert not tab.csp_violations(), f"Content Security Policy violations: {tab.csp_violations()}"
    # A refused login or a 403/404 page logs the failed load of that document; any other error is a defect.
    errors = [line for line in tab.console if line.startswith("error:") and "status of 4" not in line]
    assert not errors, f"console errors: {errors}"
    assert not tab.failed, f"failed requests: {tab.failed}"


@pytest.fixture(scope="module")
def onnx_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small valid ONNX model (tests.governance.factories.write_onnx), written once per module."""
    return write_onnx(tmp_path_factory.mktemp("onnx") / "add.onnx")


@pytest.fixture
def rw(cast: Any, onnx_path: Path, settings: Any, tmp_path: Path) -> ReleaseWorld:
    """Team A's release world (tests.governance.factories), its artifacts in this test's folder."""
    settings.ARTIFACT_ROOT = tmp_path / "artifacts"
    # Web-signing keys sealed with tiny Argon2id parameters: the browser tests check the flow, not the cost.
    settings.SIGNING_KEY_KDF_MEMORY_KIB = 64
    settings.SIGNING_KEY_KDF_ITERATIONS = 1
    settings.SIGNING_KEY_KDF_LANES = 1
    return make_release_world(cast, onnx_path)
