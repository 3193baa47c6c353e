"""Settings from the environment fail loudly, production refuses to start half-configured, and the system checks fire
on the mistakes they name."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.rsa import generate_private_key
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from assay import env
from core import checks

ROOT = Path(__file__).resolve().parents[2]

# --- The typed helpers ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("1", True), ("true", True), ("YES", True), (" on ", True), ("0", False), ("False", False), ("off", False)],
)
def test_env_bool_reads_the_usual_spellings(monkeypatch: pytest.MonkeyPatch, raw: str, expected: bool) -> None:
    monkeypatch.setenv("ASSAY_T_BOOL", raw)
    assert env.env_bool("ASSAY_T_BOOL", not expected) is expected


def test_env_bool_default_when_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ASSAY_T_BOOL", raising=False)
    assert env.env_bool("ASSAY_T_BOOL", True) is True


@pytest.mark.parametrize("raw", ["maybe", "2", "enabled", "y e s"])
def test_env_bool_refuses_anything_else(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv("ASSAY_T_BOOL", raw)
    with pytest.raises(ImproperlyConfigured, match=r"ASSAY_T_BOOL=.* is not a boolean"):
        env.env_bool("ASSAY_T_BOOL", False)


def test_env_int_reads_and_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASSAY_T_INT", " 42 ")
    assert env.env_int("ASSAY_T_INT", 7) == 42
    monkeypatch.setenv("ASSAY_T_INT", "")
    assert env.env_int("ASSAY_T_INT", 7) == 7
    monkeypatch.delenv("ASSAY_T_INT")
    assert env.env_int("ASSAY_T_INT", 7) == 7


@pytest.mark.parametrize("raw", ["forty", "4.5", "1e3", "0x10"])
def test_env_int_refuses_non_integers(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv("ASSAY_T_INT", raw)
    with pytest.raises(ImproperlyConfigured, match=r"ASSAY_T_INT=.* is not an integer"):
        env.env_int("ASSAY_T_INT", 1)


def test_env_int_refuses_values_below_minimum(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASSAY_T_INT", "0")
    with pytest.raises(ImproperlyConfigured, match="ASSAY_T_INT=0 is below its minimum of 1"):
        env.env_int("ASSAY_T_INT", 5, minimum=1)


def test_env_float_reads_defaults_and_refuses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASSAY_T_FLOAT", " 0.5 ")
    assert env.env_float("ASSAY_T_FLOAT", 2.0) == 0.5
    monkeypatch.delenv("ASSAY_T_FLOAT")
    assert env.env_float("ASSAY_T_FLOAT", 2.0) == 2.0
    for raw, message in [("half", "is not a number"), ("nan", "is not a finite number"), ("0.01", "below its minimum")]:
        monkeypatch.setenv("ASSAY_T_FLOAT", raw)
        with pytest.raises(ImproperlyConfigured, match=message):
            env.env_float("ASSAY_T_FLOAT", 1.0, minimum=0.05)


def test_env_list_reads_items_and_empty(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASSAY_T_LIST", "a.example, b.example ,c")
    assert env.env_list("ASSAY_T_LIST", []) == ["a.example", "b.example", "c"]
    monkeypatch.setenv("ASSAY_T_LIST", "  ")
    assert env.env_list("ASSAY_T_LIST", ["default"]) == []
    monkeypatch.delenv("ASSAY_T_LIST")
    assert env.env_list("ASSAY_T_LIST", ["default"]) == ["default"]


@pytest.mark.parametrize("raw", ["a,,b", "a,", ",a", "assay.example other.example"])
def test_env_list_refuses_empty_items_and_spaces(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv("ASSAY_T_LIST", raw)
    with pytest.raises(ImproperlyConfigured, match="is not a comma-separated list"):
        env.env_list("ASSAY_T_LIST", [])


def test_env_choice_normalises_and_refuses_unknown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASSAY_T_CHOICE", " Production ")
    assert env.env_choice("ASSAY_T_CHOICE", "development", ("development", "production")) == "production"
    monkeypatch.setenv("ASSAY_T_CHOICE", "staging")
    with pytest.raises(ImproperlyConfigured, match="must be one of: development, production"):
        env.env_choice("ASSAY_T_CHOICE", "development", ("development", "production"))


@pytest.mark.parametrize("raw", ["60/min", "5/s", "1000/hour", "10/day"])
def test_env_rate_reads_throttle_rates(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv("ASSAY_T_RATE", raw)
    assert env.env_rate("ASSAY_T_RATE", "1/s") == raw


@pytest.mark.parametrize("raw", ["60", "60 per minute", "sixty/min", "60/ms", "60/week"])
def test_env_rate_refuses_what_drf_would_misread(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv("ASSAY_T_RATE", raw)
    with pytest.raises(ImproperlyConfigured, match="is not a rate such as 60/min"):
        env.env_rate("ASSAY_T_RATE", "1/s")


def test_env_str_required_when_no_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ASSAY_T_STR", raising=False)
    monkeypatch.delenv("ASSAY_T_STR_FILE", raising=False)
    with pytest.raises(ImproperlyConfigured, match="The environment variable ASSAY_T_STR is required"):
        env.env_str("ASSAY_T_STR")


def test_file_variant_is_read_and_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("from-the-file\n", encoding="utf-8")
    monkeypatch.setenv("ASSAY_T_STR", "from-the-variable")
    monkeypatch.setenv("ASSAY_T_STR_FILE", str(secret))
    assert env.env_str("ASSAY_T_STR") == "from-the-file"


def test_unreadable_file_variant_fails(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ASSAY_T_STR_FILE", str(tmp_path / "missing"))
    with pytest.raises(ImproperlyConfigured, match=r"ASSAY_T_STR_FILE=.* cannot be read"):
        env.env_str("ASSAY_T_STR", "default")
    monkeypatch.setenv("ASSAY_T_STR_FILE", str(tmp_path))  # a folder, not a file
    with pytest.raises(ImproperlyConfigured, match="cannot be read"):
        env.env_optional("ASSAY_T_STR")


def test_env_path_expands_and_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ASSAY_T_PATH", str(tmp_path / "a" / ".." / "b"))
    assert env.env_path("ASSAY_T_PATH", Path("/nowhere")) == tmp_path / "b"
    monkeypatch.delenv("ASSAY_T_PATH")
    assert env.env_path("ASSAY_T_PATH", Path("/nowhere")) == Path("/nowhere")


# --- Whole settings, in a fresh interpreter -------------------------------------------------------------------------

_OURS = (
    "ASSAY_",
    "SECRET_KEY",
    "AUDIT_SIGNING_KEY",
    "DATABASE_",
    "CELERY_",
    "ALLOWED_HOSTS",
    "DEBUG",
    "ARTIFACT_ROOT",
    "API_",
    "LOGIN_",
    "DJANGO_",  # DJANGO_ALLOW_ASYNC_UNSAFE, set by the browser tests, is itself a deploy-check error
)


def _ed25519_pem() -> str:
    key = Ed25519PrivateKey.generate()
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def _run(code_or_args: list[str], tmp_path: Path, **variables: str) -> subprocess.CompletedProcess[str]:
    """Run Python in a clean environment: none of our variables leak in from the test run."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(_OURS)}
    clean.update(DJANGO_SETTINGS_MODULE="assay.settings", ASSAY_DATA_DIR=str(tmp_path / "data"), **variables)
    return subprocess.run(
        [sys.executable, *code_or_args], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=120, check=False
    )


