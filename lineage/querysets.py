"""Who sees which lineage nodes, as SQL filters (docs/lineage.md, "Reading the graph").

A user sees the datasets, jobs and runs of the namespaces their teams own. A namespace nobody claimed (only ever
read from) is nobody's: its datasets are listed to the team whose registry object a node links to. A traversal
from a node one sees may reach others (another team's job reading one's dataset): those are shown opaque, their id
and nothing else (lineage.presentation), except nodes of unclaimed namespaces that link to no registry object, which
a traversal shows by name as "unregistered", without their facets: they are the raw sources a compliance officer
needs named.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db.models import Q, QuerySet

from core.querysets import VIEW
from registry.querysets import teams_for

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User


def team_ids(user: User | AnonymousUser) -> QuerySet[Any]:
    """The ids of the teams whose lineage ``user`` reads (a subquery)."""
    return teams_for(user, VIEW).values("pk")


def visible_datasets(user: User | AnonymousUser, prefix: str = "") -> Q:
    """The lineage datasets ``user`` sees in full (``prefix`` walks to them from another model: ``"dataset__"``)."""
    teams = team_ids(user)
    unclaimed = Q(**{f"{prefix}namespace__team__isnull": True})
    return Q(**{f"{prefix}namespace__team__in": teams}) | (
        unclaimed
        & (
            Q(**{f"{prefix}registry_dataset__team__in": teams})
            | Q(**{f"{prefix}feature_set_version__feature_view__team__in": teams})
            | Q(**{f"{prefix}model_version__model__team__in": teams})
        )
    )


def unclaimed_unregistered(prefix: str = "") -> Q:
    """Datasets of unclaimed namespaces linked to nothing: shown by name (not facets) where a traversal reaches."""
    return Q(
        **{
            f"{prefix}namespace__team__isnull": True,
            f"{prefix}registry_dataset__isnull": True,
            f"{prefix}feature_set_version__isnull": True,
            f"{prefix}model_version__isnull": True,
        }
    )


def visible_jobs(user: User | AnonymousUser, prefix: str = "") -> Q:
    """The lineage jobs (or, with ``prefix="job__"``, runs) ``user`` sees."""
    return Q(**{f"{prefix}namespace__team__in": team_ids(user)})
