"""The signing commands that need no server: ``assay verify-release`` and ``assay key generate``, run as real
processes; and the refusals ``key register`` and ``release sign`` make before anything is sent (a lying server
is a real HTTP server in a thread)."""

from __future__ import annotations

import base64
import http.server
import json
import os
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from assay_trust.canonical import canonical_digest
from assay_trust.keys import fingerprint, load_private_key, load_public_key, private_key_pem
from tests.trust.bundles import ARTIFACT, SignedRelease, manifest

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Run:
    code: int
    out: str
    err: str


def assay(*args: str, cwd: Path, env: dict[str, str] | None = None, isolated: bool = False) -> Run:
    """The CLI as a process, with no ASSAY_* variable but those given. ``isolated`` runs it without site-packages
    (no cryptography), as on a machine that installed the CLI alone."""
    environment = {key: value for key, value in os.environ.items() if not key.startswith("ASSAY_")}
    environment["PYTHONPATH"] = str(ROOT)
    environment.update(env or {})
    command = [sys.executable, *(["-S"] if isolated else []), "-m", "assay_cli", *args]
    done = subprocess.run(command, capture_output=True, text=True, cwd=cwd, env=environment, timeout=120, check=False)
    return Run(done.returncode, done.stdout, done.stderr)


@pytest.fixture
def bundle_file(tmp_path: Path) -> Path:
    path = tmp_path / "release.json"
    path.write_text(json.dumps(SignedRelease().bundle()))
    return path


@pytest.fixture
def artifact(tmp_path: Path) -> Path:
    path = tmp_path / "model.onnx"
    path.write_bytes(ARTIFACT)
    return path


# --- verify-release -----------------------------------------------------------------------------------------------


def test_a_valid_bundle_verifies_with_exit_0(bundle_file: Path, artifact: Path, tmp_path: Path) -> None:
    # No token and an address where nothing listens: the command never asks a server.
    result = assay(
        "verify-release",
        str(bundle_file),
        "--artifact",
        str(artifact),
        cwd=tmp_path,
        env={"ASSAY_URL": "http://127.0.0.1:9"},
    )

    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0].startswith("PASS bundle shape: bundle v1 of release")
    assert "PASS manifest digest: " in result.out
    assert "PASS approval 1 (lena-legal, legal) signature: DSSE signature by sha256:" in result.out
    assert "PASS quorum: met: 2 of 2 approvers; legal 1/1; technical 1/1" in result.out
    assert lines[-2].startswith("PASS artifact file: model.onnx: ")
    assert lines[-1] == f"Verified: all {len(lines) - 1} checks passed."
    assert result.err == ""


def test_json_output(bundle_file: Path, tmp_path: Path) -> None:
    result = assay("verify-release", str(bundle_file), "--json", cwd=tmp_path)
    assert result.code == 0, result.err
    answer = json.loads(result.out)
    assert answer["passed"] is True
    assert answer["checks"][0] == {"name": "bundle shape", "passed": True, "detail": answer["checks"][0]["detail"]}