SETUP = ["-c", "import django; django.setup(); print('started')"]


def _production(**overrides: str) -> dict[str, str]:
    variables = {
        "ASSAY_ENV": "production",
        "SECRET_KEY": "x" * 60 + "-a-long-random-production-secret",
        "AUDIT_SIGNING_KEY": _ed25519_pem(),
        "ALLOWED_HOSTS": "assay.example.org",
        "DATABASE_URL": "postgres://assay@db.internal:5432/assay",
        "CELERY_BROKER_URL": "redis://redis.internal:6379/0",
        "EMAIL_HOST": "smtp.internal",
    }
    variables.update(overrides)
    return {k: v for k, v in variables.items() if v}


def test_production_without_secret_key_refuses_to_start(tmp_path: Path) -> None:
    result = _run(SETUP, tmp_path, **_production(SECRET_KEY=""))
    assert result.returncode != 0
    assert "The environment variable SECRET_KEY is required." in result.stderr
    assert "started" not in result.stdout


def test_production_without_signing_key_refuses_to_start(tmp_path: Path) -> None:
    result = _run(SETUP, tmp_path, **_production(AUDIT_SIGNING_KEY=""))
    assert result.returncode != 0
    assert "The environment variable AUDIT_SIGNING_KEY is required." in result.stderr


