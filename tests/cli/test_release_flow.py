"""A release from request to offline verification, through the ``assay`` command against a live server: an
engineer requests, two reviewers generate keys on "their machines", register the public halves and sign from the
command line, the engineer deploys through the gate, and an auditor's export verifies with no server at all.
Then the refusals a CI job or a reviewer must see, with the server's reasons."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from governance.models import Approval, SigningKey
from serving.models import Deployment
from tests.cli.conftest import Cli, token_for
from tests.governance.factories import make_board, make_environment, make_policy, make_ready_version, write_onnx

pytestmark = pytest.mark.django_db(transaction=True)


class Flow:
    """The release world, and one CLI per person (each with their own token), all in one working folder."""

    def __init__(self, cli: Cli, cast: Any, onnx: Path) -> None:
        self.cast = cast
        environment = make_environment(cast.superuser)
        board = make_board(cast.compliance, cast.team_a, dict(cast.reviewers))
        make_policy(cast.compliance, cast.team_a, environment, board)
        self.version = make_ready_version(cast, onnx)
        self.onnx = onnx
        self.folder = cli.folder
        self.url = cli.url
        self.engineer = self.as_user(cast.engineer_a)
        self.legal = self.as_user(cast.reviewers["legal"])
        self.technical = self.as_user(cast.reviewers["technical"])

    def as_user(self, user: Any) -> Cli:
        token = token_for(user)
        return Cli(url=self.url, folder=self.folder, token=token, secrets=[token], stdlib_only=False)

    def request(self) -> int:
        result = self.engineer(
            "release", "request", "--model-version", str(self.version.pk), "--environment", "production", "--json"
        )
        assert result.code == 0, result.err
        return int(result.json()["id"])

    def key_for(self, cli: Cli, name: str) -> Path:
        path = self.folder / f"{name}.pem"
        generated = cli("key", "generate", "--out", str(path))
        assert generated.code == 0, generated.err
        registered = cli("key", "register", "--public-key", f"{path}.pub", "--name", f"{name}'s laptop")
        assert registered.code == 0, registered.err
        return path

    def sign(self, cli: Cli, release: int, key: Path, role: str, decision: str = "approve") -> Any:
        return cli(
            "release", "sign", str(release), "--key", str(key), "--role", role, "--decision", decision,
            "--comment", f"{role} review done",
        )  # fmt: skip


@pytest.fixture
def flow(cli: Cli, cast: Any, tmp_path: Path) -> Flow:
    return Flow(cli, cast, write_onnx(tmp_path / "limit-scorer.onnx"))


def test_request_sign_deploy_export_and_verify_offline(flow: Flow) -> None:
    release = flow.request()
    shown = flow.engineer("release", "show", str(release))
    assert shown.code == 0, shown.err
    assert "to production (open)" in shown.out
    assert "not approved yet" in shown.out
    assert "next: approvals from legal (1 more), technical (1 more): assay release sign " in shown.out

    for cli, role in ((flow.legal, "legal"), (flow.technical, "technical")):
        key = flow.key_for(cli, role)
        signed = flow.sign(cli, release, key, role)
        assert signed.code == 0, signed.err
        assert f"Signed: approve of release {release} as {role} (approval " in signed.out
        assert "(recomputed here before signing)" in signed.out

    approvals = Approval.objects.filter(release_id=release)
    assert sorted(approvals.values_list("board_role", "signed_via")) == [("legal", "api"), ("technical", "api")]
    approved = flow.engineer("release", "show", str(release)).out
    assert "APPROVED" in approved
    assert f"next: deploy it: assay release deploy {release} --idempotency-key KEY" in approved
    assert "release sign" not in approved

    deployed = flow.engineer("release", "deploy", str(release), "--idempotency-key", "pipeline-41", "--json")
    assert deployed.code == 0, deployed.err
    again = flow.engineer("release", "deploy", str(release), "--idempotency-key", "pipeline-41", "--json")
    assert again.code == 0, again.err
    assert again.json()["id"] == deployed.json()["id"]
    assert Deployment.objects.count() == 1
    after = flow.engineer("release", "show", str(release)).out
    assert "(deployed)" in after
    assert f"next: nothing: it is deployed. Export its evidence: assay release bundle {release}" in after

    bundle = flow.folder / "release.json"
    exported = flow.engineer("release", "bundle", str(release), "--out", str(bundle))
    assert exported.code == 0, exported.err
    assert json.loads(bundle.read_text())["kind"] == "assay.release-bundle"
    assert f"Wrote the bundle of release {release} (uid " in exported.out

    verified = flow.engineer(
        "verify-release", str(bundle), "--artifact", str(flow.onnx), token=None, url="http://127.0.0.1:9"
    )
    assert verified.code == 0, verified.out
    assert "PASS quorum: met: 2 of 2 approvers; legal 1/1; technical 1/1" in verified.out
    assert "PASS artifact file" in verified.out


def test_a_deploy_the_gate_refuses_prints_every_failed_check(flow: Flow) -> None:
    release = flow.request()
    key = flow.key_for(flow.legal, "legal")
    assert flow.sign(flow.legal, release, key, "legal").code == 0

    refused = flow.engineer("release", "deploy", str(release))

    assert refused.code == 1
    assert "refused (409)" in refused.err
    assert "FAIL quorum:" in refused.err
    assert "missing 1 technical" in refused.err
    assert Deployment.objects.count() == 0


def test_a_reviewer_cannot_sign_in_a_role_they_do_not_hold(flow: Flow) -> None:
    release = flow.request()
    key = flow.key_for(flow.legal, "legal")

    result = flow.sign(flow.legal, release, key, "technical")

    assert result.code == 1
    assert "refused (" in result.err
    assert Approval.objects.count() == 0


def test_an_engineer_cannot_sign_their_own_release(flow: Flow) -> None:
    release = flow.request()
    key = flow.folder / "engineer.pem"
    assert flow.engineer("key", "generate", "--out", str(key)).code == 0
    # Only board members hold signing keys: the engineer's is refused, so the signature is refused too
    registered = flow.engineer("key", "register", "--public-key", f"{key}.pub")
    assert registered.code == 1
    assert "Only board members hold signing keys" in registered.err

    result = flow.sign(flow.engineer, release, key, "legal")

    assert result.code == 1
    assert Approval.objects.count() == 0


def test_signing_with_an_unregistered_key_is_refused(flow: Flow) -> None:
    release = flow.request()
    key = flow.folder / "stray.pem"
    assert flow.legal("key", "generate", "--out", str(key)).code == 0

    result = flow.sign(flow.legal, release, key, "legal")

    assert result.code == 1
    assert Approval.objects.count() == 0


def test_keys_are_listed_and_revoked(flow: Flow) -> None:
    flow.key_for(flow.legal, "legal")
    key = SigningKey.objects.get(owner=flow.cast.reviewers["legal"])

    listed = flow.legal("key", "list")
    assert listed.code == 0, listed.err
    assert key.fingerprint in listed.out

    revoked = flow.legal("key", "revoke", str(key.pk), "--reason", "laptop stolen")
    assert revoked.code == 0, revoked.err
    assert "laptop stolen" in revoked.out
    key.refresh_from_db()
    assert key.revoked_at is not None

    twice = flow.legal("key", "revoke", str(key.pk), "--reason", "again")
    assert twice.code == 1
    assert "already revoked" in twice.err


def test_a_revoked_key_no_longer_signs(flow: Flow) -> None:
    release = flow.request()
    path = flow.key_for(flow.legal, "legal")
    key = SigningKey.objects.get(owner=flow.cast.reviewers["legal"])
    assert flow.legal("key", "revoke", str(key.pk), "--reason", "rotated").code == 0

    result = flow.sign(flow.legal, release, path, "legal")

    assert result.code == 1
    assert "revoked" in result.err
