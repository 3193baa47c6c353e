"""Slow or hostile models must never stall the API (issue #10): validations are bounded in time, limited in number
host-wide (a pool of lock-file slots), refused with 503 and Retry-After beyond that, and the web server's timeout and
threads are set with the validator's limits in one place (gunicorn.conf.py reads the settings; checks E010/E011).

The last test drives it all through real HTTP: gunicorn as the Procfile runs it, on the test database, with hostile
uploads in flight while ``/api/v1/me/`` keeps answering.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.core.files.uploadedfile import SimpleUploadedFile

from core import actions as core_actions
from core.checks import check_validation_limits
from core.models import Job
from registry import actions as registry_actions
from registry.models import ModelVersion
from registry.onnx_validation import (
    OnnxValidationError,
    Refusal,
    ValidationSlots,
    ValidatorBusy,
    validate_onnx,
)
from tests.workers.conftest import database_url

from . import hostile_onnx
from .conftest import Models
from .factories import chunks_of, make_model

REPO = Path(__file__).resolve().parents[2]
GUNICORN = Path(sys.executable).parent / "gunicorn"


def held_slots(folder: Path) -> int:
    """How many slot files of ``folder`` some process holds a lock on right now (read from /proc/locks, which
    takes no lock itself and so cannot steal a slot from the server)."""
    inodes = {str(path.stat().st_ino) for path in folder.glob("slot-*.lock")}
    held = 0
    for line in Path("/proc/locks").read_text().splitlines():
        fields = line.split()
        if len(fields) > 5 and fields[1] == "FLOCK" and fields[5].rsplit(":", 1)[-1] in inodes:
            held += 1
    return held


# --- The slots ---------------------------------------------------------------------------------------------------


def test_slots_exclude_threads_of_one_process_and_other_processes(tmp_path: Path) -> None:
    """GIVEN a pool of two slots
    WHEN one thread holds a slot and another process holds the other
    THEN a third taker is refused at once with ValidatorBusy (its Retry-After given), and a slot is free again as
    soon as its holder lets go or dies."""
    slots = ValidationSlots(tmp_path / "slots", 2)
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with slots.hold():
            holding.set()
            release.wait(10)

    thread = threading.Thread(target=hold)
    thread.start()
    assert holding.wait(10)
    # Another process: the remaining slot file, locked and kept until the process is killed.
    script = (
        "import fcntl, os, sys, time\n"
        "for i in range(2):\n"
        "    fd = os.open(f'{sys.argv[1]}/slot-{i}.lock', os.O_RDWR | os.O_CREAT)\n"
        "    try:\n"
        "        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)\n"
        "    except BlockingIOError:\n"
        "        continue\n"
        "    print(i, flush=True)\n"
        "    time.sleep(60)\n"
    )
    other = subprocess.Popen([sys.executable, "-c", script, str(slots.folder)], stdout=subprocess.PIPE)
    try:
        assert other.stdout is not None
        assert other.stdout.readline().strip() == b"1"
        assert held_slots(slots.folder) == 2

        started = time.monotonic()
        with (
            pytest.raises(ValidatorBusy, match=r"All 2 model validation slots .* try again in 7 seconds") as busy,
            slots.hold(retry_after=7),
        ):
            pass
        assert time.monotonic() - started < 1
        assert busy.value.retry_after == 7
        assert "All 2 model validation slots" in str(busy.value)
    finally:
        other.kill()
        other.wait()
    with slots.hold() as index:  # the dead process's slot
        assert index == 1
    release.set()
    thread.join()
    assert held_slots(slots.folder) == 0


def test_a_waiting_taker_gets_the_slot_when_it_frees(tmp_path: Path) -> None:
    """GIVEN one slot, held for a moment by another thread
    WHEN a background caller asks for it with a wait
    THEN it gets it once freed, instead of being refused."""
    slots = ValidationSlots(tmp_path / "slots", 1)
    holding = threading.Event()

    def hold_briefly() -> None:
        with slots.hold():
            holding.set()
            time.sleep(0.5)

    thread = threading.Thread(target=hold_briefly)
    thread.start()
    assert holding.wait(10)
    with slots.hold(wait_seconds=10) as index:
        assert index == 0
    thread.join()


def test_validation_beyond_the_slots_is_refused_before_any_child_starts(models: Models, tmp_path: Path) -> None:
    """GIVEN every validation slot taken
    WHEN a model is validated without waiting
    THEN ValidatorBusy is raised and no private folder was made; a file the sniff refuses needs no slot and is
    refused for what it is; with a wait, validation proceeds once the slot frees."""
    slots = ValidationSlots(tmp_path / "slots", 1)
    with slots.hold():
        with pytest.raises(ValidatorBusy, match=r"All 1 model validation slots of this server are busy"):
            validate_onnx(models.add, slots=slots)
        assert not list(models.folder.glob(".onnx-check-*"))
        with pytest.raises(OnnxValidationError, match=r"^pickle: ") as refused:
            validate_onnx(models.pickle, slots=slots)
        assert refused.value.code == Refusal.PICKLE

    assert validate_onnx(models.add, slots=slots, wait_for_slot_seconds=5).inputs


@pytest.mark.django_db
def test_an_upload_beyond_the_slots_gets_503_with_retry_after(
    cast: Any, api_as: Any, models: Models, settings: Any, tmp_path: Path
) -> None:
    """GIVEN every validation slot of the host taken (ARTIFACT_VALIDATION_CONCURRENCY lock files under DATA_DIR)
    WHEN an engineer uploads a model version
    THEN the answer is 503 with Retry-After (the validation time limit) and the JSON error envelope, and no version
    is registered."""
    settings.ARTIFACT_ROOT = tmp_path / "artifacts"
    settings.DATA_DIR = tmp_path / "data"
    settings.ARTIFACT_VALIDATION_CONCURRENCY = 1
    settings.ARTIFACT_VALIDATION_SECONDS = 7
    model = make_model(cast.team_a, cast.engineer_a)
    engineer = api_as(cast.engineer_a)

    with ValidationSlots(tmp_path / "data" / "validation-slots", 1).hold():
        upload = SimpleUploadedFile("add.onnx", models.add.read_bytes())
        response = engineer.post(f"/api/v1/models/{model.pk}/versions/", {"file": upload}, format="multipart")

    assert response.status_code == 503, response.content
    assert response["Retry-After"] == "7"
    assert response.json()["error"]["code"] == "validators_busy"
    assert not ModelVersion.objects.filter(model=model).exists()

    upload = SimpleUploadedFile("add.onnx", models.add.read_bytes())
    response = engineer.post(f"/api/v1/models/{model.pk}/versions/", {"file": upload}, format="multipart")
    assert response.status_code == 201, response.content


@pytest.mark.django_db
def test_a_training_job_waits_for_a_slot_where_a_web_upload_is_refused(
    cast: Any, models: Models, settings: Any, tmp_path: Path
) -> None:
    """GIVEN the host's one validation slot held for a moment
    WHEN a version is registered without a job (a web upload), then by a training job
    THEN the first is refused at once (ValidatorBusy) and the job's waits for the slot and registers its version."""
    settings.ARTIFACT_ROOT = tmp_path / "artifacts"
    settings.DATA_DIR = tmp_path / "data"
    settings.ARTIFACT_VALIDATION_CONCURRENCY = 1
    model = make_model(cast.team_a, cast.engineer_a)
    slots = ValidationSlots(tmp_path / "data" / "validation-slots", 1)

    with slots.hold(), pytest.raises(ValidatorBusy, match=r"All 1 model validation slots of this server are busy"):
        registry_actions.do_register_model_version(model, actor=cast.engineer_a, chunks=chunks_of(models.add))

    job = Job.objects.create(kind="registry.train_model", team=cast.team_a, requested_by=cast.engineer_a)
    holding = threading.Event()

    def hold_briefly() -> None:
        with slots.hold():
            holding.set()
            time.sleep(0.5)

    thread = threading.Thread(target=hold_briefly)
    thread.start()
    assert holding.wait(10)
    version = registry_actions.do_register_model_version(
        model, actor=cast.engineer_a, chunks=chunks_of(models.add), job=job
    )
    thread.join()
    assert version.job_id == job.pk