def test_production_with_debug_refuses_to_start(tmp_path: Path) -> None:
    result = _run(SETUP, tmp_path, **_production(DEBUG="true"))
    assert result.returncode != 0
    assert "DEBUG must be off when ASSAY_ENV=production." in result.stderr


def test_production_does_not_invent_keys(tmp_path: Path) -> None:
    result = _run(SETUP, tmp_path, **_production())
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "data" / "secret_key").exists()
    assert not (tmp_path / "data" / "audit_signing_key.pem").exists()


def test_malformed_value_stops_start_with_its_name(tmp_path: Path) -> None:
    result = _run(SETUP, tmp_path, LOGIN_FAILURE_LIMIT="five")
    assert result.returncode != 0
    assert "LOGIN_FAILURE_LIMIT='five' is not an integer." in result.stderr


def test_token_default_lifetime_above_maximum_is_refused(tmp_path: Path) -> None:
    result = _run(SETUP, tmp_path, API_TOKEN_DEFAULT_TTL_DAYS="400", API_TOKEN_MAX_TTL_DAYS="365")
    assert result.returncode != 0
    assert "API_TOKEN_DEFAULT_TTL_DAYS (400) is above API_TOKEN_MAX_TTL_DAYS (365)" in result.stderr


def test_unsupported_database_is_refused(tmp_path: Path) -> None:
    result = _run(SETUP, tmp_path, DATABASE_URL="mysql://root@127.0.0.1/assay")
    assert result.returncode != 0
    assert "DATABASE_URL must name PostgreSQL" in result.stderr


def test_development_keeps_generated_keys_private_and_stable(tmp_path: Path) -> None:
    show = ["-c", "import django; django.setup(); from django.conf import settings; print(settings.SECRET_KEY)"]
    first = _run(show, tmp_path)
    second = _run(show, tmp_path)
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout
    for name in ("secret_key", "audit_signing_key.pem"):
        assert (tmp_path / "data" / name).stat().st_mode & 0o077 == 0, f"{name} is readable by others"


def test_production_settings_pass_the_deploy_check(tmp_path: Path) -> None:
    result = _run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], tmp_path, **_production())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_every_source_map_a_static_file_names_exists() -> None:
    # Production's manifest storage (collectstatic) refuses a file that names a missing one: a vendored script's
    # ``sourceMappingURL`` must name a map that was vendored too, or be removed.
    for path in (ROOT / "static").rglob("*"):
        if path.suffix not in {".js", ".css"}:
            continue
        for name in re.findall(r"sourceMappingURL=([^\s*]+)", path.read_text(errors="replace")):
            assert (path.parent / name).is_file(), f"{path.relative_to(ROOT)} names {name}, which is not there"


def test_deploy_check_warns_about_embedded_backends_in_production(tmp_path: Path) -> None:
    result = _run(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        tmp_path,
        **_production(
            DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}", CELERY_BROKER_URL="filesystem://", EMAIL_HOST=""
        ),
    )
    assert result.returncode != 0
    assert "assay.W001" in result.stderr
    assert "assay.W002" in result.stderr
    assert "assay.W003" in result.stderr


# --- The system checks ----------------------------------------------------------------------------------------------


