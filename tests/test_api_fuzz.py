"""A bounded, schema-driven fuzz run of the whole API (schemathesis against the live OpenAPI schema at /api/schema/).

Every operation gets valid and invalid requests generated from its schema, sent through Django's WSGI application
with a real bearer token of the demo's superuser, over the seeded demo data (so ids and slugs exist). It fails on
any 5xx, on any status an operation does not document, and on any response that does not match its schema.

Bounded: ``FUZZ_EXAMPLES`` examples per operation and generation mode (``ASSAY_FUZZ_EXAMPLES`` overrides it), no
Hypothesis database, every write inside the test's own transaction and artifacts in a temporary folder.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.db import transaction
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from core import actions
from core.management.commands.seed_demo import ADMIN

schemathesis = pytest.importorskip("schemathesis")

pytestmark = [pytest.mark.fuzz, pytest.mark.django_db]

FUZZ_EXAMPLES = int(os.environ.get("ASSAY_FUZZ_EXAMPLES", "8"))
# To chase a failure: ASSAY_FUZZ_ONLY="GET /api/v1/models/{id}/" runs only the operations whose "METHOD path" has it.
FUZZ_ONLY = os.environ.get("ASSAY_FUZZ_ONLY", "")

# Operations left out, each for a reason: revoking tokens could revoke the fuzzer's own and turn the rest of the
# run into 401s.
SKIPPED = {("POST", "/api/v1/tokens/{id}/revoke/"), ("DELETE", "/api/v1/tokens/{id}/")}


@pytest.fixture
def demo(settings: Any, tmp_path: Path) -> str:
    """The seeded demo (people, registry, releases), its files in a temporary folder; returns a superuser token."""
    settings.ARTIFACT_ROOT = tmp_path / "artifacts"
    settings.DATA_LAKE_ROOT = tmp_path / "lake"
    call_command("seed_demo", "--quiet-logins", stdout=StringIO())
    call_command("seed_registry_demo", stdout=StringIO())
    call_command("seed_release_demo", stdout=StringIO())
    call_command("seed_compliance_demo", stdout=StringIO())
    call_command("seed_serving_demo", stdout=StringIO())
    _scored_decision()
    from django.contrib.auth import get_user_model

    _, token = actions.do_create_token(actor=get_user_model().objects.get(username=ADMIN), name="fuzz")
    return str(token)


def _scored_decision() -> None:
    """One logged prediction of the demo's deployment with its decision record, as the inference service writes
    them (serving.inference.logbook.write_rows), so that their read endpoints have something to read."""
    import uuid

    from django.utils import timezone

    from serving.decisions import Decision
    from serving.inference.logbook import write_rows
    from serving.models import Deployment

    deployment = Deployment.objects.order_by("pk").first()
    assert deployment is not None
    write_rows(
        [
            {
                "request_id": str(uuid.uuid4()),
                "logged_at": timezone.now(),
                "environment_id": deployment.environment_id,
                "model_id": deployment.model_id,
                "deployment_id": deployment.pk,
                "model_version_id": deployment.model_version_id,
                "role": deployment.role,
                "returned": True,
                "token_id": None,
                "caller": "fuzz",
                "routing_key_digest": "",
                "subject_digest": "",
                "rows": 1,
                "inputs": [{"x": 1.0}],
                "inputs_sha256": "",
                "outputs": [{"score": 0.5}],
                "scores": [0.5],
                "latency_us": 100,
                "quality": {},
                "decision": Decision("Approved", 0.5, [], None, None, False).as_json(),
            }
        ]
    )


def _checks() -> list[Any]:
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    return [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture
def hypothesis_home(tmp_path: Path) -> Iterator[Path]:
    """Hypothesis keeps what it learns (examples, constants) in a folder: the test's own, not the working tree."""
    from hypothesis.configuration import set_hypothesis_home_dir

    home = tmp_path / "hypothesis"
    set_hypothesis_home_dir(home)
    try:
        yield home
    finally:
        set_hypothesis_home_dir(None)


