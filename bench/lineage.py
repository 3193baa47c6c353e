"""The lineage benchmark (issue #11): OpenLineage ingestion through the HTTP endpoint, single events from 8 concurrent
clients and batches; then a model version's upstream closure at depth 10 and the ``lineage_complete`` gate check in
graphs of 10,000 and 1,000,000 run edges, p50/p95 at both sizes.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres python -m bench.lineage
    make bench-lineage ARGS="--sizes 10000,100000 --single 400 --batched 4000"      # a quicker run

PostgreSQL only (the targets are PostgreSQL's): the launcher creates a throwaway database on the server that
``DATABASE_URL`` names (``assay_bench_lineage_<random>``, dropped afterwards) and a throwaway data folder; the
user's own database is never touched.

What is built how:

- **Ingest.** A real server process: gunicorn (``assay.wsgi``, ``--workers``, default 4) on a free port, on the
  throwaway database, the lineage and user throttles lifted, connections kept (``DATABASE_CONN_MAX_AGE=60``). The
  caller is a team's service account with a bearer token (what the OpenLineage HTTP transport sends as its
  ``api_key``). Each event is realistic: a COMPLETE RunEvent of a fresh run with 5 inputs and 3 outputs, each with a
  ``schema`` facet of 8 fields, and a ``columnLineage`` facet on every output (each output field from two input
  fields). Single: ``--single`` events, one per request, from 8 threads (a new connection per request: gunicorn's
  sync workers do not keep connections alive). Batched: ``--batched`` events as JSON arrays of ``--batch-size``.
  Figures: events/s, with the p50/p95 of a single request.
- **Graphs.** Generated with SQL (``generate_series``, explicit ids, one INSERT per table), never through the ORM
  row by row: pipelines of 10 jobs in a line, each run reading 5 datasets (4 raw, and the previous job's output)
  and writing 3; every job ran ``--history`` times (10), each run writing ``v<n>`` of its outputs and reading the
  same ``v<n>`` of its inputs. 8 edges per run: a size of 1,000,000 edges is 1,250 pipelines, 125,000 runs and
  100,000 datasets. The measured model version (a real ONNX file registered through the action) was trained by one
  more run reading pipeline 0's last output at ``v1``: its closure is that run and the 10 runs of ``v1`` behind it
  (depth 10), found among all the other versions' runs. Pipeline 0's inputs are registered dataset versions
  (through the actions) and linked, so the gate check passes and reads every link.
- **Measured at each size** (``--samples`` times after 5 untimed runs): ``upstream_closure`` (lineage.traversal),
  the manifest's lineage section (closure plus its digest), the ``lineage_complete`` check alone (a fresh gate
  context each time, the manifest built beforehand as the gate shares it between checks), and the whole gate
  (``run_gate``, preview, no re-hash; it fails the quorum, which has no signatures here, but runs every check).
  ``ANALYZE`` after each load, as PostgreSQL advises after a bulk load. Then the closure walk's own time inside
  PostgreSQL (``EXPLAIN (ANALYZE)``'s execution time of the recursive query), which separates the database's work
  from the round trips and the Python around it.

Targets: at least 3,000 events/s batched and 300/s single; closure and gate check p95 under 50 ms at 1M edges, flat
from 10k.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench._env import postgres_server, run_child
from bench._server import Server, load, percentile

STEPS = 10  # jobs per pipeline: the closure's depth
EDGES_PER_RUN = 8  # 5 inputs, 3 outputs
DATASETS_PER_STEP = 8  # 3 outputs, 5 raw inputs (the 5th read only by the first step)
PRODUCER = "https://github.com/assay/bench/lineage"
RUN_SCHEMA = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
FACET_SCHEMA = "https://openlineage.io/spec/facets/1-0-0/Facet.json"
TEAM = "bench"
INGEST_NAMESPACE = "bench://ingest"


def _options(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.lineage", description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,1000000", help="run edges in the graph (comma-separated)")
    parser.add_argument("--history", type=int, default=10, help="runs of every job (versions of every dataset)")
    parser.add_argument("--samples", type=int, default=200, help="timed closures and gate checks per size")
    parser.add_argument("--single", type=int, default=3000, help="events sent one per request (at most)")
    parser.add_argument("--threads", type=int, default=8, help="concurrent clients for the single events")
    parser.add_argument("--batched", type=int, default=30000, help="events sent in batches (at most)")
    parser.add_argument("--batch-size", type=int, default=250, help="events per batch (~12 kB each)")
    parser.add_argument("--seconds", type=float, default=60, help="time budget of each ingest measurement")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    parser.add_argument("--skip-ingest", action="store_true", help="measure the graph only")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def _forwarded(options: argparse.Namespace) -> list[str]:
    passed = [
        f"--sizes={options.sizes}",
        f"--history={options.history}",
        f"--samples={options.samples}",
        f"--single={options.single}",
        f"--threads={options.threads}",
        f"--batched={options.batched}",
        f"--batch-size={options.batch_size}",
        f"--seconds={options.seconds}",
        f"--workers={options.workers}",
    ]
    return [*passed, "--skip-ingest"] if options.skip_ingest else passed


# --- The launcher: a throwaway PostgreSQL database and data folder -------------------------------------------------


def _launch(options: argparse.Namespace) -> int:
    if not postgres_server():
        print("The lineage benchmark runs on PostgreSQL: set DATABASE_URL=postgres://user@host:port/db (a server to")
        print("create a throwaway database on), e.g. DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres")
        return 2
    return run_child("bench.lineage", _forwarded(options), backend="postgresql")


# --- Helpers ------------------------------------------------------------------------------------------------------


def _facet(**fields: Any) -> dict[str, Any]:
    return {"_producer": PRODUCER, "_schemaURL": FACET_SCHEMA, **fields}


FIELDS = [f"field_{index}" for index in range(8)]


def _event(serial: int) -> dict[str, Any]:
    """A COMPLETE RunEvent of a fresh run: 5 inputs and 3 outputs with schema facets, column lineage on outputs."""
    inputs = [f"raw/table_{(serial + index) % 50}" for index in range(5)]
    schema = _facet(fields=[{"name": name, "type": "string"} for name in FIELDS])

    def lineage_of(output: int) -> dict[str, Any]:
        return _facet(
            fields={
                name: {
                    "inputFields": [
                        {
                            "namespace": INGEST_NAMESPACE,
                            "name": inputs[(output + position + offset) % 5],
                            "field": name,
                            "transformations": [{"type": "DIRECT", "subtype": "IDENTITY"}],
                        }
                        for offset in range(2)
                    ]
                }
                for position, name in enumerate(FIELDS)
            }
        )

    return {
        "eventType": "COMPLETE",
        "eventTime": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "run": {"runId": str(uuid.uuid4())},
        "job": {"namespace": INGEST_NAMESPACE, "name": f"etl.job_{serial % 20}"},
        "inputs": [{"namespace": INGEST_NAMESPACE, "name": name, "facets": {"schema": schema}} for name in inputs],
        "outputs": [
            {
                "namespace": INGEST_NAMESPACE,
                "name": f"clean/table_{(serial * 3 + index) % 60}",
                "facets": {"schema": schema, "columnLineage": lineage_of(index)},
            }
            for index in range(3)
        ],
        "producer": PRODUCER,
        "schemaURL": RUN_SCHEMA,
    }


def _ingest(options: argparse.Namespace, token: str, workdir: Path) -> None:
    server = Server(options.workers, workdir / "gunicorn.log")
    try:
        server.wait_ready(token)
        # Untimed: the namespace's first write claims it; every worker opens its connection.
        for serial in range(options.workers * 2):
            status, body = server.request("POST", "/api/v1/lineage", token, json.dumps(_event(serial)).encode())
            if status != 201:
                raise RuntimeError(f"ingestion refused ({status}): {body[:500]!r}")
        print(f"\n{'ingest':<34} {'events':>8} {'events/s':>10} {'p50 ms':>8} {'p95 ms':>8}")
        bodies = [json.dumps(_event(1000 + serial)).encode() for serial in range(options.single)]
        latencies: list[float] = []
        failures: list[str] = []
        lock = threading.Lock()
        position = iter(range(len(bodies)))

        def client() -> None:
            while time.perf_counter() < deadline:
                with lock:
                    index = next(position, None)
                if index is None:
                    return
                began = time.perf_counter()
                status, answer = server.request("POST", "/api/v1/lineage", token, bodies[index])
                elapsed = (time.perf_counter() - began) * 1000
                with lock:
                    latencies.append(elapsed)
                    if status != 201:
                        failures.append(f"{status} {answer[:200]!r}")

        threads = [threading.Thread(target=client) for _ in range(options.threads)]
        began = time.perf_counter()
        deadline = began + options.seconds
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        seconds = time.perf_counter() - began
        if failures:
            raise RuntimeError(f"{len(failures)} single events refused, e.g. {failures[0]}")
        sent = len(latencies)
        print(
            f"{f'single, {options.threads} clients':<34} {sent:>8,} {sent / seconds:>10,.1f} "
            f"{statistics.median(latencies):>8.1f} {percentile(latencies, 0.95):>8.1f}"
        )
        batches = [
            json.dumps([_event(10**6 + start + index) for index in range(options.batch_size)]).encode()
            for start in range(0, options.batched, options.batch_size)
        ]
        latencies = []
        began = time.perf_counter()
        for body in batches:
            if time.perf_counter() > began + options.seconds:
                break
            started = time.perf_counter()
            status, answer = server.request("POST", "/api/v1/lineage", token, body)
            latencies.append((time.perf_counter() - started) * 1000)
            if status not in (200, 201, 207):
                raise RuntimeError(f"batch refused ({status}): {answer[:500]!r}")
            stored = json.loads(answer).get("stored")
            if stored != options.batch_size:
                raise RuntimeError(f"batch stored {stored} of {options.batch_size}: {answer[:500]!r}")
        seconds = time.perf_counter() - began
        events = len(latencies) * options.batch_size
        print(
            f"{f'batched, {options.batch_size} a request, 1 client':<34} {events:>8,} {events / seconds:>10,.1f} "
            f"{statistics.median(latencies):>8.1f} {percentile(latencies, 0.95):>8.1f}"
        )
    finally:
        server.stop()


# --- The graph, generated with SQL --------------------------------------------------------------------------------


class GraphSeeder:
    """Pipelines appended with INSERT ... SELECT over generate_series, ids computed from the tables' next ids at each
    call (``base``): dataset ``base + (p - low)*80 + s*8 + k`` (k 0-2 outputs, 3-7 raw inputs), job ``base + (p -
    low)*10 + s``, run ``base + ((p - low)*10 + s)*history + h``; the sequences are moved past them afterwards."""

    def __init__(self, history: int) -> None:
        self.history = history
        self.pipelines = 0
        self.bases: list[tuple[int, int, int, int]] = []  # (first pipeline, dataset, job, run bases)

    def _base(self, pipeline: int) -> tuple[int, int, int, int]:
        return next(base for base in reversed(self.bases) if base[0] <= pipeline)

    def dataset_id(self, pipeline: int, step: int, slot: int) -> int:
        low, first, _, _ = self._base(pipeline)
        return first + (pipeline - low) * STEPS * DATASETS_PER_STEP + step * DATASETS_PER_STEP + slot

    def run_id(self, pipeline: int, step: int, history: int) -> int:
        low, _, _, first = self._base(pipeline)
        return first + ((pipeline - low) * STEPS + step) * self.history + history

    def grow(self, pipelines: int, namespace_id: int) -> None:
        from django.db import connection, transaction

        if pipelines <= self.pipelines:
            return
        low, high = self.pipelines, pipelines - 1
        with transaction.atomic(), connection.cursor() as cursor:
            bases = []
            for table in ("lineage_lineagedataset", "lineage_lineagejob", "lineage_lineagerun"):
                cursor.execute(f"SELECT COALESCE(MAX(id), 0) + 1 FROM {table}")  # noqa: S608
                bases.append(int(cursor.fetchone()[0]))
            self.bases.append((low, *bases))  # type: ignore[arg-type]
            d, j, r = (
                base - low * factor
                for base, factor in zip(bases, (STEPS * DATASETS_PER_STEP, STEPS, STEPS * self.history), strict=True)
            )
            h = self.history
            per_pipeline = STEPS * DATASETS_PER_STEP
            cursor.execute(
                f"""
                INSERT INTO lineage_lineagedataset (id, namespace_id, name, facets, first_seen_at, last_seen_at)
                SELECT {d} + p * {per_pipeline} + s * {DATASETS_PER_STEP} + k, %s,
                       CASE WHEN k < 3 THEN 'p' || p || '/s' || s || '/out_' || k
                            ELSE 'p' || p || '/s' || s || '/raw_' || (k - 3) END,
                       '{{}}', now(), now()
                FROM generate_series(%s, %s) p, generate_series(0, {STEPS - 1}) s,
                     generate_series(0, {DATASETS_PER_STEP - 1}) k
                """,  # noqa: S608 (numbers computed here, the rest bound)
                [namespace_id, low, high],
            )
            cursor.execute(
                f"""
                INSERT INTO lineage_lineagejob (id, namespace_id, name, facets, first_seen_at, last_seen_at)
                SELECT {j} + p * {STEPS} + s, %s, 'pipeline_' || p || '.step_' || s, '{{}}', now(), now()
                FROM generate_series(%s, %s) p, generate_series(0, {STEPS - 1}) s
                """,  # noqa: S608 (numbers computed here, the rest bound)
                [namespace_id, low, high],
            )
            cursor.execute(
                f"""
                INSERT INTO lineage_lineagerun (id, run_id, job_id, state, state_at, started_at, ended_at, facets,
                                                created_at)
                SELECT {r} + (p * {STEPS} + s) * {h} + v, md5(random()::text || p || '.' || s || '.' || v)::uuid,
                       {j} + p * {STEPS} + s, 'COMPLETE',
                       now() - make_interval(days => {h} - v) + make_interval(mins => s),
                       now() - make_interval(days => {h} - v) + make_interval(mins => s),
                       now() - make_interval(days => {h} - v) + make_interval(mins => s), '{{}}', now()
                FROM generate_series(%s, %s) p, generate_series(0, {STEPS - 1}) s, generate_series(0, {h - 1}) v
                """,  # noqa: S608 (numbers computed here, the rest bound)
                [low, high],
            )
            # e 0-2: outputs; e 3-6: raw inputs 0-3; e 7: the previous step's first output (raw input 4 at step 0).
            cursor.execute(
                f"""
                INSERT INTO lineage_runedge (run_id, dataset_id, direction, facets, version)
                SELECT {r} + (p * {STEPS} + s) * {h} + v,
                       CASE WHEN e < 7 THEN {d} + p * {per_pipeline} + s * {DATASETS_PER_STEP} + e
                            WHEN s = 0 THEN {d} + p * {per_pipeline} + 7
                            ELSE {d} + p * {per_pipeline} + (s - 1) * {DATASETS_PER_STEP} END,
                       CASE WHEN e < 3 THEN 'output' ELSE 'input' END, '{{}}', 'v' || (v + 1)
                FROM generate_series(%s, %s) p, generate_series(0, {STEPS - 1}) s, generate_series(0, {h - 1}) v,
                     generate_series(0, {EDGES_PER_RUN - 1}) e
                """,  # noqa: S608 (numbers computed here, the rest bound)
                [low, high],
            )
            for table in ("lineage_lineagedataset", "lineage_lineagejob", "lineage_lineagerun"):
                cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT MAX(id) FROM {table}))")  # noqa: S608
        self.pipelines = pipelines
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")


def _child(options: argparse.Namespace) -> int:
    import django

    django.setup()

    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from core import actions as core_actions
    from core.choices import BoardRole, Role
    from governance import actions as governance
    from governance.checks.lineage import check_lineage_complete
    from governance.choices import EvaluationPurpose
    from governance.gate import GateContext, run_gate
    from governance.manifest import build_manifest, lineage_section
    from lineage.models import LineageDataset, LineageJob, LineageRun, Namespace, RunEdge
    from lineage.naming import model_version_name
    from lineage.traversal import upstream_closure
    from registry import actions as registry
    from registry.models import DatasetVersion

    if connection.vendor != "postgresql":
        print("The lineage benchmark runs on PostgreSQL only.")
        return 2
    sizes = sorted(int(size) for size in options.sizes.split(","))
    call_command("migrate", verbosity=0, interactive=False)
    print(
        f"\n== Lineage benchmark on PostgreSQL ({platform.python_implementation()} {platform.python_version()}, "
        f"{os.cpu_count()} CPUs, load {load()}) =="
    )
    started = time.perf_counter()
    users = get_user_model()
    root = users.objects.create_superuser(username="bench-root", password=None)
    team = core_actions.do_create_team(actor=root, slug=TEAM, name="Bench")

    def person(name: str, role: str, board_role: str = "") -> Any:
        user = core_actions.do_create_user(actor=root, username=name, password=None)
        core_actions.do_grant_membership(team, actor=root, user=user, role=role, board_role=board_role)
        return user

    engineer = person("bench-engineer", Role.ENGINEER)
    admin = person("bench-admin", Role.ADMIN)
    officer = person("bench-compliance", Role.COMPLIANCE_OFFICER)
    reviewer = person("bench-reviewer", Role.REVIEWER, BoardRole.TECHNICAL)
    account = core_actions.do_create_service_account(team, actor=admin, username="bench-ci")
    _, token = core_actions.do_create_token(actor=admin, owner=account.user, name="openlineage")

    workdir = Path(tempfile.mkdtemp(prefix="assay-bench-lineage-work-"))
    try:
        if not options.skip_ingest:
            _ingest(options, token, workdir)
        print(f"(ingestion stored {LineageRun.objects.count():,} runs; load {load()})")

        # The release: environment, board, a policy requiring lineage_complete, a real ONNX version.
        environment = governance.do_create_environment(
            actor=root, slug="production", name="Production", rank=10, allowed_regions=["eu-west-1"]
        )
        board = governance.do_create_board(actor=officer, team=team, slug="board", name="Board")
        governance.do_add_board_member(board, actor=officer, user=reviewer, board_role=BoardRole.TECHNICAL)
        governance.do_create_policy(
            actor=officer,
            team=team,
            name="High risk",
            environment=environment,
            risk_tier="high",
            board=board,
            required_roles={BoardRole.TECHNICAL: 1},
            min_total=1,
            approval_valid_days=30,
            required_checks=["lineage_complete"],
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
        model = registry.do_create_model(team, actor=engineer, name="Limit scorer", owner=engineer, use_case=use_case)
        onnx_path = _write_onnx(workdir / "bench.onnx")
        version = registry.do_register_model_version(
            model, actor=engineer, chunks=iter([onnx_path.read_bytes()]), filename="bench.onnx"
        )
        release = governance.do_request_release(version, actor=engineer, environment=environment)

        graph_namespace = Namespace.objects.create(name="s3://bench-lake", team=team)
        seeder = GraphSeeder(options.history)
        named = model_version_name(version)
        model_namespace, _ = Namespace.objects.get_or_create(name=named.namespace, defaults={"team": team})
        model_node = LineageDataset.objects.create(namespace=model_namespace, name=named.name, model_version=version)
        print(f"setup: release and model version in {time.perf_counter() - started:.1f} s")

        def register_pipeline_zero() -> None:
            """Register pipeline 0's inputs (the measured closure's) as dataset versions and link them; the
            training run reads its last output at v1."""
            inputs = [(step, slot) for step in range(STEPS) for slot in range(3, 7)] + [(0, 7)]
            inputs += [(step, 0) for step in range(STEPS)]
            links: dict[int, DatasetVersion] = {}
            for step, slot in inputs:
                node = LineageDataset.objects.get(pk=seeder.dataset_id(0, step, slot))
                dataset = registry.do_create_dataset(
                    team,
                    actor=engineer,
                    name=f"Bench {node.name}",
                    owner=engineer,
                    storage_format="parquet",
                    location=f"s3://bench-lake/{node.name}",
                    residency_region="eu-west-1",
                    classification="internal",
                    legal_basis="contract",
                )
                links[node.pk] = registry.do_register_dataset_version(
                    dataset,
                    actor=engineer,
                    schema={"columns": [{"name": "id", "type": "int64", "nullable": False}]},
                    content_fingerprint=f"{node.pk:064x}",
                )
                LineageDataset.objects.filter(pk=node.pk).update(registry_dataset=dataset)
            first_runs = [seeder.run_id(0, step, 0) for step in range(STEPS)]
            for dataset_id, dataset_version in links.items():
                RunEdge.objects.filter(run_id__in=first_runs, dataset_id=dataset_id, direction="input").update(
                    dataset_version=dataset_version
                )
            train = LineageRun.objects.create(
                run_id=uuid.uuid4(),
                job=LineageJob.objects.get_or_create(namespace=graph_namespace, name="credit.train")[0],
                state="COMPLETE",
                state_at=timezone.now(),
                started_at=timezone.now(),
                ended_at=timezone.now(),
            )
            last = seeder.dataset_id(0, STEPS - 1, 0)
            RunEdge.objects.create(
                run=train, dataset_id=last, direction="input", version="v1", dataset_version=links[last]
            )
            RunEdge.objects.create(run=train, dataset=model_node, direction="output")

        print(f"\n{'edges':>10} {'runs':>8} {'measure':<28} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'queries':>8}")
        prebuilt: dict[str, Any] = {}

        def closure() -> Any:
            found = upstream_closure(version)
            assert len(found.runs) == STEPS + 1, len(found.runs)
            assert not found.truncated
            return found

        def section() -> Any:
            return lineage_section(version)

        def check() -> Any:
            context = GateContext(
                release=release,
                actor=engineer,
                purpose=EvaluationPurpose.PREVIEW,
                now=timezone.now(),
                rehash=False,
                built_manifest=prebuilt["manifest"],
            )
            passed, reason = check_lineage_complete(context)
            assert passed, reason
            return passed

        def whole_gate() -> Any:
            run = run_gate(release, actor=engineer, purpose=EvaluationPurpose.PREVIEW, rehash=False)
            lineage = next(item for item in run.checks if item["name"] == "lineage_complete")
            assert lineage["passed"], lineage
            return run

        def timed(call: Callable[[], Any]) -> tuple[list[float], int]:
            for _ in range(5):
                call()
            with CaptureQueriesContext(connection) as queries:
                call()
            times = []
            for _ in range(options.samples):
                began = time.perf_counter()
                call()
                times.append((time.perf_counter() - began) * 1000)
            return times, len(queries.captured_queries)

        def server_time() -> list[float]:
            """The closure walk's own time in PostgreSQL (EXPLAIN ANALYZE's execution time), without the round
            trip and the Python around it."""
            with CaptureQueriesContext(connection) as queries:
                upstream_closure(version)
            walk = next(query["sql"] for query in queries.captured_queries if "WITH RECURSIVE" in query["sql"])
            times = []
            with connection.cursor() as cursor:
                for _ in range(options.samples):
                    cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {walk}")
                    plan = cursor.fetchone()[0]
                    plan = json.loads(plan) if isinstance(plan, str) else plan
                    times.append(float(plan[0]["Execution Time"]))
            return times

        for size in sizes:
            began = time.perf_counter()
            pipelines = max(1, round(size / (STEPS * options.history * EDGES_PER_RUN)))
            seeder.grow(pipelines, graph_namespace.pk)
            if not prebuilt:
                register_pipeline_zero()
            prebuilt["manifest"] = build_manifest(release)
            edges = RunEdge.objects.count()
            runs = LineageRun.objects.count()
            print(f"{'':>10} {'':>8} (generated {pipelines:,} pipelines in {time.perf_counter() - began:.0f} s)")
            for label, call in (
                ("upstream closure, depth 10", closure),
                ("manifest lineage section", section),
                ("lineage_complete check", check),
                ("whole gate (preview)", whole_gate),
            ):
                times, count = timed(call)
                print(
                    f"{edges:>10,} {runs:>8,} {label:<28} {statistics.median(times):>8.1f} "
                    f"{percentile(times, 0.95):>8.1f} {max(times):>8.1f} {count:>8}"
                )
            times = server_time()
            print(
                f"{edges:>10,} {runs:>8,} {'closure walk, server time':<28} {statistics.median(times):>8.2f} "
                f"{percentile(times, 0.95):>8.2f} {max(times):>8.2f} {'':>8}"
            )
        print(f"\n(load average at the end: {load()})")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


def _write_onnx(path: Path) -> Path:
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weights = numpy_helper.from_array(np.ones(3, dtype=np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "w"], ["y"])],
        "bench",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3])],
        initializer=[weights],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def main(argv: list[str] | None = None) -> int:
    options = _options(sys.argv[1:] if argv is None else argv)
    return _child(options) if options.child else _launch(options)


if __name__ == "__main__":
    sys.exit(main())
