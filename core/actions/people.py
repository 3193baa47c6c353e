"""Actions on people: users, teams, memberships, service accounts, API tokens and sign-in events."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from core.audit import record_event
from core.choices import AuditEventType, BoardRole, MembershipSource, Role, TokenKind
from core.models import (
    ApiToken,
    Membership,
    ServiceAccount,
    Team,
)
from core.models.tokens import digest_secret
from core.querysets import CHANGE

User = get_user_model()


def require_team(actor: Any, team: Team, action: str = CHANGE) -> None:
    """Refuse unless ``actor`` may ``action`` (change, by default) ``team``."""
    if not Team.objects.restrict(actor, action).filter(pk=team.pk).exists():
        raise PermissionDenied(f"You may not {action} team {team.slug}.")


# --- People -------------------------------------------------------------------------------------------------------


@transaction.atomic
def do_create_user(
    *,
    actor: Any | None,
    username: str,
    password: str | None,
    email: str = "",
    first_name: str = "",
    last_name: str = "",
    is_superuser: bool = False,
) -> Any:
    """Create a person. Platform administrators create people; ``actor=None`` only bootstraps the first superuser."""
    if actor is None:
        if not is_superuser or User.objects.filter(is_superuser=True).exists():
            raise PermissionDenied("Only platform administrators create users.")
    elif not actor.is_superuser:
        raise PermissionDenied("Only platform administrators create users.")
    user = User(
        username=username,
        email=email,
        first_name=first_name,
        last_name=last_name,
        is_staff=is_superuser,
        is_superuser=is_superuser,
    )
    if password:
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.full_clean(exclude=["password"])
    user.save()
    record_event(
        AuditEventType.USER_CREATED,
        actor=actor,
        target=user,
        after={"username": username, "email": email, "is_superuser": is_superuser},
    )
    return user


# --- Teams --------------------------------------------------------------------------------------------------------


@transaction.atomic
def do_create_team(*, actor: Any, slug: str, name: str, description: str = "") -> Team:
    if not actor.is_superuser:
        raise PermissionDenied("Only platform administrators create teams.")
    team = Team(slug=slug, name=name, description=description, created_by=actor)
    team.full_clean()
    team.save()
    record_event(
        AuditEventType.TEAM_CREATED,
        actor=actor,
        target=team,
        team=team,
        after={"slug": slug, "name": name, "description": description},
    )
    return team


@transaction.atomic
def do_update_team(team: Team, *, actor: Any, name: str | None = None, description: str | None = None) -> Team:
    require_team(actor, team)
    # Lock the row so that two concurrent edits each record the true "before".
    team = Team.objects.select_for_update().get(pk=team.pk)
    before = {"name": team.name, "description": team.description}
    if name is not None:
        team.name = name
    if description is not None:
        team.description = description
    team.full_clean()
    after = {"name": team.name, "description": team.description}
    if after == before:
        return team
    team.save(update_fields=["name", "description"])
    changed = [key for key in after if after[key] != before[key]]
    record_event(
        AuditEventType.TEAM_UPDATED,
        actor=actor,
        target=team,
        team=team,
        before={key: before[key] for key in changed},
        after={key: after[key] for key in changed},
    )
    return team


# --- Memberships --------------------------------------------------------------------------------------------------


@transaction.atomic
def do_grant_membership(
    team: Team, *, actor: Any | None, user: Any, role: str, board_role: str = "", source: str = MembershipSource.LOCAL
) -> Membership:
    """Grant ``role`` in ``team``. ``source=sso`` rows are granted by the sign-in itself (``actor=None``, on the
    provider's word through a platform admin's group mapping) and follow the provider's groups thereafter."""
    _require_membership_writer(actor, team, source)
    if role not in Role.values:
        raise ValidationError({"role": f"Unknown role {role!r}."})
    if board_role and board_role not in BoardRole.values:
        raise ValidationError({"board_role": f"Unknown board role {board_role!r}."})
    if role == Role.REVIEWER and not board_role:
        raise ValidationError({"board_role": "A reviewer needs a board role."})
    if role != Role.REVIEWER and board_role:
        raise ValidationError({"board_role": "Only reviewers hold a board role."})
    if hasattr(user, "service_account") and role not in (Role.ENGINEER, Role.AUDITOR):
        raise ValidationError({"role": "A service account may only be an engineer or an auditor."})
    membership = Membership(team=team, user=user, role=role, board_role=board_role, granted_by=actor, source=source)
    membership.full_clean()
    membership.save()
    record_event(
        AuditEventType.MEMBERSHIP_GRANTED,
        actor=actor,
        target=membership,
        team=team,
        after={"user": user.get_username(), "role": role, "board_role": board_role, "source": source},
    )
    return membership


