"""A real OpenID Connect provider for the single sign-on tests: django-oauth-toolkit in a second process
(tests/sso/provider), one per xdist worker on a free port, waited for through its discovery document. A plugin of
tests/conftest.py, so that the browser and worker tests use the same provider."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.test import Client

from core.sso import forget_discovery

REPO = Path(__file__).resolve().parents[2]
CLIENT_ID = "assay-test"
CLIENT_SECRET = "assay-test-secret-0123456789"
PROVIDER_PASSWORD = "provider-pass-2026"
RP_CALLBACK = "http://testserver/oidc/callback/"


@dataclass
class Provider:
    url: str

    @property
    def issuer(self) -> str:
        return f"{self.url}/o"

    def control(self, what: str, **data: Any) -> dict[str, Any]:
        response = requests.post(f"{self.url}/control/{what}/", json=data, timeout=10)
        response.raise_for_status()
        return dict(response.json())

    def user(self, username: str, *, groups: list[str], **extra: Any) -> str:
        """Create or update a person at the provider; returns their ``sub``."""
        data = {"username": username, "password": PROVIDER_PASSWORD, "email": f"{username}@idp.example", **extra}
        return str(self.control("user", groups=groups, **data)["sub"])

    def client(self, *redirect_uris: str) -> None:
        self.control("client", client_id=CLIENT_ID, client_secret=CLIENT_SECRET, redirect_uris=list(redirect_uris))

    def misbehave(self, mode: str) -> None:
        self.control("misbehave", mode=mode)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def oidc_provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Provider]:
    port = _free_port()
    folder = tmp_path_factory.mktemp("oidc-provider")
    log = (folder / "provider.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.sso.provider.run", str(port), str(folder)],
        cwd=REPO,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    provider = Provider(f"http://127.0.0.1:{port}")
    deadline = time.monotonic() + 90
    try:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the test provider exited: {(folder / 'provider.log').read_text()[-2000:]}")
            try:
                if requests.get(f"{provider.issuer}/.well-known/openid-configuration", timeout=1).ok:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the test provider did not start within 90 s")
            time.sleep(0.2)
        provider.client(RP_CALLBACK)
        yield provider
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@pytest.fixture
def sso(settings: Any, oidc_provider: Provider) -> Provider:
    """Single sign-on on, against the test provider (endpoints from its discovery document)."""
    settings.OIDC_ISSUER = oidc_provider.issuer
    settings.OIDC_RP_CLIENT_ID = CLIENT_ID
    settings.OIDC_RP_CLIENT_SECRET = CLIENT_SECRET
    settings.OIDC_GROUPS_CLAIM = "groups"
    forget_discovery()
    oidc_provider.misbehave("")
    return oidc_provider


def provider_sign_in(client: Client, provider: Provider, username: str, password: str = PROVIDER_PASSWORD) -> Any:
    """The whole code flow, as a browser would: Assay sends us to the provider, we sign in there, the provider
    sends us back to Assay's callback. Returns Assay's answer to the callback."""
    start = client.get("/oidc/authenticate/")
    assert start.status_code == 302, start
    browser = requests.Session()
    location = start["Location"]
    for _ in range(10):
        if location.startswith("http://testserver/"):
            parts = urlsplit(location)
            return client.get(f"{parts.path}?{parts.query}")
        if location.startswith("/"):
            location = provider.url + location
        response = browser.get(location, allow_redirects=False, timeout=10)
        if response.status_code == 200 and "provider-sign-in" in response.text:
            response = browser.post(
                location,
                data={
                    "username": username,
                    "password": password,
                    "csrfmiddlewaretoken": browser.cookies["csrftoken"],
                    "next": parse_qs(urlsplit(location).query).get("next", [""])[0],
                },
                allow_redirects=False,
                timeout=10,
            )
        assert response.status_code == 302, (response.status_code, response.text[:500])
        location = response.headers["Location"]
    raise AssertionError("the code flow did not come back to Assay")