# --- One place for the limits --------------------------------------------------------------------------------------


def test_the_default_limits_are_consistent() -> None:
    """GIVEN the settings as shipped
    THEN the validation limit is half the web timeout and the checks find nothing."""
    assert django_settings.ARTIFACT_VALIDATION_SECONDS * 2 <= django_settings.WEB_TIMEOUT_SECONDS
    assert check_validation_limits(None) == []


def test_checks_refuse_a_validation_limit_the_web_timeout_cannot_hold(settings: Any) -> None:
    """GIVEN a validation limit over half the web timeout, or as many validation slots as web threads
    WHEN the system checks run
    THEN each is an error naming both settings."""
    settings.WEB_TIMEOUT_SECONDS = 30
    settings.ARTIFACT_VALIDATION_SECONDS = 120
    settings.WEB_THREADS = 2
    settings.ARTIFACT_VALIDATION_CONCURRENCY = 2
    settings.EXPLAIN_BUILD_WAIT_SECONDS = 10  # within the timeout (assay.E012: tests/audits/test_local_explain.py)

    errors = {error.id: error.msg for error in check_validation_limits(None)}

    assert set(errors) == {"assay.E010", "assay.E011"}
    assert "ARTIFACT_VALIDATION_SECONDS (120)" in errors["assay.E010"]
    assert "WEB_TIMEOUT_SECONDS (30)" in errors["assay.E010"]
    assert "WEB_THREADS (2)" in errors["assay.E011"]


