"""The measurements, in one process on one throwaway database (started by ``python -m bench``, which sets it up).

At each chain length: sequential appends (one transaction per event, as every action does), appends from N threads
at once (each with its own connection, all serialised by the chain lock), a full ``verify_chain()``, and the latency
of the first page of ``/api/v1/audit-events/`` through the whole Django stack (middleware, token authentication,
permission filter, count and serialisation) for a superuser and for a team's compliance officer. Between sizes the
chain grows through ``record_event`` in batches of 1,000 per transaction, so every row is real and verifies.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import django


def _options() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", required=True)
    parser.add_argument("--sample", type=int, required=True)
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--requests", type=int, required=True)
    return parser.parse_args()


def main() -> None:
    options = _options()
    sizes = sorted(int(size) for size in options.sizes.split(","))
    django.setup()

    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection, connections, transaction
    from rest_framework.test import APIClient

    from core import actions, audit
    from core.choices import AuditEventType, Role
    from core.models import AuditEvent

    call_command("migrate", verbosity=0, interactive=False)
    user_model = get_user_model()
    root = user_model.objects.create_superuser(username="bench-root", password=None)
    team = actions.do_create_team(actor=root, slug="bench", name="Bench")
    officer = user_model.objects.create_user(username="bench-compliance", password=None)
    actions.do_grant_membership(team, actor=root, user=officer, role=Role.COMPLIANCE_OFFICER)

    def append(n: int, batch: int = 1) -> None:
        done = 0
        while done < n:
            with transaction.atomic():
                for _ in range(min(batch, n - done)):
                    audit.record_event(
                        AuditEventType.TEAM_UPDATED,
                        actor=root,
                        target=team,
                        team=team if done % 2 else None,
                        before={"description": f"before {done}"},
                        after={"description": f"after {done}"},
                        metadata={"bench": True, "i": done},
                    )
                    done += 1

    def rate(n: int, fn: Callable[[], Any]) -> float:
        started = time.perf_counter()
        fn()
        return n / (time.perf_counter() - started)

    def threaded(n: int) -> None:
        per_thread = [n // options.threads + (i < n % options.threads) for i in range(options.threads)]
        errors: list[BaseException] = []

        def work(count: int) -> None:
            try:
                append(count)
            except BaseException as exc:  # reported below: a benchmark that lost events must not print a figure
                errors.append(exc)
            finally:
                connections.close_all()

        threads = [threading.Thread(target=work, args=(count,)) for count in per_thread]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise RuntimeError(f"{len(errors)} thread(s) failed; first: {errors[0]!r}")

    def client_for(user: Any) -> APIClient:
        _, token = actions.do_create_token(actor=user, name="bench")
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        return client

    clients = {"superuser": client_for(root), "compliance officer": client_for(officer)}

    def latency(client: APIClient) -> tuple[float, float]:
        timings = []
        for i in range(options.requests + 10):
            started = time.perf_counter()
            response = client.get("/api/v1/audit-events/")
            elapsed = time.perf_counter() - started
            if response.status_code != 200:
                raise RuntimeError(f"/api/v1/audit-events/ answered {response.status_code}: {response.content[:200]!r}")
            if i >= 10:  # the first few warm caches and connections
                timings.append(elapsed * 1000)
        quantiles = statistics.quantiles(timings, n=100)
        return quantiles[49], quantiles[94]

    vendor = connection.vendor
    server = ""
    if vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            server = f" {cursor.fetchone()[0]}"
    else:
        import sqlite3

        server = f" {sqlite3.sqlite_version}"
    print(
        f"\n== Assay audit benchmark: {vendor}{server}, Python {platform.python_version()}, {os.cpu_count()} CPUs ==",
        flush=True,
    )
    rows = []
    for size in sizes:
        # Grow the chain to just below the target, then measure appends up to (about) the target.
        current = AuditEvent.objects.count()
        fill = size - current - 2 * options.sample
        if fill > 0:
            started = time.perf_counter()
            append(fill, batch=1000)
            print(
                f"  filled the chain to {current + fill:,} events in {time.perf_counter() - started:.1f}s", flush=True
            )
        sequential = rate(options.sample, lambda: append(options.sample))
        concurrent = rate(options.sample, lambda: threaded(options.sample))
        events = AuditEvent.objects.count()
        started = time.perf_counter()
        report = audit.verify_chain()
        verify_rate = report.events_checked / (time.perf_counter() - started)
        if not report.intact or report.events_checked != events:
            raise RuntimeError(f"the chain does not verify: {report.as_dict()}")
        api = {name: latency(client) for name, client in clients.items()}
        rows.append((events, sequential, concurrent, verify_rate, api))
        print(f"  measured at {events:,} events", flush=True)

    print()
    print(
        f"{'events':>9}  {'append seq':>11}  {f'append {options.threads} thr':>12}  {'verify':>10}  "
        + "  ".join(f"{f'API {name} p50/p95':>32}" for name in clients)
    )
    print(
        f"{'':>9}  {'events/s':>11}  {'events/s':>12}  {'events/s':>10}  " + "  ".join(f"{'ms':>32}" for _ in clients)
    )
    for events, sequential, concurrent, verify_rate, api in rows:
        latencies = "  ".join(f"{f'{p50:.1f} / {p95:.1f}':>32}" for p50, p95 in api.values())
        print(f"{events:>9,}  {sequential:>11,.0f}  {concurrent:>12,.0f}  {verify_rate:>10,.0f}  {latencies}")
    print(
        f"\n(append: {options.sample:,} events per figure, one transaction each; API: first page of 50, "
        f"{options.requests} requests after 10 warm-up, in-process through the full middleware stack)"
    )


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(130)