@pytest.fixture
def wsgi_app() -> Iterator[Any]:
    """Django's WSGI application, kept on the test's connection: a request's end closes the database connection
    otherwise (and with it the test's transaction), which Django's own test client prevents the same way."""
    from django.core.signals import request_finished, request_started
    from django.core.wsgi import get_wsgi_application
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield get_wsgi_application()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def _collections() -> tuple[dict[str, tuple[Any, str]], dict[tuple[str, str], tuple[Any, str, str]]]:
    from compliance.models import DataAccessGrant, Dpia, LegalHold, RetentionPolicy
    from core.models import (
        ApiToken,
        AuditCheckpoint,
        AuditEvent,
        GroupMapping,
        Job,
        Membership,
        Notification,
        ServiceAccount,
        Team,
        WebhookDelivery,
        WebhookEndpoint,
    )
    from governance.models import BoardMember, Environment, Release, ReleasePolicy, ReviewBoard, SigningKey
    from registry.models import (
        Dataset,
        DatasetVersion,
        FeatureSetVersion,
        FeatureView,
        ModelVersion,
        RegisteredModel,
        UseCase,
    )
    from serving.models import DecisionRecord, Deployment, PredictionLog, Route

    # The collection a path parameter follows -> (model, attribute the URL names it by).
    simple = {
        "audit-checkpoints": (AuditCheckpoint, "pk"),
        "audit-events": (AuditEvent, "seq"),
        "boards": (ReviewBoard, "pk"),
        "data-grants": (DataAccessGrant, "pk"),
        "datasets": (Dataset, "pk"),
        "deployments": (Deployment, "pk"),
        "decisions": (DecisionRecord, "uid"),
        "dpias": (Dpia, "pk"),
        "holds": (LegalHold, "pk"),
        "policies": (RetentionPolicy, "pk"),
        "predictions": (PredictionLog, "pk"),
        "routes": (Route, "pk"),
        "environments": (Environment, "slug"),
        "feature-views": (FeatureView, "pk"),
        "group-mappings": (GroupMapping, "pk"),
        "jobs": (Job, "public_id"),
        "memberships": (Membership, "pk"),
        "model-versions": (ModelVersion, "pk"),
        "models": (RegisteredModel, "pk"),
        "notifications": (Notification, "pk"),
        "release-policies": (ReleasePolicy, "pk"),
        "releases": (Release, "pk"),
        "service-accounts": (ServiceAccount, "pk"),
        "signing-keys": (SigningKey, "pk"),
        "teams": (Team, "slug"),
        "tokens": (ApiToken, "pk"),
        "use-cases": (UseCase, "pk"),
        "webhooks": (WebhookEndpoint, "pk"),
        "webhook-deliveries": (WebhookDelivery, "pk"),
    }
    # (parent collection, child collection) -> (child model, its parent's key, attribute the URL names it by).
    nested = {
        ("models", "versions"): (ModelVersion, "model_id", "number"),
        ("datasets", "versions"): (DatasetVersion, "dataset_id", "number"),
        ("feature-views", "versions"): (FeatureSetVersion, "feature_view_id", "number"),
        ("boards", "members"): (BoardMember, "board_id", "pk"),
    }
    return simple, nested


def existing_path_parameters(path: str) -> dict[str, Any] | None:
    """Path parameters of ``path`` that name objects of the seeded demo (``{"model_pk": 3, "number": 1}``), or
    None when one cannot be found: generated ids alone almost never name an existing object."""
    simple, nested = _collections()
    segments = path.strip("/").split("/")
    values: dict[str, Any] = {}
    for index, segment in enumerate(segments):
        if not segment.startswith("{"):
            continue
        name = segment[1:-1]
        collection = segments[index - 1]
        child = segments[index + 1] if index + 1 < len(segments) else ""
        pair = (collection, child) if (collection, child) in nested else None
        if index >= 3 and (segments[index - 3], collection) in nested:
            continue  # a child's key ({number}): named with its parent's
        if pair is not None:
            model, parent_key, attr = nested[pair]
            obj = model.objects.order_by("pk").first()
            if obj is None:
                return None
            values[name] = getattr(obj, parent_key)
            if index + 2 < len(segments) and segments[index + 2].startswith("{"):
                values[segments[index + 2][1:-1]] = getattr(obj, attr)
            continue
        if collection not in simple:
            return None
        model, attr = simple[collection]
        obj = model.objects.order_by("pk").first()
        if obj is None:
            return None
        values[name] = str(getattr(obj, attr))
    return {key: str(value) for key, value in values.items()}


