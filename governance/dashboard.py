"""Governance's dashboard sections (core.dashboard): for compliance officers the releases awaiting signatures and the
signatures about to expire; for board members their review queue (governance.queue, the review page's own answer);
for engineers the releases they requested. Registered by GovernanceConfig.ready."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Case, Count, DateTimeField, ExpressionWrapper, F, Q, Value, When
from django.http import HttpRequest
from django.utils import timezone
from django.utils.safestring import SafeString

from core.dashboard import ROWS, Section, Viewer, is_builder, is_officer, register_section, render_section
from governance.choices import Decision, ReleaseStatus
from governance.models import Approval, BoardMember, Release, ReleasePolicyVersion
from governance.queue import review_queue

# Signatures that stop counting within this many days are shown as expiring soon.
APPROVAL_WARNING_DAYS = 14

RELEASE_RELATED = ("model_version__model__team", "environment", "requested_by", "policy_version__policy__board")


def awaiting_signatures(request: HttpRequest, viewer: Viewer) -> SafeString:
    """Open releases of the officer's teams, the longest waiting first, with the approvals they have so far."""
    releases = Release.objects.restrict(viewer.user).filter(status=ReleaseStatus.OPEN)
    rows = (
        releases.select_related(*RELEASE_RELATED)
        .annotate(
            approvals_so_far=Count("approvals__signer", filter=Q(approvals__decision=Decision.APPROVE), distinct=True)
        )
        .order_by("requested_at", "id")[:ROWS]
    )
    context = {"releases": rows, "total": releases.count()}
    return render_section(request, "awaiting-signatures", "governance/dash/awaiting.html", context)


def expiring_approvals(request: HttpRequest, viewer: Viewer) -> SafeString:
    """Signatures on open releases that stop counting within APPROVAL_WARNING_DAYS (received_at plus the policy
    version's approval_valid_days), soonest first. The validity differs per policy version, so the expiry is one
    CASE over the few validities in use, computed and filtered in SQL."""
    now = timezone.now()
    validities = sorted(
        set(
            ReleasePolicyVersion.objects.filter(releases__status=ReleaseStatus.OPEN).values_list(
                "approval_valid_days", flat=True
            )
        )
    )
    approvals = Approval.objects.none()
    if validities:
        expires = Case(
            *[
                When(
                    release__policy_version__approval_valid_days=days,
                    then=ExpressionWrapper(
                        F("received_at") + Value(timedelta(days=days)), output_field=DateTimeField()
                    ),
                )
                for days in validities
            ],
            output_field=DateTimeField(),
        )
        approvals = (
            Approval.objects.restrict(viewer.user)
            .filter(release__status=ReleaseStatus.OPEN)
            .annotate(expires_at=expires)
            .filter(expires_at__gt=now, expires_at__lte=now + timedelta(days=APPROVAL_WARNING_DAYS))
        )
    context = {
        "approvals": approvals.select_related("release__model_version__model", "release__environment").order_by(
            "expires_at", "id"
        )[:ROWS]
        if validities
        else [],
        "total": approvals.count() if validities else 0,
        "days": APPROVAL_WARNING_DAYS,
    }
    return render_section(request, "expiring-approvals", "governance/dash/expiring.html", context)


def sits_on_a_board(viewer: Viewer) -> bool:
    return BoardMember.objects.filter(user_id=viewer.user.pk or 0).exists()


def queue(request: HttpRequest, viewer: Viewer) -> SafeString:
    """The first few releases of the user's review queue (judging stops there; the full queue has its page)."""
    answer = review_queue(viewer.user, limit=ROWS)
    context = {"waiting": answer.waiting, "complete": answer.complete}
    return render_section(request, "review-queue", "governance/dash/queue.html", context)


def my_releases(request: HttpRequest, viewer: Viewer) -> SafeString:
    releases = (
        Release.objects.restrict(viewer.user)
        .filter(requested_by_id=viewer.user.pk)
        .select_related(*RELEASE_RELATED)
        .order_by("-requested_at", "-id")
    )
    context = {"releases": releases[:ROWS], "total": releases.count()}
    return render_section(request, "my-releases", "governance/dash/my_releases.html", context)


def register() -> None:
    register_section(Section("review-queue", applies=sits_on_a_board, render=queue, order=5))
    register_section(Section("awaiting-signatures", applies=is_officer, render=awaiting_signatures, order=10))
    register_section(Section("my-releases", applies=is_builder, render=my_releases, order=20))
    register_section(Section("expiring-approvals", applies=is_officer, render=expiring_approvals, order=45))
