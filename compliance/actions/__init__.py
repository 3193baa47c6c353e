"""Every write to compliance records goes through one of these functions (one module per aggregate): atomic, the
acting user keyword-only, the audit event written in the same transaction, refusals recorded (core.refusals)."""

from compliance.actions.dpia import (
    do_create_dpia,
    do_edit_dpia,
    do_new_dpia_version,
    do_reclassify_column,
    do_review_dpia,
    do_screen_dpia,
    do_submit_dpia,
)
from compliance.actions.grants import do_decide_grant, do_request_grant, do_revoke_grant, do_withdraw_grant
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
    "do_create_dpia",
    "do_create_retention_policy",
    "do_decide_grant",
    "do_delete_record_bytes",
    "do_edit_dpia",
    "do_new_dpia_version",
    "do_place_hold",
    "do_reclassify_column",
    "do_request_grant",
    "do_request_hold_release",
    "do_request_retention_run",
    "do_review_dpia",
    "do_revoke_grant",
    "do_screen_dpia",
    "do_submit_dpia",
    "do_withdraw_grant",
    "expiring",
    "purge_record",
    "run_retention",
]