@transaction.atomic
def do_revoke_membership(membership: Membership, *, actor: Any | None) -> None:
    """Revoke a membership. ``actor=None`` is the sign-in removing an ``sso`` row whose group the provider no longer
    asserts; it may leave a team without an admin (platform administrators still run it), because keeping a role the
    provider withdrew would be worse."""
    _require_membership_writer(actor, membership.team, membership.source)
    # Lock the team: two admins revoking each other at once would each see the other remain and leave none.
    team = Team.objects.select_for_update().get(pk=membership.team_id)
    current = Membership.objects.select_related("user").filter(pk=membership.pk).first()
    if current is None:
        return  # revoked meanwhile by someone else, who wrote the event
    membership = current
    # Superusers too: a team without an admin can be run only by platform administrators, which is not a state
    # to reach by accident. Grant the new admin first.
    if (
        actor is not None
        and membership.role == Role.ADMIN
        and not Membership.objects.filter(team=team, role=Role.ADMIN).exclude(pk=membership.pk).exists()
    ):
        raise ValidationError({"role": "A team keeps at least one admin; grant another before revoking this one."})
    before = {
        "user": membership.user.get_username(),
        "role": membership.role,
        "board_role": membership.board_role,
        "source": membership.source,
    }
    record_event(AuditEventType.MEMBERSHIP_REVOKED, actor=actor, target=membership, team=team, before=before)
    membership.delete()


def _require_membership_writer(actor: Any | None, team: Team, source: str) -> None:
    if actor is None:
        # Only the provider's sign-in acts without a person, and only on the rows it keeps.
        if source != MembershipSource.SSO:
            raise PermissionDenied("Only the identity provider's sign-in changes memberships without an actor.")
        return
    require_team(actor, team)


# --- Service accounts and tokens ----------------------------------------------------------------------------------


@transaction.atomic
def do_create_service_account(
    team: Team, *, actor: Any, username: str, description: str = "", role: str = Role.ENGINEER
) -> ServiceAccount:
    require_team(actor, team)
    user = User(username=username, is_active=True)
    user.set_unusable_password()
    user.full_clean(exclude=["password"])
    user.save()
    account = ServiceAccount(user=user, team=team, description=description, created_by=actor)
    account.full_clean()
    account.save()
    record_event(
        AuditEventType.SERVICE_ACCOUNT_CREATED,
        actor=actor,
        target=account,
        team=team,
        after={"username": username, "description": description},
    )
    do_grant_membership(team, actor=actor, user=user, role=role)
    return account


@transaction.atomic
def do_create_token(
    *,
    actor: Any,
    name: str,
    owner: Any | None = None,
    ttl_days: int | None = None,
    presented_token: ApiToken | None = None,
) -> tuple[ApiToken, str]:
    """Create a token for ``owner`` (default: the actor). Returns the row and the one-time plaintext token.

    ``presented_token`` is the token the request authenticated with, if any: a new token never outlives it, so that
    a leaked short-lived token cannot be turned into a long-lived one.
    """
    owner = owner or actor
    assert owner is not None
    account = getattr(owner, "service_account", None)
    if owner.pk != actor.pk:
        if account is None:
            raise PermissionDenied("You may only create tokens for yourself or your teams' service accounts.")
        require_team(actor, account.team)
    elif account is not None:
        raise PermissionDenied("A service account cannot create tokens; a team admin creates them.")
    ttl = settings.API_TOKEN_DEFAULT_TTL_DAYS if ttl_days is None else ttl_days
    if not 1 <= ttl <= settings.API_TOKEN_MAX_TTL_DAYS:
        raise ValidationError({"ttl_days": f"Must be between 1 and {settings.API_TOKEN_MAX_TTL_DAYS} days."})
    key_id, secret = ApiToken.new_secret()
    now = timezone.now()
    expires_at = now + timedelta(days=ttl)
    if presented_token is not None and presented_token.expires_at < expires_at:
        expires_at = presented_token.expires_at
    token = ApiToken(
        user=owner,
        name=name,
        kind=TokenKind.SERVICE if account else TokenKind.PERSONAL,
        key_id=key_id,
        digest=digest_secret(secret),
        created_at=now,
        created_by=actor,
        expires_at=expires_at,
    )
    token.full_clean()
    token.save()
    record_event(
        AuditEventType.TOKEN_CREATED,
        actor=actor,
        target=token,
        team=account.team if account else None,
        after={
            "name": name,
            "owner": owner.get_username(),
            "kind": token.kind,
            "key_id": key_id,
            "expires_at": token.expires_at,
        },
    )
    return token, ApiToken.compose(key_id, secret)


@transaction.atomic
def do_revoke_token(token: ApiToken, *, actor: Any) -> ApiToken:
    if not ApiToken.objects.restrict(actor).filter(pk=token.pk).exists():
        raise PermissionDenied("You may only revoke your own tokens and those of your teams' service accounts.")
    # Conditional update: of two concurrent revocations only one changes the row and writes the event.
    changed = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now(), revoked_by=actor
    )
    token.refresh_from_db()
    if changed:
        account = getattr(token.user, "service_account", None)
        record_event(
            AuditEventType.TOKEN_REVOKED,
            actor=actor,
            target=token,
            team=account.team if account else None,
            after={"key_id": token.key_id, "owner": token.user.get_username()},
        )
    return token


# --- Authentication events ----------------------------------------------------------------------------------------


@transaction.atomic
def do_record_auth_event(event_type: AuditEventType, *, actor: Any | None, username: str, remote_addr: str) -> None:
    record_event(
        event_type,
        actor=actor,
        target_type="auth.user",
        target_id=username[:64],
        target_repr=username[:255],
        metadata={"remote_addr": remote_addr},
    )
