"""What governance tells people (core.notifications; docs/notifications.md): a release awaits your board role, your
approval went stale, a release you requested is approved or refused. Raised by the actions that make each true, in
their transaction; each message links to the release page, where a reviewer signs.

Dedupe keys carry the manifest digest where it matters: a release whose manifest changed awaits its reviewers
again (a new notification), while a repeat of the same action on the same manifest tells nobody twice.
"""

from __future__ import annotations

from django.contrib.auth.models import User
from django.urls import reverse

from core.notifications import Kind, notify, register_kind
from governance.evaluation import ReleaseState, release_state
from governance.manifest import conflicted_users
from governance.models import Approval, BoardMember, Release

AWAITING = register_kind(
    Kind(
        "governance.release_awaiting_role",
        "A release awaits your board role",
        "A release request needs a signature in a board role you hold (when it is requested, and again when its "
        "approvals went stale).",
    )
)
STALE = register_kind(
    Kind(
        "governance.approval_stale",
        "Your approval went stale",
        "The manifest of a release you signed changed after you signed: your signature no longer counts.",
    )
)
APPROVED = register_kind(
    Kind(
        "governance.release_approved",
        "Your release is approved",
        "A release you requested reached its quorum of approvals.",
    )
)
REFUSED = register_kind(
    Kind(
        "governance.release_refused",
        "Your release is refused",
        "A board member rejected a release you requested.",
    )
)


def release_link(release: Release) -> str:
    return reverse("governance-release-detail", args=[release.pk])


def _title(release: Release) -> str:
    return f"{release.model_version} to {release.environment.slug}"


def notify_awaiting(release: Release, *, state: ReleaseState | None = None) -> None:
    """Tell each board member who holds a role the policy still needs, and who may approve and has not signed the
    manifest as it is now, that the release awaits them."""
    state = state or release_state(release, current_digest=release.manifest_digest)
    if not state.roles_needed and not state.approvers_needed:
        return
    roles = set(state.roles_needed) or set(release.policy_version.required_roles)
    signed = set(
        Approval.objects.filter(release_id=release.pk, manifest_digest=state.current_digest).values_list(
            "signer_id", flat=True
        )
    )
    barred = set(conflicted_users(release)) | signed
    seats = BoardMember.objects.filter(board_id=release.policy_version.policy.board_id, board_role__in=roles)
    recipients = list(User.objects.filter(pk__in=seats.values("user_id")).exclude(pk__in=barred))
    if not recipients:
        return
    title = _title(release)
    needed = ", ".join(f"{count} {role}" for role, count in sorted(state.roles_needed.items())) or "more approvers"
    notify(
        AWAITING.name,
        recipients=recipients,
        subject=f"Release {release.pk} awaits your signature: {title}",
        body=(
            f"{release.requested_by} asks to release {title}. The policy still needs: {needed}. You sit on the "
            f"review board in a role it needs: read the evidence and sign (approve or reject) on the release page."
        ),
        link=release_link(release),
        target=release,
        team=release.model_version.model.team,
        dedupe_key=f"release:{release.pk}:awaiting:{state.current_digest}",
        payload={"release": str(release.uid), "roles_needed": state.roles_needed},
    )


def notify_stale(release: Release, state: ReleaseState) -> None:
    """Tell the signers whose approvals of ``release`` went stale (the manifest changed after they signed), then
    the board members it now awaits."""
    stale = [item.approval for item in state.approvals if item.stale]
    if not stale:
        return
    title = _title(release)
    for approval in stale:
        notify(
            STALE.name,
            recipients=[approval.signer],
            subject=f"Your approval of release {release.pk} went stale: {title}",
            body=(
                f"You signed release {release.pk} ({title}) as {approval.board_role}, but its manifest changed "
                f"since (it was {approval.manifest_digest[:12]}…, it is now {state.current_digest[:12]}…): your "
                "signature no longer counts. Read what changed and sign again."
            ),
            link=release_link(release),
            target=release,
            team=release.model_version.model.team,
            dedupe_key=f"release:{release.pk}:stale:{approval.pk}:{state.current_digest}",
            payload={"release": str(release.uid), "approval": approval.pk},
        )
    notify_awaiting(release, state=state)


def notify_decided(release: Release, state: ReleaseState, *, approval: Approval) -> None:
    """Tell the requester their release is approved (quorum reached) or refused (a counted reject)."""
    title = _title(release)
    team = release.model_version.model.team
    if state.rejected and approval.decision == "reject":
        notify(
            REFUSED.name,
            recipients=[release.requested_by],
            subject=f"Release {release.pk} refused: {title}",
            body=(
                f"{approval.signer_name} rejected release {release.pk} ({title}) as {approval.board_role}"
                + (f": {approval.comment}" if approval.comment else ".")
            ),
            link=release_link(release),
            target=release,
            team=team,
            dedupe_key=f"release:{release.pk}:refused:{approval.pk}",
            payload={"release": str(release.uid), "signer": approval.signer_name},
        )
    elif state.approved:
        notify(
            APPROVED.name,
            recipients=[release.requested_by],
            subject=f"Release {release.pk} approved: {title}",
            body=f"Release {release.pk} ({title}) has the approvals its policy needs: {state.quorum.detail}. "
            "It may be deployed (the gate checks it again).",
            link=release_link(release),
            target=release,
            team=team,
            dedupe_key=f"release:{release.pk}:approved:{state.current_digest}",
            payload={"release": str(release.uid)},
        )
