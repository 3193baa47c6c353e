"""Every write to governance objects goes through one of these functions.

Each is atomic, takes the acting user as the keyword-only ``actor``, validates and writes its audit event inside the
same transaction (see core.actions). Refusals an investigator would want to see (a signature or a key refused on
receipt, private key material sent to the server) raise ``core.refusals.Refusal`` after the refused transaction rolled
back and the action recorded the refusal in a transaction of its own. One module per aggregate.
"""

from governance.actions.approvals import STALE_MESSAGE, do_sign_release_web, do_submit_approval
from governance.actions.boards import (
    do_add_board_member,
    do_create_board,
    do_create_environment,
    do_remove_board_member,
    may_manage,
)
from governance.actions.keys import (
    do_create_web_signing_key,
    do_register_signing_key,
    do_revoke_signing_key,
    refuse_private_keys,
)
from governance.actions.policies import do_add_policy_version, do_create_policy
from governance.actions.releases import do_export_bundle, do_request_release, do_withdraw_release
from governance.actions.rules import PRIVATE_KEY_MESSAGE
from governance.policies import policy_in_force

__all__ = [
    "PRIVATE_KEY_MESSAGE",
    "STALE_MESSAGE",
    "do_add_board_member",
    "do_add_policy_version",
    "do_create_board",
    "do_create_environment",
    "do_create_policy",
    "do_create_web_signing_key",
    "do_export_bundle",
    "do_register_signing_key",
    "do_remove_board_member",
    "do_request_release",
    "do_revoke_signing_key",
    "do_sign_release_web",
    "do_submit_approval",
    "do_withdraw_release",
    "may_manage",
    "policy_in_force",
    "refuse_private_keys",
]
