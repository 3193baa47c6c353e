"""Every write to the lineage store goes through one of these functions (see core.actions): atomic, the actor
keyword-only, the audit event written in the same transaction."""

from lineage.actions.ingest import (
    DUPLICATE,
    REFUSED,
    STORED,
    EventResult,
    IngestReport,
    PayloadInvalid,
    do_ingest_events,
)
from lineage.actions.links import do_relink
from lineage.actions.namespaces import do_assign_namespace

__all__ = [
    "DUPLICATE",
    "REFUSED",
    "STORED",
    "EventResult",
    "IngestReport",
    "PayloadInvalid",
    "do_assign_namespace",
    "do_ingest_events",
    "do_relink",
]
