"""Which signatures of a release still count, and whether those that do meet its policy.

Nothing here is stored: a release's approval is computed from its signatures every time it is judged, so that no
field can say "approved" when the signatures no longer do (governance.choices.ReleaseStatus).

An approval counts only while all of these hold (each failure is one reason in its ``ApprovalState``):

- ``stale``: it signed the manifest as it is now (its ``manifest_digest`` equals the digest of the manifest rebuilt
  from the database now, governance.manifest). A changed input makes it stale: still shown, no longer counted.
- ``expired``: the server received it less than the policy version's ``approval_valid_days`` ago. Server time
  decides; the signer's own ``signed_at`` claim is never read.
- ``key_revoked``: the key that verified it is not revoked. Revocation is not retroactive in the record, but it is
  in effect: from the moment a key is revoked, no approval made with it counts, old or new.
- ``not_on_board``: the signer still sits on the policy's board in the role they signed in.
- ``conflicted``: an approving signer is not barred by separation of duties (governance.manifest.conflicted_users:
  the requester, the version's authors and creator, whoever last changed what the manifest covers), judged now, so
  that someone who edits a dataset after signing loses their signature. A conflicted person's reject still counts.

The approvals that count go to ``assay_trust.quorum.evaluate_quorum``, the same rule the offline bundle verifier
uses: one person counts once however many roles they hold, each role needs its number of distinct people,
``min_total`` distinct approvers overall, and a counted reject vetoes.

The number of queries does not grow with the number of approvals (a test holds it to that).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Q
from django.utils import timezone

from assay_trust.quorum import QuorumResult, Vote, evaluate_quorum
from governance.choices import Decision
from governance.manifest import build_manifest, conflicted_users, manifest_diff, manifest_digest
from governance.models import Approval, BoardMember, Release

STALE = "stale"
EXPIRED = "expired"
KEY_REVOKED = "key_revoked"
NOT_ON_BOARD = "not_on_board"
CONFLICTED = "conflicted"


@dataclass(frozen=True)
class ApprovalState:
    """One approval judged now: whether it ``counts``, and if not, why (``codes``: the stable names above;
    ``reasons``: the same in words, one per code)."""

    approval: Approval
    counts: bool
    reasons: list[str] = field(default_factory=list)
    codes: list[str] = field(default_factory=list)

    @property
    def stale(self) -> bool:
        return STALE in self.codes


@dataclass(frozen=True)
class ReleaseState:
    """A release judged now. ``approved``: the approvals that count meet the policy and none of them rejects;
    ``rejected``: a counted reject vetoes it. ``roles_needed`` maps each role still short to how many more people
    it needs; ``approvers_needed`` how many more distinct approvers ``min_total`` asks for."""

    current_digest: str
    quorum: QuorumResult
    approvals: list[ApprovalState]
    roles_needed: dict[str, int]
    approvers_needed: int
    approved: bool
    rejected: bool

    @property
    def counted(self) -> list[ApprovalState]:
        return [state for state in self.approvals if state.counts]

    def summary(self) -> str:
        """One line: the quorum's verdict and how many signatures do not count, by reason."""
        ignored: dict[str, int] = {}
        for state in self.approvals:
            for code in state.codes:
                ignored[code] = ignored.get(code, 0) + 1
        text = self.quorum.detail
        if ignored:
            text += " (not counted: " + ", ".join(f"{count} {code}" for code, count in sorted(ignored.items())) + ")"
        return text


def current_manifest_digest(release: Release) -> str:
    """The digest of the release's manifest rebuilt from the database now."""
    return manifest_digest(build_manifest(release))


