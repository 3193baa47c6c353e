"""The audit management commands, through call_command and through the command line's exit status."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.management import call_command, execute_from_command_line
from django.core.management.base import CommandError
from django.db import connection, transaction

from core import audit, audit_triggers
from core.audit import record_event
from core.choices import AuditEventType
from core.models import AuditCheckpoint, AuditEvent


def run(name: str, *args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(name, *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def exit_status(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run a command as ``manage.py`` would; its exit status, stdout and stderr."""
    try:
        execute_from_command_line(["manage.py", *argv])
    except SystemExit as exc:
        status = int(exc.code or 0)
    else:
        status = 0
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def append(count: int) -> None:
    with transaction.atomic():
        for number in range(count):
            record_event(AuditEventType.TEAM_UPDATED, actor=None, metadata={"n": number})


@pytest.fixture
def five(db: None) -> list[AuditEvent]:
    append(5)
    return list(AuditEvent.objects.order_by("seq"))


def test_verify_chain_reports_intact(five):
    """GIVEN an intact chain of five WHEN verified THEN it says so, naming the head."""
    out, _ = run("verify_audit_chain")
    assert out == f"intact: 5 events, head #5 {five[-1].hash}\n"


def test_verify_chain_on_an_empty_log(db):
    """GIVEN no events WHEN verified THEN it says the log is empty and succeeds."""
    assert run("verify_audit_chain")[0] == "intact: 0 events (the audit log is empty)\n"


def test_verify_chain_names_the_broken_row(five):
    """GIVEN an edited row WHEN verified THEN the command fails with status 1, naming seq, id and reason."""
    audit_triggers.remove(connection)
    AuditEvent.objects.filter(seq=3).update(actor_name="mallory")
    with pytest.raises(CommandError, match=r"^broken: row #3 \(id \d+\): content does not match its hash") as failure:
        run("verify_audit_chain")
    assert failure.value.returncode == 1
    assert str(failure.value) == (
        f"broken: row #3 (id {five[2].pk}): content does not match its hash (the row was edited); "
        "2 events verified before it"
    )


def test_export_writes_a_signed_checkpoint_to_stdout(five):
    """GIVEN a chain WHEN a checkpoint is exported THEN stdout holds the self-contained signed JSON of the head and
    the signing is recorded."""
    out, _ = run("export_audit_checkpoint")
    document = json.loads(out)
    assert set(document) == {"payload", "signature", "public_key", "algorithm"}
    assert json.loads(document["payload"])["head_hash"] == five[-1].hash
    assert audit.verify_checkpoint(document)[0]
    assert AuditCheckpoint.objects.count() == 1
    assert AuditEvent.objects.get(seq=6).event_type == AuditEventType.AUDIT_CHECKPOINT_SIGNED


def test_export_to_a_file_then_verify_it(five, tmp_path):
    """GIVEN a checkpoint exported to a file WHEN the file is verified, alone and with the chain THEN both pass;
    exporting over it again is refused."""
    path = tmp_path / "checkpoint.json"
    _, err = run("export_audit_checkpoint", "--output", str(path))
    assert f"signed head #5 {five[-1].hash}" in err
    assert run("verify_audit_checkpoint", str(path))[0] == (
        "valid: row #5 has the signed hash and the chain is intact up to it\n"
    )
    out, _ = run("verify_audit_chain", "--checkpoint", str(path))
    assert (
        out.splitlines()[1] == f"checkpoint {path}: valid: row #5 has the signed hash and the chain is intact up to it"
    )
    with pytest.raises(CommandError, match="exists"):
        run("export_audit_checkpoint", "--output", str(path))


def test_export_of_an_empty_log_fails(db):
    """GIVEN no events WHEN a checkpoint is exported THEN the command fails and nothing is signed."""
    with pytest.raises(CommandError, match="empty") as failure:
        run("export_audit_checkpoint")
    assert failure.value.returncode == 1
    assert not AuditCheckpoint.objects.exists()


