"""Marquez's node ids, read back: ``dataset:<namespace>:<name>``, ``job:<namespace>:<name>`` and
``datasetField:<namespace>:<name>:<field>``.

Namespaces and names hold colons themselves (``postgres://db:5432``), so an id is not split blindly: every split at
a colon is a candidate, and the one naming a stored node wins (one query per id; the longest namespace first when,
improbably, two would). Only nodes the reader sees in full are found (lineage.querysets): anything else is "not
found", as a missing one is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.db.models import Q

from lineage.models import LineageDataset, LineageJob
from lineage.querysets import visible_datasets, visible_jobs

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User

KINDS = ("dataset", "job", "datasetField")
# More colons than this in one id is no real name: refused rather than tried in every split.
MAX_COLONS = 32


class BadNodeId(ValueError):
    """The id is not of the form ``<kind>:<namespace>:<name>``; the message says why."""


@dataclass(frozen=True)
class Found:
    node: LineageDataset | LineageJob
    field: str | None = None


def parse_kind(node_id: str) -> tuple[str, str]:
    kind, sep, rest = node_id.partition(":")
    if not sep or kind not in KINDS:
        raise BadNodeId(f"Must start with one of {', '.join(f'{k}:' for k in KINDS)}")
    if not rest or rest.count(":") < (2 if kind == "datasetField" else 1):
        raise BadNodeId(f"Must read {kind}:<namespace>:<name>{':<field>' if kind == 'datasetField' else ''}.")
    if rest.count(":") > MAX_COLONS:
        raise BadNodeId(f"Too many colons (at most {MAX_COLONS}).")
    return kind, rest


def splits(text: str) -> list[tuple[str, str]]:
    """Every (before, after) split of ``text`` at a colon, the longest ``before`` first."""
    positions = [index for index, char in enumerate(text) if char == ":"]
    return [(text[:index], text[index + 1 :]) for index in reversed(positions)]


def find(node_id: str, user: User | AnonymousUser) -> Found | None:
    """The node ``node_id`` names among those ``user`` sees, else None; BadNodeId when it is malformed."""
    kind, rest = parse_kind(node_id)
    if kind == "job":
        return first(LineageJob.objects.filter(visible_jobs(user)), splits(rest))
    if kind == "dataset":
        return first(LineageDataset.objects.filter(visible_datasets(user)), splits(rest))
    candidates: list[tuple[str, str, str]] = []
    for head, field in splits(rest):
        candidates.extend((namespace, name, field) for namespace, name in splits(head))
    pairs = [(namespace, name) for namespace, name, _ in candidates]
    found = first(LineageDataset.objects.filter(visible_datasets(user)), pairs)
    if found is None:
        return None
    node = found.node
    field = next(f for namespace, name, f in candidates if f and (namespace, name) == (node.namespace.name, node.name))
    return Found(node, field)


def first(queryset: Any, pairs: list[tuple[str, str]]) -> Found | None:
    pairs = [(namespace, name) for namespace, name in pairs if namespace and name]
    if not pairs:
        return None
    query = Q()
    for namespace, name in pairs:
        query |= Q(namespace__name=namespace, name=name)
    rows = {(row.namespace.name, row.name): row for row in queryset.filter(query).select_related("namespace")}
    for pair in pairs:
        if pair in rows:
            return Found(rows[pair])
    return None
