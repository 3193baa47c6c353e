"""Every write to the lineage store goes through one of these functions (see core.actions): atomic, the actor
keyword-only, the audit event written in the same transaction."""

from lineage.actions.links import do_relink

__all__ = ["do_relink"]
