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

__all__ = [
    "do_create_dpia",
    "do_edit_dpia",
    "do_new_dpia_version",
    "do_reclassify_column",
    "do_review_dpia",
    "do_screen_dpia",
    "do_submit_dpia",
]