def test_verify_checkpoint_with_a_pinned_key(five, tmp_path):
    """GIVEN an exported checkpoint WHEN verified against a pinned public key THEN it passes with the server's key
    and fails with a stranger's."""
    path = tmp_path / "checkpoint.json"
    run("export_audit_checkpoint", "--output", str(path))
    server_key, stranger_key = tmp_path / "server.pem", tmp_path / "stranger.pem"
    server_key.write_text(json.loads(path.read_text())["public_key"])
    stranger_key.write_text(audit.public_key_pem(Ed25519PrivateKey.generate().public_key()))
    assert run("verify_audit_checkpoint", str(path), "--public-key", str(server_key))[0].startswith("valid")
    with pytest.raises(CommandError, match="neither the current signing key") as failure:
        run("verify_audit_checkpoint", str(path), "--public-key", str(stranger_key))
    assert failure.value.returncode == 1


@pytest.mark.parametrize(("content", "message"), [("{not json", "is not JSON"), ("[1, 2]", "expected a JSON object")])
def test_verify_checkpoint_refuses_a_file_that_is_not_a_checkpoint(db, tmp_path, content, message):
    """GIVEN a file that is not an exported checkpoint WHEN verified THEN the command fails, saying why."""
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(CommandError, match=message):
        run("verify_audit_checkpoint", str(path))


def test_generate_signing_key_prints_a_usable_key(db, settings):
    """GIVEN nothing WHEN a signing key is generated THEN stdout is an Ed25519 PKCS#8 PEM that signs checkpoints,
    and stderr gives its public key's fingerprint."""
    out, err = run("generate_signing_key")
    assert out.startswith("-----BEGIN PRIVATE KEY-----\n")
    key = serialization.load_pem_private_key(out.encode(), password=None)
    assert isinstance(key, Ed25519PrivateKey)
    assert err.startswith(f"fingerprint: {audit.key_fingerprint(key.public_key())}\n-----BEGIN PUBLIC KEY-----")
    assert run("generate_signing_key")[0] != out
    settings.AUDIT_SIGNING_KEY = out
    append(1)
    checkpoint = audit.sign_checkpoint(actor=None)
    assert checkpoint.key_fingerprint == audit.key_fingerprint(key.public_key())


def test_exit_status_from_the_command_line(transactional_db, capsys, tmp_path):
    """GIVEN a committed chain and a checkpoint kept outside WHEN the commands run as from a shell THEN the status
    is 0 while all holds, and 1 once the tail is cut, naming the truncation (the chain alone still passes)."""
    append(5)
    path = tmp_path / "kept.json"
    status, _, _ = exit_status(capsys, "export_audit_checkpoint", "--output", str(path))
    assert status == 0
    status, out, _ = exit_status(capsys, "verify_audit_chain", "--checkpoint", str(path))
    assert (status, out.splitlines()[0]) == (0, f"intact: 6 events, head #6 {AuditEvent.objects.get(seq=6).hash}")

    audit_triggers.remove(connection)
    AuditEvent.objects.filter(seq__gte=5).delete()
    status, out, _ = exit_status(capsys, "verify_audit_chain")
    assert (status, out.startswith("intact: 4 events")) == (0, True)
    status, out, err = exit_status(capsys, "verify_audit_chain", "--checkpoint", str(path))
    assert status == 1
    assert "rows at the end were deleted" in err
    status, _, err = exit_status(capsys, "verify_audit_checkpoint", str(path))
    assert status == 1
    assert err.strip() == (
        "CommandError: INVALID: the chain ends at row #4 but this checkpoint signed row #5: "
        "rows at the end were deleted"
    )

    AuditEvent.objects.filter(seq=2).update(actor_name="mallory")
    status, _, err = exit_status(capsys, "verify_audit_chain")
    assert status == 1
    assert "broken: row #2" in err