def approval_states(
    release: Release, *, now: datetime | None = None, current_digest: str | None = None
) -> list[ApprovalState]:
    """Every approval of ``release``, oldest first, each judged at ``now`` (default: the server's clock) against
    ``current_digest`` (default: rebuilt from the database now)."""
    now = now or timezone.now()
    if current_digest is None:
        current_digest = current_manifest_digest(release)
    policy_version = release.policy_version
    validity = timedelta(days=policy_version.approval_valid_days)
    approvals = list(
        Approval.objects.filter(release_id=release.pk).select_related("key", "signer").order_by("received_at", "id")
    )
    if not approvals:
        return []
    seats = set(
        BoardMember.objects.filter(
            board_id=policy_version.policy.board_id, user_id__in={approval.signer_id for approval in approvals}
        ).values_list("user_id", "board_role")
    )
    conflicted: dict[int, str] = conflicted_users(release)
    states = []
    for approval in approvals:
        codes: list[str] = []
        reasons: list[str] = []
        if approval.manifest_digest != current_digest:
            codes.append(STALE)
            reasons.append(
                f"stale: it signed manifest {approval.manifest_digest[:12]}…, "
                f"the manifest is now {current_digest[:12]}…"
            )
        expires = approval.received_at + validity
        if expires <= now:
            codes.append(EXPIRED)
            reasons.append(
                f"expired on {expires:%Y-%m-%d %H:%M} UTC ({policy_version.approval_valid_days} days after it was "
                "received)"
            )
        key = approval.key
        if key.revoked_at is not None and key.revoked_at <= now:
            codes.append(KEY_REVOKED)
            reasons.append(
                f"key {key.fingerprint[:19]}… revoked on {key.revoked_at:%Y-%m-%d %H:%M} UTC: {key.revocation_reason}"
            )
        if (approval.signer_id, approval.board_role) not in seats:
            codes.append(NOT_ON_BOARD)
            reasons.append(f"{approval.signer_name} no longer sits on the board as {approval.board_role}")
        # A veto needs no independence: a conflicted person's reject still counts (governance.manifest).
        if approval.signer_id in conflicted and approval.decision == Decision.APPROVE:
            codes.append(CONFLICTED)
            reasons.append(f"{approval.signer_name} may not judge this release: {conflicted[approval.signer_id]}")
        states.append(ApprovalState(approval=approval, counts=not codes, reasons=reasons, codes=codes))
    return states


def requirements_of(release: Release) -> dict[str, Any]:
    """The policy version's rules in the shape ``evaluate_quorum`` reads."""
    policy_version = release.policy_version
    return {"roles": dict(policy_version.required_roles), "min_total": policy_version.min_total}


def release_state(release: Release, *, now: datetime | None = None, current_digest: str | None = None) -> ReleaseState:
    """``release`` judged at ``now`` by the policy version it recorded (see the module docstring)."""
    if current_digest is None:
        current_digest = current_manifest_digest(release)
    states = approval_states(release, now=now, current_digest=current_digest)
    votes = [
        # The signer's current username: unique, readable in the quorum's detail, and one person whatever roles.
        Vote(state.approval.signer.get_username(), state.approval.board_role, state.approval.decision)
        for state in states
        if state.counts
    ]
    quorum = evaluate_quorum(requirements_of(release), votes)
    return ReleaseState(
        current_digest=current_digest,
        quorum=quorum,
        approvals=states,
        roles_needed=dict(quorum.missing),
        approvers_needed=max(0, quorum.min_total - len(quorum.approvers)),
        approved=quorum.met,
        rejected=bool(quorum.vetoed_by),
    )


# --- What changed since the last approved release -----------------------------------------------------------------


def last_approved_release(release: Release) -> Release | None:
    """The newest earlier release of the same model that was approved (deployed, or approved by its signatures
    now), to show what changed since."""
    # Only a deployed release or one with an approving signature can be approved: the others are not judged (each
    # judgement rebuilds a manifest), so a model's many withdrawn or unsigned requests cost nothing here.
    earlier = (
        Release.objects.filter(
            Q(status="deployed") | Q(pk__in=Approval.objects.filter(decision="approve").values("release_id")),
            model_version__model_id=release.model_version.model_id,
            requested_at__lt=release.requested_at,
        )
        .exclude(pk=release.pk)
        .select_related("model_version__model__team", "environment", "policy_version__policy__board", "requested_by")
        .order_by("-requested_at", "-id")
    )
    for candidate in earlier[:20]:
        if candidate.status == "deployed" or release_state(candidate).approved:
            return candidate
    return None


def changes_since_last_approved(
    release: Release, current: dict[str, Any] | None = None
) -> tuple[Release | None, list[dict[str, Any]]]:
    """The last approved release of this model and what changed between the manifest its approvers signed and this
    release's current manifest (``current`` when the caller built it already; release-specific fields, such as the
    nonce, are left out)."""
    previous = last_approved_release(release)
    if previous is None:
        return None, []
    signed = previous.approvals.filter(decision="approve").order_by("-received_at").values_list("manifest", flat=True)
    before = signed.first() or previous.manifest
    skip = {"release", "nonce", "requested_at", "requester", "justification", "environment"}
    old = {key: value for key, value in before.items() if key not in skip}
    new = {key: value for key, value in (current or build_manifest(release)).items() if key not in skip}
    return previous, manifest_diff(old, new)