def _ids(messages: list[Any]) -> list[str]:
    return [message.id for message in messages]


def test_signing_key_check_accepts_an_ed25519_key() -> None:
    with override_settings(AUDIT_SIGNING_KEY=_ed25519_pem()):
        assert checks.check_audit_signing_key(None) == []


@pytest.mark.parametrize("value", ["", "not a key", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"])
def test_signing_key_check_refuses_garbage(value: str) -> None:
    with override_settings(AUDIT_SIGNING_KEY=value):
        assert _ids(checks.check_audit_signing_key(None)) == ["assay.E001"]


def test_signing_key_check_refuses_other_algorithms() -> None:
    rsa = generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with override_settings(AUDIT_SIGNING_KEY=rsa.decode()):
        messages = checks.check_audit_signing_key(None)
    assert _ids(messages) == ["assay.E001"]
    assert "must be an Ed25519 key" in messages[0].msg


def test_signing_key_check_refuses_an_encrypted_key() -> None:
    encrypted = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"passphrase"),
    )
    with override_settings(AUDIT_SIGNING_KEY=encrypted.decode()):
        assert _ids(checks.check_audit_signing_key(None)) == ["assay.E001"]


def test_artifact_root_check_accepts_a_folder_to_be_created(tmp_path: Path) -> None:
    with override_settings(ARTIFACT_ROOT=tmp_path / "not" / "yet" / "there"):
        assert checks.check_artifact_root(None) == []


def test_artifact_root_check_refuses_a_path_under_a_file(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("", encoding="utf-8")
    with override_settings(ARTIFACT_ROOT=blocker / "artifacts"):
        messages = checks.check_artifact_root(None)
    assert _ids(messages) == ["assay.E002"]
    assert "is not a folder" in messages[0].msg


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into any folder, whatever its mode")
def test_artifact_root_check_refuses_a_read_only_folder(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    with override_settings(ARTIFACT_ROOT=locked / "artifacts"):
        assert _ids(checks.check_artifact_root(None)) == ["assay.E002"]


def test_backend_checks_warn_on_sqlite_and_filesystem_broker() -> None:
    sqlite = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": "x.sqlite3"}}
    with override_settings(DATABASES=sqlite, CELERY_BROKER_URL="filesystem://"):
        assert _ids(checks.check_production_backends(None)) == ["assay.W001", "assay.W002"]


def test_backend_checks_warn_when_notifications_are_not_emailed() -> None:
    postgres = {"default": {"ENGINE": "django.db.backends.postgresql", "NAME": "assay"}}
    filebased = "django.core.mail.backends.filebased.EmailBackend"
    with override_settings(DATABASES=postgres, CELERY_BROKER_URL="redis://127.0.0.1:6379/0", EMAIL_BACKEND=filebased):
        assert _ids(checks.check_production_backends(None)) == ["assay.W003"]


def test_backend_checks_quiet_on_postgresql_and_redis() -> None:
    postgres = {"default": {"ENGINE": "django.db.backends.postgresql", "NAME": "assay"}}
    with override_settings(DATABASES=postgres, CELERY_BROKER_URL="redis://127.0.0.1:6379/0"):
        assert checks.check_production_backends(None) == []


def test_unreadable_trusted_public_keys_fail_the_check():
    """GIVEN AUDIT_TRUSTED_PUBLIC_KEYS holding a PEM block that is not a key
    WHEN the system checks run
    THEN assay.E003 names the setting, instead of failing later when an auditor verifies a checkpoint."""
    from core.checks import check_trusted_public_keys

    garbage = "-----BEGIN PUBLIC KEY-----\nbm90IGEga2V5\n-----END PUBLIC KEY-----"
    with override_settings(AUDIT_TRUSTED_PUBLIC_KEYS=garbage):
        [error] = check_trusted_public_keys(None)
    assert error.id == "assay.E003"
    assert "AUDIT_TRUSTED_PUBLIC_KEYS" in error.msg
    assert check_trusted_public_keys(None) == []
