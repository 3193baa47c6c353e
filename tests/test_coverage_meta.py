"""Meta-tests: the product cannot grow a model without an API, or an audit event type nobody writes or tests.

docs/development.md, "Tests that keep the shape": a meta-test fails when a model has no API, or an audit event type is
never written or never asserted. New apps add themselves to APPS.
"""

from __future__ import annotations

import re
from pathlib import Path

from django.apps import apps
from django.urls import URLPattern, URLResolver, get_resolver

from core.choices import AuditEventType

ROOT = Path(__file__).resolve().parent.parent
APPS = ("core", "registry", "lineage", "audits", "compliance", "governance", "serving", "workers")

# Models reached only through another object's API, each with the reason.
NO_OWN_API = {
    "core.externalidentity": "the provider's account behind a user, written only by the sign-in and its re-check "
    "(core.sso); it holds a sealed refresh token, which no API should serve",
    "compliance.dpiaversion": "served inside the DPIA detail ('latest', 'versions'); written by the DPIA's actions",
    "compliance.dpiatransition": "served inside the DPIA version ('transitions'); written by the workflow actions",
    "core.joblogline": "served inside the job detail (/api/v1/jobs/<id>/ 'log')",
    "compliance.subjectrequesttransition": "served inside the subject request detail ('transitions'); its actions",
    "registry.modelversiontransition": "served inside the version detail ('transitions'); written by its action",
    "registry.registeredmodeltag": "the model's 'tags' as rows for the tag filters; written by the model's actions",
    "lineage.datasetschema": "a dataset node's schemas: its 'facets' and the run edges' schema; folded from events",
    "lineage.runtransition": "served inside the run (/api/v1/lineage/runs/<runId>/ 'transitions')",
    "lineage.runedge": "the graph's edges: /api/v1/lineage 'inEdges'/'outEdges' and a closure's runs' inputs/outputs",
    "lineage.columnedge": "column lineage: /api/v1/lineage/column",
    "compliance.legalholdevent": "served inside the hold's detail ('events'); written by the hold's actions",
    "compliance.retentionpolicyversion": "served inside the policy ('versions'); POST .../policies/<id>/versions/",
    "core.notificationpreference": "served as your map of kind to delivery: /api/v1/notification-preferences/",
    "compliance.dataaccessgrantdecision": "served inside the grant ('decisions'); POST .../data-grants/<id>/approve/",
}


def _api_models() -> set[str]:
    """The models behind every API view under /api/."""
    found: set[str] = set()

    def walk(patterns: list[URLPattern | URLResolver], prefix: str) -> None:
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, route)
                continue
            view = getattr(pattern.callback, "cls", None)
            if not route.startswith("api/") or view is None:
                continue
            queryset = getattr(view, "queryset", None)
            serializer_meta = getattr(getattr(view, "serializer_class", None), "Meta", None)
            model = queryset.model if queryset is not None else getattr(serializer_meta, "model", None)
            if model is not None:
                found.add(model._meta.label_lower)

    walk(get_resolver().url_patterns, "")
    return found


def _source(folders: tuple[str, ...]) -> str:
    texts = []
    for folder in folders:
        for path in (ROOT / folder).rglob("*.py"):
            if "migrations" in path.parts or path.name == "choices.py":
                continue
            texts.append(path.read_text(encoding="utf-8"))
    return "\n".join(texts)


def test_every_model_has_an_api_or_a_reason():
    served = _api_models()
    models = {
        model._meta.label_lower
        for model in apps.get_models()
        if model._meta.app_label in APPS and not model._meta.abstract
    }
    assert models, APPS
    missing = sorted(models - served - set(NO_OWN_API))
    assert not missing, f"models with no API view and no reason in NO_OWN_API: {missing}"
    stale = sorted(set(NO_OWN_API) - models)
    assert not stale, f"NO_OWN_API names models that no longer exist: {stale}"


def test_every_audit_event_type_is_written_by_the_product_and_asserted_by_a_test():
    product = _source(APPS)
    tests = _source(("tests",))
    unwritten, untested = [], []
    for member in AuditEventType:
        written = re.search(rf"AuditEventType\.{member.name}\b", product)
        if not written:
            unwritten.append(member.name)
        if not (re.search(rf"\b{member.name}\b", tests) or f'"{member.value}"' in tests):
            untested.append(member.name)
    assert not unwritten, f"event types no product code writes: {unwritten}"
    assert not untested, f"event types no test mentions: {untested}"
