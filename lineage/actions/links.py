"""Links of graph nodes to registry objects, persisted (lineage.links resolves; this writes and audits them)."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Q

from core.audit import record_event
from core.choices import AuditEventType
from core.models import Team
from lineage import links
from lineage.models import LineageDataset, RunEdge


@transaction.atomic
def do_relink(*, actor: User | None, team: Team | None = None) -> links.Linked:
    """Link every node and run edge that is still unresolved to the registry object it names now (lineage.links).

    The ingestion fold links what it creates; this catches the registry objects registered after their lineage
    arrived (``manage.py lineage_relink``, run on a schedule or after a bulk registration). ``team`` narrows it to
    the nodes of that team's namespaces and of unclaimed ones. The audit event says how many were linked; nothing
    linked, no event.
    """
    unresolved = LineageDataset.objects.filter(
        registry_dataset__isnull=True, feature_set_version__isnull=True, model_version__isnull=True
    ).select_related("namespace")
    edges = RunEdge.objects.filter(dataset_version__isnull=True).exclude(version="")
    if team is not None:
        unresolved = unresolved.filter(Q(namespace__team=team) | Q(namespace__team__isnull=True))
        edges = edges.filter(Q(dataset__namespace__team=team) | Q(dataset__namespace__team__isnull=True))
    # Lock the rows this relinks, so that a concurrent fold linking the same node does not write it twice.
    nodes = list(unresolved.select_for_update(of=("self",)))
    linked = links.resolve_new(nodes, list(edges.select_for_update(of=("self",))))
    if linked.datasets or linked.edges:
        record_event(
            AuditEventType.LINEAGE_RELINKED,
            actor=actor,
            team=team,
            metadata={"datasets_linked": linked.datasets, "edges_linked": linked.edges},
        )
    return linked
