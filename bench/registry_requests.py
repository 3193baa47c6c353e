"""What one registry request costs inside Django, without HTTP: registration and version searches.

    python -m bench.registry_requests [--versions 20000] [--requests 60]

Runs in this process on a throwaway SQLite database (a temporary ASSAY_DATA_DIR; set DATABASE_URL to a PostgreSQL
database of your own, which it migrates and fills, to measure that instead). It creates a team, an engineer with a
bearer token and 100 models in 10 tag groups, then:

- registers ``--requests`` versions through ``POST /api/v1/models/<id>/versions/`` with Django's test client and
  reports the wall clock, the CPU of this (web) process, the CPU of the validator processes (the fork server and its
  children, read from /proc; or fresh interpreters, our children) and the SQL statements of one registration
  (BEGIN and COMMIT, and savepoints, included);
- inserts versions in bulk up to ``--versions`` (copies of a registered one: the searches read the same rows as
  after real registrations, without an hour of uploads), then times ``GET /api/v1/model-versions/`` by exact name,
  by tag and by name contains, and ``GET /api/v1/me/`` for scale, reporting p50 CPU and wall clock and the queries.

It measures the tree it runs from: copied into an export of an older commit, it measures that one.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

MODELS = 100
GROUPS = 10


def _options(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.registry_requests", description=__doc__.splitlines()[0])
    parser.add_argument("--versions", type=int, default=20000, help="versions in the store for the searches")
    parser.add_argument("--requests", type=int, default=60, help="registrations, and requests per search figure")
    return parser.parse_args(argv)


def _validator_cpu() -> float:
    """Seconds of CPU spent by validator processes so far (the fork server's own and its reaped children's)."""
    from registry import onnx_validation

    server = getattr(onnx_validation, "SERVER", None)
    if server is None or not server.pid:
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        return usage.ru_utime + usage.ru_stime
    fields = Path(f"/proc/{server.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(value) for value in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def _setup() -> tuple[Any, list[Any], Any]:
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.test import Client

    from core import actions
    from core.choices import Role
    from registry import actions as registry_actions

    call_command("migrate", verbosity=0)
    root = actions.do_create_user(actor=None, username="requests-root", password=None, is_superuser=True)
    team = actions.do_create_team(actor=root, slug="requests", name="Requests")
    engineer = actions.do_create_user(actor=root, username="requests-engineer", password=None)
    actions.do_grant_membership(team, actor=root, user=engineer, role=Role.ENGINEER)
    models = [
        registry_actions.do_create_model(
            team, actor=engineer, name=f"bench-model-{index:04d}", owner=engineer, tags=[f"group-{index % GROUPS:02d}"]
        )
        for index in range(MODELS)
    ]
    _, token = actions.do_create_token(actor=engineer, name="requests")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_ACCEPT="application/json")
    assert client.get("/api/v1/me/").status_code == 200
    return get_user_model().objects.get(pk=engineer.pk), models, client


def _registrations(client: Any, models: list[Any], count: int) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from bench.registry_vs_mlflow import _multipart, tiny_onnx

    def register(serial: int) -> int:
        body, content_type = _multipart(
            {"metrics": '{"auc": 0.8}', "training_params": f'{{"serial": {serial}}}'},
            "file",
            f"model-{serial}.onnx",
            tiny_onnx(1.0 + serial),
        )
        with CaptureQueriesContext(connection) as queries:
            answer = client.generic(
                "POST", f"/api/v1/models/{models[serial % MODELS].pk}/versions/", body, content_type=content_type
            )
        assert answer.status_code == 201, answer.content[:300]
        return len(queries.captured_queries)

    for serial in range(8):  # untimed: starts the validation server, warms the caches
        register(serial)
    validator, web, started = _validator_cpu(), time.process_time(), time.perf_counter()
    queries = [register(1000 + serial) for serial in range(count)]
    wall = (time.perf_counter() - started) / count * 1000
    web_cpu = (time.process_time() - web) / count * 1000
    validator_cpu = (_validator_cpu() - validator) / count * 1000
    print(
        f"{'register (POST, multipart)':<28} wall {wall:6.1f} ms   CPU: web {web_cpu:5.1f} ms + validator "
        f"{validator_cpu:5.1f} ms   statements {statistics.median(queries):.0f}"
    )


def _fill(engineer: Any, models: list[Any], versions: int) -> None:
    from registry.models import ModelVersion

    template = ModelVersion.objects.order_by("pk").first()
    assert template is not None
    have = ModelVersion.objects.count()
    numbers = {model.pk: ModelVersion.objects.filter(model=model).count() for model in models}
    rows = []
    for index in range(have, versions):
        model = models[index % MODELS]
        numbers[model.pk] += 1
        rows.append(
            ModelVersion(
                model=model,
                number=numbers[model.pk],
                artifact_sha256=template.artifact_sha256,
                artifact_size=template.artifact_size,
                interface=template.interface,
                metrics={"auc": 0.8},
                training_params={"serial": index},
                created_by=engineer,
            )
        )
    ModelVersion.objects.bulk_create(rows, batch_size=2000)
    through: Any = ModelVersion.authors.through
    through.objects.bulk_create([through(modelversion_id=row.pk, user_id=engineer.pk) for row in rows], batch_size=2000)


def _searches(client: Any, count: int) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for label, path in (
        ("search by name (name=)", "/api/v1/model-versions/?name=bench-model-{:04d}&page_size=50"),
        ("search by tag (tag=)", "/api/v1/model-versions/?tag=group-{:02d}&page_size=50"),
        ("search, name contains (q=)", "/api/v1/model-versions/?q=bench-model-{:04d}&page_size=50"),
        ("GET /api/v1/me/ (for scale)", "/api/v1/me/?n={}"),
    ):
        cpu, wall = [], []
        for index in range(count + 10):
            url = path.format(index % (GROUPS if "tag" in label else MODELS))
            started, process = time.perf_counter(), time.process_time()
            answer = client.get(url)
            if index >= 10:
                wall.append((time.perf_counter() - started) * 1000)
                cpu.append((time.process_time() - process) * 1000)
            assert answer.status_code == 200, answer.content[:300]
        with CaptureQueriesContext(connection) as queries:
            client.get(path.format(1))
        print(
            f"{label:<28} wall {statistics.median(wall):6.1f} ms   CPU {statistics.median(cpu):5.1f} ms   "
            f"queries {len(queries)}"
        )


def main(argv: list[str]) -> int:
    options = _options(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "assay.settings")
    os.environ.setdefault("ASSAY_DATA_DIR", tempfile.mkdtemp(prefix="assay-bench-requests-"))
    os.environ["API_THROTTLE_USER"] = "1000000/min"
    os.environ["MAX_REQUEST_BODY_BYTES"] = str(16 * 1024**2)
    import django

    django.setup()
    from django.db import connection

    load = " ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"\n== Registry requests in process, {connection.vendor}; {os.cpu_count()} CPUs, load {load} ==")
    engineer, models, client = _setup()
    _registrations(client, models, options.requests)
    _fill(engineer, models, options.versions)
    print(f"(searches at {options.versions:,} versions, first page of 50, p50 over {options.requests} requests)")
    _searches(client, options.requests)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