def _server_environment(tmp_path: Path, **overrides: str) -> dict[str, str]:
    environment = {key: value for key, value in os.environ.items() if key not in {"DJANGO_SETTINGS_MODULE"}}
    environment.update(
        {
            "ASSAY_DATA_DIR": str(tmp_path / "data"),
            "ARTIFACT_ROOT": str(tmp_path / "artifacts"),
            "SECRET_KEY": django_settings.SECRET_KEY,
            "AUDIT_SIGNING_KEY": django_settings.AUDIT_SIGNING_KEY,
            "PYTHONUNBUFFERED": "1",
        }
    )
    environment.update(overrides)
    return environment


def test_gunicorn_reads_its_timeout_from_the_settings_and_refuses_inconsistent_ones(tmp_path: Path) -> None:
    """GIVEN gunicorn started with the repository's configuration, as the Procfile does
    WHEN the settings are consistent, and then when the validation limit exceeds half the web timeout
    THEN its timeout and threads are the settings', its workers threaded; inconsistent settings stop it at start."""
    printed = subprocess.run(
        [GUNICORN, "assay.wsgi", "--config", "gunicorn.conf.py", "--print-config"],
        cwd=REPO,
        env=_server_environment(tmp_path, WEB_TIMEOUT_SECONDS="44", WEB_THREADS="5"),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    config = dict(line.split("=", 1) for line in printed.splitlines() if "=" in line)
    config = {key.strip(): value.strip() for key, value in config.items()}
    assert config["timeout"] == "44"
    assert config["threads"] == "5"
    assert config["worker_class"] == "gthread"

    refused = subprocess.run(
        [GUNICORN, "assay.wsgi", "--config", "gunicorn.conf.py", "--check-config"],
        cwd=REPO,
        env=_server_environment(tmp_path, WEB_TIMEOUT_SECONDS="20", ARTIFACT_VALIDATION_SECONDS="15"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert refused.returncode != 0
    assert "assay.E010" in refused.stderr + refused.stdout


def test_the_procfile_runs_gunicorn_with_its_configuration() -> None:
    web = next(line for line in (REPO / "Procfile").read_text().splitlines() if line.startswith("web:"))
    assert "--config gunicorn.conf.py" in web


# --- Through real HTTP ---------------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Http:
    def __init__(self, base: str, token: str) -> None:
        self.base = base
        self.token = token

    def request(
        self, method: str, path: str, body: bytes | None = None, content_type: str = ""
    ) -> tuple[int, Any, Any]:
        """(status, headers, parsed JSON body or the raw text)"""
        headers = {"Authorization": f"Bearer {self.token}"}
        if content_type:
            headers["Content-Type"] = content_type
        request = urllib.request.Request(self.base + path, data=body, method=method, headers=headers)  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - our own test server
                status, answer_headers, raw = response.status, response.headers, response.read()
        except urllib.error.HTTPError as error:
            status, answer_headers, raw = error.code, error.headers, error.read()
        try:
            return status, answer_headers, json.loads(raw)
        except ValueError:
            return status, answer_headers, raw.decode(errors="replace")

    def upload(self, model_pk: int, name: str, data: bytes) -> tuple[int, Any, Any]:
        boundary = uuid.uuid4().hex
        body = (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
                "Content-Type: application/octet-stream\r\n\r\n"
            ).encode()
            + data
            + f"\r\n--{boundary}--\r\n".encode()
        )
        return self.request(
            "POST", f"/api/v1/models/{model_pk}/versions/", body, f"multipart/form-data; boundary={boundary}"
        )

    def timed_me(self) -> tuple[float, int]:
        started = time.monotonic()
        status, _, _ = self.request("GET", "/api/v1/me/")
        return time.monotonic() - started, status


def validator_servers(session: int) -> int:
    """How many ONNX validator fork servers run in the process session ``session`` (gunicorn's, started as one)."""
    count = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().split(b"\0")
            in_session = os.getsid(int(entry.name)) == session
        except (OSError, ProcessLookupError):
            continue  # it ended meanwhile
        if in_session and b"registry.validation_child" in command and b"--serve" in command:
            count += 1
    return count


@pytest.fixture
def gunicorn(transactional_db: None, tmp_path: Path) -> Iterator[tuple[str, Path, Path, int]]:
    """gunicorn as the Procfile runs it (its configuration file, threaded workers), on the test database and a free
    port, with small limits: 3-second validations, a 10-second web timeout, two validation slots, four threads."""
    port = _free_port()
    log_path = tmp_path / "gunicorn.log"
    environment = _server_environment(
        tmp_path,
        DATABASE_URL=database_url(),
        ARTIFACT_VALIDATION_SECONDS="3",
        ARTIFACT_VALIDATION_MEMORY_BYTES=str(1024**3),
        ARTIFACT_VALIDATION_CONCURRENCY="2",
        WEB_TIMEOUT_SECONDS="10",
        WEB_THREADS="4",
        WEB_CONCURRENCY="2",
        EXPLAIN_WARM_AT_START="0",  # no numba compilation competing with the validations for the two cores
    )
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [GUNICORN, "assay.wsgi", "--config", "gunicorn.conf.py", "--bind", f"127.0.0.1:{port}"],
            cwd=REPO,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(base + "/api/v1/", timeout=5):  # noqa: S310
                    break
            except urllib.error.HTTPError:
                break  # it answers
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"gunicorn did not start:\n{log_path.read_text()[-4000:]}")
                time.sleep(0.2)
        yield base, tmp_path / "data" / "validation-slots", log_path, process.pid
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def test_hostile_uploads_never_stall_the_api(gunicorn: tuple[str, Path, Path, int], cast: Any) -> None:
    """GIVEN gunicorn as configured, with 3-second validations and two validation slots, each of its two workers
    having started its validator fork server before any upload (so no upload's 3 seconds pay for its imports)
    WHEN two uploads whose ONNX Runtime session takes minutes to build are posted at once, a third upload arrives
    while they run, and /api/v1/me/ is asked meanwhile
    THEN /api/v1/me/ answers quickly throughout; the third upload gets 503 with Retry-After; each slow upload gets
    a JSON 400 naming the 3-second limit, well within the web timeout, and no worker is killed; a model that explodes
    when run gets a JSON 400 memory_limit; and a valid model is still registered."""
    base, slot_folder, log_path, session = gunicorn
    deadline = time.monotonic() + 60
    while validator_servers(session) < 2:
        assert time.monotonic() < deadline, "the workers did not start their validator fork servers"
        time.sleep(0.1)
    model = make_model(cast.team_a, cast.engineer_a)
    _, token = core_actions.do_create_token(actor=cast.engineer_a, name="availability")
    http = Http(base, token)
    assert http.request("GET", "/api/v1/me/")[0] == 200

    slow = hostile_onnx.slow_session()
    answers: dict[str, tuple[int, Any, Any, float]] = {}

    def post_slow(name: str) -> None:
        started = time.monotonic()
        answers[name] = (*http.upload(model.pk, f"{name}.onnx", slow), time.monotonic() - started)

    threads = [threading.Thread(target=post_slow, args=(name,)) for name in ("slow-1", "slow-2")]
    for thread in threads:
        thread.start()

    deadline = time.monotonic() + 30
    while (held_slots(slot_folder) if slot_folder.exists() else 0) < 2:
        assert time.monotonic() < deadline, "the two slow validations never held both slots"
        time.sleep(0.02)

    status, headers, body = http.upload(model.pk, "third.onnx", hostile_onnx.exploding("Expand"))
    assert status == 503, body
    assert headers["Retry-After"] == "3"
    assert body["error"]["code"] == "validators_busy"

    latencies = []
    while any(thread.is_alive() for thread in threads):
        elapsed, me_status = http.timed_me()
        assert me_status == 200
        latencies.append(elapsed)
        time.sleep(0.1)
    for thread in threads:
        thread.join()
    assert latencies, "the slow uploads ended before /api/v1/me/ could be asked"
    assert max(latencies) < 5, latencies

    for name in ("slow-1", "slow-2"):
        status, headers, body, elapsed = answers[name]
        assert status == 400, (name, body)
        assert headers["Content-Type"].startswith("application/json")
        message = body["error"]["fields"]["file"][0]
        assert "limit of 3 seconds" in message
        assert message.endswith("(timeout)")
        assert elapsed < 10, (name, elapsed)

    status, _, body = http.upload(model.pk, "explodes.onnx", hostile_onnx.exploding("ConstantOfShape"))
    assert status == 400, body
    assert body["error"]["fields"]["file"][0].endswith("(memory_limit)")

    status, _, body = http.upload(model.pk, "add.onnx", hostile_onnx.valid_add())
    assert status == 201, body
    assert "WORKER TIMEOUT" not in log_path.read_text()
