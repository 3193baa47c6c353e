"""The deployment gate's benchmark (issue #4): how long the gate takes to judge a release with 5 signatures and a
50 MB artifact, with 10,000 and then 100,000 model versions in the database, and how fast the artifact re-hash runs
beside the disk's own read rate of the same file.

    python -m bench.gate [--sizes 10000,100000] [--samples 200] [--artifact-mb 50] [--backend all]
    make bench-gate ARGS="--sizes 2000 --samples 50"     # a quick run

Like ``python -m bench`` it runs on SQLite in a throwaway data folder, and also on PostgreSQL in a throwaway database
(``assay_bench_gate_<random>``, dropped afterwards) when DATABASE_URL names a server. The user's own database and
artifact store are never touched.

What is built how:

- The measured release is made through the real actions, as a user would: environment, board with five reviewers
  (one per board role), a policy needing all five roles (``min_total`` 5), a use case, a dataset version, a model
  whose version is a real 50 MB ONNX file (random float32 weights, validated by the registry's child process and
  stored content-addressed), the release request, and five DSSE-signed approvals with client-held Ed25519 keys
  submitted through ``do_submit_approval``.
- The context rows that make the database large are seeded fast: 100 registered models through ``do_create_model``,
  then their versions with ``bulk_create`` (fake artifact digests; no files), and one ``model.version_registered``
  audit event per seeded version through ``record_event`` in batches of 1,000 per transaction, so the audit log
  that the separation-of-duties rule reads (governance.manifest.conflicted_users) grows with the registry as it would
  in use. Seeded rows skip the per-row validation and ONNX checks of the real action; nothing measured reads them
  except through the indexes the gate's queries use, which is the point of seeding them.

Measured at each size:

- ``gate, no re-hash``: ``governance.gate.run_gate(..., rehash=False)``, every check (release open, policy current,
  quorum over the 5 signatures with the manifest rebuilt and separation of duties, manifest current, artifact present
  with its size), ``--samples`` times after 5 untimed runs; p50, p95, max and the number of SQL queries of one run.
- ``gate + store``: the same through ``evaluate_gate`` (the evaluation row written), as a deploy attempt stores it.

Then, once: the artifact re-hash (``probe_artifact(..., rehash=True)``, which reads through the store's verified
reader) against a plain read loop of the same file with no hashing, each "cold" (the file's pages dropped from the
page cache with ``posix_fadvise(DONTNEED)`` before every run; this works without root for clean pages, but not on
tmpfs, where the figures are memory's) and "warm" (read again at once), plus SHA-256 over the bytes in memory (the
CPU's ceiling).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench._env import run_backends

ROOT = Path(__file__).resolve().parent.parent
SEED_MODELS = 100
READ_CHUNK = 1024 * 1024


def _options(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.gate", description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000", help="model versions in the database (comma-separated)")
    parser.add_argument("--samples", type=int, default=200, help="timed gate evaluations per size")
    parser.add_argument("--artifact-mb", type=int, default=50, help="size of the release's ONNX artifact in MB")
    parser.add_argument("--rehash-runs", type=int, default=5, help="timed runs of each read measurement")
    parser.add_argument("--backend", choices=("all", "sqlite", "postgresql"), default="all")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


# --- The launcher: one child process per backend, each on a throwaway database -----------------------------------


def _launch(options: argparse.Namespace) -> int:
    passed = [
        f"--sizes={options.sizes}",
        f"--samples={options.samples}",
        f"--artifact-mb={options.artifact_mb}",
        f"--rehash-runs={options.rehash_runs}",
    ]
    return run_backends("bench.gate", passed, options.backend)


# --- The child: seeds, builds the release, measures ---------------------------------------------------------------


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def _filesystem(path: Path) -> str:
    best, kind = "", "?"
    try:
        with open("/proc/mounts") as mounts:
            for line in mounts:
                fields = line.split()
                if len(fields) > 2 and str(path).startswith(fields[1]) and len(fields[1]) > len(best):
                    best, kind = fields[1], fields[2]
    except OSError:
        pass
    return kind


def _drop_cache(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def _plain_read(path: Path) -> int:
    size = 0
    with open(path, "rb", buffering=0) as handle:
        while chunk := handle.read(READ_CHUNK):
            size += len(chunk)
    return size


def _write_onnx(path: Path, megabytes: int) -> Path:
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    floats = megabytes * 1_000_000 // 4
    weights = numpy_helper.from_array(np.random.default_rng(4).standard_normal(floats, dtype=np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "w"], ["y"])],
        "bench",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [floats])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [floats])],
        initializer=[weights],
    )
    onnx.save_model(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


def _child(options: argparse.Namespace) -> int:
    import django

    django.setup()

    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    from assay_trust import dsse, statement
    from assay_trust import keys as trust_keys
    from core import actions as core_actions
    from core import audit
    from core.choices import AuditEventType, BoardRole, Role
    from core.models import AuditEvent
    from governance import actions as governance
    from governance.choices import EvaluationPurpose
    from governance.gate import evaluate_gate, probe_artifact, run_gate
    from governance.manifest import build_manifest, manifest_digest, subject_name
    from registry import actions as registry
    from registry.artifacts import ArtifactStore
    from registry.models import ModelVersion

    sizes = sorted(int(size) for size in options.sizes.split(","))
    call_command("migrate", verbosity=0, interactive=False)
    vendor = connection.vendor
    print(
        f"\n== Gate benchmark on {vendor} ({platform.python_implementation()} {platform.python_version()}, "
        f"{os.cpu_count()} CPUs) =="
    )

    # The people and the rules, through the actions.
    started = time.perf_counter()
    users = get_user_model()
    root = users.objects.create_superuser(username="bench-root", password=None)
    team = core_actions.do_create_team(actor=root, slug="bench", name="Bench")

    def person(name: str, role: str, board_role: str = "") -> Any:
        user = core_actions.do_create_user(actor=root, username=name, password=None)
        core_actions.do_grant_membership(team, actor=root, user=user, role=role, board_role=board_role)
        return user

    engineer = person("bench-engineer", Role.ENGINEER)
    officer = person("bench-compliance", Role.COMPLIANCE_OFFICER)
    reviewers = {role: person(f"bench-reviewer-{role}", Role.REVIEWER, role) for role in BoardRole.values}
    environment = governance.do_create_environment(actor=root, slug="production", name="Production", rank=10)
    board = governance.do_create_board(actor=officer, team=team, slug="board", name="Board")
    for role, reviewer in reviewers.items():
        governance.do_add_board_member(board, actor=officer, user=reviewer, board_role=role)
    governance.do_create_policy(
        actor=officer,
        team=team,
        name="High risk",
        environment=environment,
        risk_tier="high",
        board=board,
        required_roles=dict.fromkeys(BoardRole.values, 1),
        min_total=5,
        approval_valid_days=30,
    )
    use_case = registry.do_create_use_case(
        team,
        actor=engineer,
        name="Credit limit",
        objective="Set limits.",
        decision_mode="decision_support",
        owner=engineer,
        risk_tier="high",
    )
    dataset = registry.do_create_dataset(
        team,
        actor=engineer,
        name="Applications",
        owner=engineer,
        storage_format="parquet",
        location="s3://lake/applications/",
        classification="confidential",
        legal_basis="contract",
    )
    dataset_version = registry.do_register_dataset_version(
        dataset,
        actor=engineer,
        schema={"columns": [{"name": "age", "type": "int32", "nullable": True, "personal_data": True}]},
        content_fingerprint=hashlib.sha256(b"bench").hexdigest(),
    )

    # Context rows: 100 models through the action, their versions in bulk, one audit event per version.
    seed_models = [
        registry.do_create_model(team, actor=engineer, name=f"Seed model {index:03d}", owner=engineer)
        for index in range(SEED_MODELS)
    ]
    next_number = dict.fromkeys((model.pk for model in seed_models), 1)
    seeded = 0

    def seed_versions(target: int) -> None:
        nonlocal seeded
        while seeded < target:
            batch = min(5000, target - seeded)
            rows = []
            for offset in range(batch):
                model = seed_models[(seeded + offset) % SEED_MODELS]
                rows.append(
                    ModelVersion(
                        model=model,
                        number=next_number[model.pk],
                        artifact_sha256=hashlib.sha256(f"seed-{seeded + offset}".encode()).hexdigest(),
                        artifact_size=1000 + offset,
                        interface={},
                        created_by=engineer,
                    )
                )
                next_number[model.pk] += 1
            created = ModelVersion.objects.bulk_create(rows, batch_size=1000)  # ids returned (SQLite 3.35+, PG)
            for start in range(0, len(created), 1000):
                with transaction.atomic():
                    for version in created[start : start + 1000]:
                        audit.record_event(
                            AuditEventType.MODEL_VERSION_REGISTERED,
                            actor=engineer,
                            team=team,
                            target_type="registry.modelversion",
                            target_id=str(version.pk),
                            target_repr=f"Seed v{version.number}",
                            after={"number": version.number, "artifact_sha256": version.artifact_sha256},
                        )
            seeded += batch

    # The measured release, through the actions: a real 50 MB ONNX version, the request, five signatures.
    folder = Path(tempfile.mkdtemp(prefix="assay-bench-onnx-"))
    onnx_path = _write_onnx(folder / "bench.onnx", options.artifact_mb)
    model = registry.do_create_model(team, actor=engineer, name="Limit scorer", owner=engineer, use_case=use_case)

    def chunks() -> Any:
        with onnx_path.open("rb") as handle:
            while chunk := handle.read(READ_CHUNK):
                yield chunk

    registered = time.perf_counter()
    version = registry.do_register_model_version(
        model, actor=engineer, chunks=chunks(), filename="bench.onnx", dataset_versions=[dataset_version.pk]
    )
    register_seconds = time.perf_counter() - registered
    shutil.rmtree(folder, ignore_errors=True)
    release = governance.do_request_release(version, actor=engineer, environment=environment, justification="Bench")
    digest = manifest_digest(build_manifest(release))
    for role, reviewer in reviewers.items():
        private = trust_keys.generate_private_key()
        key = governance.do_register_signing_key(
            actor=reviewer, public_key=trust_keys.public_key_pem(private.public_key())
        )
        body = statement.build_statement(
            subject_name=subject_name(release),
            artifact_sha256=version.artifact_sha256,
            release_id=str(release.uid),
            manifest_digest=digest,
            decision="approve",
            board_role=role,
            comment="Bench",
            signer_username=reviewer.get_username(),
            signer_key=key.fingerprint,
        )
        envelope = dsse.sign_envelope(private, dsse.APPROVAL_PAYLOAD_TYPE, statement.statement_bytes(body))
        governance.do_submit_approval(release, actor=reviewer, envelope=envelope)
    print(
        f"setup: release with {release.approvals.count()} signatures and a {version.artifact_size / 1e6:.1f} MB "
        f"artifact (registered in {register_seconds:.1f} s) in {time.perf_counter() - started:.1f} s"
    )

    def timed(call: Callable[[], Any]) -> list[float]:
        for _ in range(5):
            call()
        times = []
        for _ in range(options.samples):
            begin = time.perf_counter()
            call()
            times.append((time.perf_counter() - begin) * 1000)
        return times

    def judge() -> Any:
        run = run_gate(release, actor=engineer, purpose=EvaluationPurpose.PREVIEW, rehash=False)
        assert run.passed, run.failed
        return run

    def judge_and_store() -> Any:
        return evaluate_gate(release, actor=engineer, purpose=EvaluationPurpose.PREVIEW, rehash=False)

    print(f"\n{'model versions':>15} {'measure':<20} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'queries':>8}")
    for size in sizes:
        began = time.perf_counter()
        seed_versions(size - 1)  # the measured version is the last one
        total = ModelVersion.objects.count()
        events = AuditEvent.objects.count()
        print(
            f"{'':>15} (seeded to {total:,} versions, {events:,} audit events in {time.perf_counter() - began:.0f} s)"
        )
        with CaptureQueriesContext(connection) as queries:
            judge()
        for label, call in (("gate, no re-hash", judge), ("gate + store", judge_and_store)):
            times = timed(call)
            count = len(queries.captured_queries) + (1 if label == "gate + store" else 0)
            print(
                f"{total:>15,} {label:<20} {statistics.median(times):>8.1f} {_percentile(times, 0.95):>8.1f} "
                f"{max(times):>8.1f} {count:>8}"
            )

    # The re-hash against the disk's own read rate of the same file.
    path = ArtifactStore.default().path_for(version.artifact_sha256)
    megabytes = version.artifact_size / 1e6
    print(f"\nre-hash of the {megabytes:.1f} MB artifact at {settings.ARTIFACT_ROOT} ({_filesystem(path)}), MB/s:")

    def rate(call: Callable[[], Any], *, cold: bool) -> float:
        speeds = []
        for _ in range(options.rehash_runs):
            if cold:
                _drop_cache(path)
            begin = time.perf_counter()
            call()
            speeds.append(megabytes / (time.perf_counter() - begin))
        return statistics.median(speeds)

    def rehash() -> None:
        probe = probe_artifact(version.artifact_sha256, version.artifact_size, rehash=True)
        assert not probe.fault, probe.fault

    data = path.read_bytes()
    begin = time.perf_counter()
    for _ in range(options.rehash_runs):
        hashlib.sha256(data).hexdigest()
    in_memory = megabytes * options.rehash_runs / (time.perf_counter() - begin)
    del data
    print(f"{'':>4}{'':<34} {'cold':>8} {'warm':>8}")
    print(
        f"{'':>4}{'plain read loop (1 MiB reads)':<34} {rate(lambda: _plain_read(path), cold=True):>8.0f} "
        f"{rate(lambda: _plain_read(path), cold=False):>8.0f}"
    )
    print(
        f"{'':>4}{'gate re-hash (probe_artifact)':<34} {rate(rehash, cold=True):>8.0f} {rate(rehash, cold=False):>8.0f}"
    )
    print(f"{'':>4}{'SHA-256 of the bytes in memory':<34} {'':>8} {in_memory:>8.0f}")
    return 0


def main(argv: list[str]) -> int:
    options = _options(argv)
    if options.child:
        return _child(options)
    return _launch(options)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