def test_a_replaced_artifact_fails_with_exit_1(bundle_file: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.onnx"
    other.write_bytes(ARTIFACT + b"!")
    result = assay("verify-release", str(bundle_file), "--artifact", str(other), cwd=tmp_path)
    assert result.code == 1
    assert "FAIL artifact file: other.onnx is" in result.out
    assert result.out.splitlines()[-1].startswith("NOT verified: 1 of ")


def test_a_tampered_approval_fails_with_exit_1_naming_each_check(bundle_file: Path, tmp_path: Path) -> None:
    bundle = json.loads(bundle_file.read_text())
    envelope = bundle["approvals"][1]["envelope"]
    envelope["payload"] = base64.b64encode(
        base64.b64decode(envelope["payload"]).replace(b"approve", b"reject")
    ).decode()
    bundle_file.write_text(json.dumps(bundle))

    result = assay("verify-release", str(bundle_file), cwd=tmp_path)

    assert result.code == 1
    assert "FAIL approval 2 (theo-technical, technical) signature: the signature does not verify" in result.out
    assert "FAIL approval 2 (theo-technical, technical) statement: not checked" in result.out
    assert "FAIL quorum: not met: 1 of 2 approvers" in result.out
    assert "NOT verified: 3 of" in result.out


def test_at_judges_another_moment(bundle_file: Path, tmp_path: Path) -> None:
    later = assay("verify-release", str(bundle_file), "--at", "2026-06-01T00:00:00+02:00", cwd=tmp_path)
    assert later.code == 1
    assert "expired after 30 days" in later.out

    assert assay("verify-release", str(bundle_file), "--at", "2026-03-02T11:00:00Z", cwd=tmp_path).code == 0


@pytest.mark.parametrize(
    ("at", "message"),
    [("2026-03-02T11:00:00", "give the offset too"), ("next tuesday", "is not an RFC 3339 time")],
)
def test_a_bad_at_is_a_usage_error(bundle_file: Path, tmp_path: Path, at: str, message: str) -> None:
    result = assay("verify-release", str(bundle_file), "--at", at, cwd=tmp_path)
    assert result.code == 2
    assert message in result.err


def test_unreadable_or_malformed_bundles_exit_2(tmp_path: Path) -> None:
    missing = assay("verify-release", str(tmp_path / "absent.json"), cwd=tmp_path)
    assert missing.code == 2
    assert "cannot read" in missing.err

    not_json = tmp_path / "notes.txt"
    not_json.write_text("hello")
    result = assay("verify-release", str(not_json), cwd=tmp_path)
    assert (result.code, result.out) == (2, "")
    assert "is not JSON" in result.err

    shape = tmp_path / "shape.json"
    bundle = SignedRelease().bundle()
    del bundle["policy"]
    shape.write_text(json.dumps(bundle))
    result = assay("verify-release", str(shape), cwd=tmp_path)
    assert result.code == 2
    assert "is not a release bundle (format v1): bundle: missing policy" in result.err


def test_without_cryptography_the_signing_commands_say_what_to_install(bundle_file: Path, tmp_path: Path) -> None:
    result = assay("verify-release", str(bundle_file), cwd=tmp_path, isolated=True)
    assert result.code == 2
    assert "needs the cryptography and rfc8785 packages" in result.err
    # The registration commands still start (and fail only for want of a token).
    assert assay("whoami", cwd=tmp_path, isolated=True).code == 1


# --- key generate -------------------------------------------------------------------------------------------------


def test_key_generate_writes_a_private_file_for_the_owner_only(tmp_path: Path) -> None:
    out = tmp_path / "keys" / "signing.pem"
    out.parent.mkdir()

    result = assay("key", "generate", "--out", str(out), cwd=tmp_path)

    assert result.code == 0, result.err
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    private = load_private_key(out.read_bytes())
    public = load_public_key(out.with_name("signing.pem.pub").read_text())
    assert fingerprint(public) == fingerprint(private)
    assert f"Fingerprint: {fingerprint(private)}" in result.out
    assert "-----BEGIN PUBLIC KEY-----" in result.out
    assert "ssh-ed25519 " in result.out
    assert "PRIVATE" not in result.out + result.err


def test_key_generate_creates_missing_folders_for_the_owner_only(tmp_path: Path) -> None:
    # GIVEN a fresh machine: no ~/.assay yet (HOME is the test's folder, so the README's ~ path is used as written)
    home = tmp_path / "home"
    home.mkdir(mode=0o755)

    # WHEN the README's first command runs
    result = assay("key", "generate", "--out", "~/.assay/keys/signing-key.pem", cwd=tmp_path, env={"HOME": str(home)})

    # THEN both missing folders exist, readable by their owner only, and hold the key pair
    assert result.code == 0, result.err
    for folder in (home / ".assay", home / ".assay" / "keys"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE(home.stat().st_mode) == 0o755  # a folder that existed is left alone
    assert stat.S_IMODE((home / ".assay" / "keys" / "signing-key.pem").stat().st_mode) == 0o600
    assert (home / ".assay" / "keys" / "signing-key.pem.pub").is_file()
    assert f"created the folder {home / '.assay'} (mode 0700)" in result.err
    assert f"Private key: {home / '.assay' / 'keys' / 'signing-key.pem'}" in result.out


def test_key_generate_never_overwrites(tmp_path: Path) -> None:
    out = tmp_path / "signing.pem"
    out.write_text("precious")
    result = assay("key", "generate", "--out", str(out), cwd=tmp_path)
    assert result.code == 2
    assert "exists; a key file is never overwritten" in result.err
    assert out.read_text() == "precious"

    (tmp_path / "other.pem.pub").write_text("precious too")
    assert assay("key", "generate", "--out", str(tmp_path / "other.pem"), cwd=tmp_path).code == 2
    assert not (tmp_path / "other.pem").exists()


def test_key_generate_encrypts_with_the_passphrase_variable(tmp_path: Path) -> None:
    out = tmp_path / "signing.pem"
    result = assay(
        "key", "generate", "--out", str(out), "--json", cwd=tmp_path, env={"ASSAY_KEY_PASSPHRASE": "s3cret pass"}
    )
    assert result.code == 0, result.err
    assert json.loads(result.out)["encrypted"] is True
    assert b"ENCRYPTED PRIVATE KEY" in out.read_bytes()
    assert fingerprint(load_private_key(out.read_bytes(), b"s3cret pass")) == json.loads(result.out)["fingerprint"]


# --- Refusals before anything is sent -----------------------------------------------------------------------------


def test_key_register_refuses_a_private_key_without_sending_it(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    path = tmp_path / "oops.pem"
    path.write_bytes(private_key_pem(Ed25519PrivateKey.generate()))
    env = {"ASSAY_URL": "http://127.0.0.1:9", "ASSAY_TOKEN": "assay_abcdefgh_secret"}
    result = assay("key", "register", "--public-key", str(path), cwd=tmp_path, env=env)
    assert result.code == 2
    assert "holds a private key; nothing was sent" in result.err


def test_key_register_refuses_a_non_ed25519_key_locally(tmp_path: Path) -> None:
    path = tmp_path / "rsa.pub"
    path.write_text("ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 user@host")
    env = {"ASSAY_URL": "http://127.0.0.1:9", "ASSAY_TOKEN": "assay_abcdefgh_secret"}
    result = assay("key", "register", "--public-key", str(path), cwd=tmp_path, env=env)
    assert result.code == 2
    assert "not an Ed25519 key: this is an OpenSSH ssh-rsa key" in result.err


class LyingServer(http.server.BaseHTTPRequestHandler):
    """Serves a manifest whose digest is not the digest of the manifest it sends; records any POST."""

    posts: list[str] = []

    def log_message(self, *args: Any) -> None:
        pass

    def _json(self, value: Any) -> None:
        body = json.dumps(value).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path.endswith("/manifest/"):
            honest = manifest()
            shown = {**honest, "datasets": []}  # what the reviewer would read is not what the digest covers
            self._json(
                {
                    "manifest": shown,
                    "manifest_digest": canonical_digest(honest),
                    "artifact": honest["artifact"],
                    "subject_name": "credit-risk/Churn scorer@v3",
                    "release": "5b0c3c4e",
                }
            )
        else:
            self._json({"username": "lena-legal", "id": 1})

    def do_POST(self) -> None:
        LyingServer.posts.append(self.path)
        self._json({})


@pytest.fixture
def lying_server() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), LyingServer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_release_sign_refuses_a_manifest_whose_digest_does_not_match(lying_server: str, tmp_path: Path) -> None:
    key = tmp_path / "signing.pem"
    assert assay("key", "generate", "--out", str(key), cwd=tmp_path).code == 0
    env = {"ASSAY_URL": lying_server, "ASSAY_TOKEN": "assay_abcdefgh_secret"}

    result = assay(
        "release", "sign", "7", "--key", str(key), "--role", "legal", "--decision", "approve", cwd=tmp_path, env=env
    )

    assert result.code == 1
    assert "The manifest's digest does not match" in result.err
    assert "Nothing was signed." in result.err
    assert LyingServer.posts == []


def test_release_sign_needs_a_readable_key(tmp_path: Path) -> None:
    env = {"ASSAY_URL": "http://127.0.0.1:9", "ASSAY_TOKEN": "assay_abcdefgh_secret"}
    args = ["release", "sign", "7", "--role", "legal", "--decision", "approve"]
    missing = assay(*args, "--key", str(tmp_path / "absent.pem"), cwd=tmp_path, env=env)
    assert missing.code == 2
    assert "--key: cannot read" in missing.err

    encrypted = tmp_path / "encrypted.pem"
    generated = assay(
        "key", "generate", "--out", str(encrypted), cwd=tmp_path, env={"ASSAY_KEY_PASSPHRASE": "pw pw pw"}
    )
    assert generated.code == 0
    locked = assay(*args, "--key", str(encrypted), cwd=tmp_path, env=env)
    assert locked.code == 2
    assert "encrypted: a passphrase is needed (set ASSAY_KEY_PASSPHRASE)" in locked.err


def test_release_sign_refuses_a_role_that_is_not_a_board_role(tmp_path: Path) -> None:
    result = assay("release", "sign", "7", "--key", "k.pem", "--role", "chief", "--decision", "approve", cwd=tmp_path)
    assert result.code == 2
    assert "invalid choice: 'chief'" in result.err