def explain(exc: BaseException) -> str:
    """The failure and, for a group (Hypothesis's flaky reports, schemathesis's distinct failures), each inside it."""
    lines = [str(exc)]
    for inner in getattr(exc, "exceptions", ()):
        lines.append("  - " + explain(inner).replace("\n", "\n    "))
    text = "\n".join(lines)
    return text if len(text) < 6000 else text[:6000] + " ..."


def fuzz(operation: Any, mode: Any, headers: dict[str, str], seen: set[int]) -> None:
    """Up to ``FUZZ_EXAMPLES`` generated requests to one operation, half of them (when it has path parameters) at
    objects that exist; raises on the first failing check."""
    checks = _checks()
    strategy = operation.as_strategy(generation_mode=mode)
    existing = existing_path_parameters(operation.path) if "{" in operation.path else None
    if existing:
        strategy = st.one_of(strategy, operation.as_strategy(generation_mode=mode, path_parameters=existing))

    @given(case=strategy)
    @settings(
        max_examples=FUZZ_EXAMPLES,
        deadline=None,
        database=None,  # nothing written outside the test database: no .hypothesis folder
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        # Each request in a savepoint, as each is in a transaction of its own in production: a 500 on PostgreSQL
        # aborts the transaction, which would fail every request after it.
        savepoint = transaction.savepoint()
        response = case.call(headers=headers)
        if response.status_code >= 500:
            transaction.savepoint_rollback(savepoint)
        else:
            transaction.savepoint_commit(savepoint)
        seen.add(response.status_code)
        case.validate_response(response, checks=checks, headers=headers)

    run()


def test_the_api_survives_schema_driven_fuzzing(demo: str, wsgi_app: Any, hypothesis_home: Path) -> None:
    from schemathesis import GenerationMode

    headers = {"Authorization": f"Bearer {demo}"}
    schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", wsgi_app, headers=headers)
    failures: list[str] = []
    statuses: dict[tuple[str, str], set[int]] = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        key = (operation.method.upper(), operation.path)
        if key in SKIPPED or FUZZ_ONLY not in f"{key[0]} {key[1]}":
            continue
        seen = statuses.setdefault(key, set())
        # The run sends thousands of requests as one user within a minute: the per-user throttle (its rates are read
        # when DRF's classes are defined, so no setting turns it off here) would answer the later operations 429
        # only. Its counts live in the cache: cleared before each operation.
        cache.clear()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                fuzz(operation, mode, headers, seen)
            except (KeyboardInterrupt, SystemExit):
                raise
            except BaseException as exc:  # every failure is collected, then reported together
                failures.append(f"{key[0]} {key[1]} ({mode.value}): {explain(exc)}")
    assert FUZZ_ONLY or len(statuses) > 50, f"only {len(statuses)} operations in the schema"
    assert not failures, "\n\n".join(failures)
    if FUZZ_ONLY:
        return
    # The run reached the API rather than its front door: no operation answered only 401, and most reads succeeded.
    assert not [key for key, seen in statuses.items() if seen <= {401}]
    reads = [key for key in statuses if key[0] == "GET"]
    succeeded = [key for key in reads if any(200 <= status < 300 for status in statuses[key])]
    assert len(succeeded) >= len(reads) * 0.6, "; ".join(" ".join(key) for key in sorted(set(reads) - set(succeeded)))
