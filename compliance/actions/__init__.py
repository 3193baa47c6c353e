"""Every write to compliance records goes through one of these functions (see core.actions and
docs/retention.md): atomic, the acting user as the keyword-only ``actor``, the audit event inside the same
transaction, refusals recorded by the action itself."""

from compliance.actions.holds import do_confirm_hold_release, do_place_hold, do_request_hold_release
from compliance.actions.retention import (
    do_change_retention_policy,
    do_create_retention_policy,
    do_delete_record_bytes,
    do_request_retention_run,
    expiring,
    purge_record,
    run_retention,
)

__all__ = [
    "do_change_retention_policy",
    "do_confirm_hold_release",
    "do_create_retention_policy",
    "do_delete_record_bytes",
    "do_place_hold",
    "do_request_hold_release",
    "do_request_retention_run",
    "expiring",
    "purge_record",
    "run_retention",
]
