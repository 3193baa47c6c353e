"""Every write to the core models goes through one of these functions.

Each is atomic, takes the acting user as the keyword-only ``actor``, validates with ``full_clean()`` and writes its
audit event inside the same transaction. Views, serializers, forms, commands and tasks call these; they never save
models themselves.

One module per concern (people and teams, single sign-on, notifications); every action is importable from here.
"""

from core.actions.notifications import (
    do_create_webhook,
    do_delete_webhook,
    do_mark_notifications_read,
    do_set_notification_preferences,
    notification_settings,
)
from core.actions.people import (
    do_create_service_account,
    do_create_team,
    do_create_token,
    do_create_user,
    do_grant_membership,
    do_record_auth_event,
    do_revoke_membership,
    do_revoke_token,
    do_update_team,
)
from core.actions.sso import (
    RESERVED_GROUPS,
    SsoSignInRefused,
    do_create_group_mapping,
    do_deactivate_user,
    do_delete_group_mapping,
    do_record_sso_refusal,
    do_sso_recheck_passed,
    do_sso_sign_in,
)

__all__ = [
    "RESERVED_GROUPS",
    "SsoSignInRefused",
    "do_create_group_mapping",
    "do_create_service_account",
    "do_create_team",
    "do_create_token",
    "do_create_user",
    "do_create_webhook",
    "do_deactivate_user",
    "do_delete_group_mapping",
    "do_delete_webhook",
    "do_grant_membership",
    "do_mark_notifications_read",
    "do_record_auth_event",
    "do_record_sso_refusal",
    "do_revoke_membership",
    "do_revoke_token",
    "do_set_notification_preferences",
    "do_sso_recheck_passed",
    "do_sso_sign_in",
    "do_update_team",
    "notification_settings",
]
