"""The governance REST API: environments, review boards and members, release policies and versions, signing keys,
releases with their manifests, approvals and withdrawal. Views validate input and call governance.actions; they
never write models themselves.

Reads are restricted in SQL (``Model.objects.restrict(user, "view")``): what the caller cannot see is a 404. A write
to something the caller sees but may not change is a 403, answered before the body is validated. Any request body
carrying private key material is refused first (400, "private keys are never sent to the server"), and neither the
response, the logs nor the audit event repeat it.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import SAFE_METHODS, BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from core.actors import acting_user
from core.api.base import RestrictedViewSetMixin, TeamScopedCreateMixin
from core.api.permissions import IsNotServiceAccount, RestrictedObjectPermission
from core.choices import AuditEventType
from core.models import Team
from core.querysets import CHANGE, VIEW, member_team_ids
from governance import actions
from governance.api import serializers as s
from governance.api.filters import ReleaseFilterSet, SigningKeyFilterSet
from governance.audit_policy import release_audits
from governance.evaluation import approval_states, changes_since_last_approved, release_state
from governance.manifest import build_manifest, manifest_digest, subject_name
from governance.models import (
    Approval,
    BoardMember,
    Environment,
    Release,
    ReleasePolicy,
    ReleasePolicyVersion,
    ReviewBoard,
    SigningKey,
)
from governance.querysets import MANAGER_ROLES, SIGN
from registry.models import ModelVersion

WRITE_PERMISSIONS: list[Any] = [IsAuthenticated, RestrictedObjectPermission]


class GovernanceApiMixin:
    """What every governance view shares: private key material in a request is refused before the view reads it
    (the refusals of the actions answer with their own status and reason: core.api.exceptions)."""

    # The audit event a private-key refusal writes here (approvals: APPROVAL_REFUSED).
    private_key_event = AuditEventType.SIGNING_KEY_REFUSED

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)  # type: ignore[misc]  # authentication, permissions, throttles
        if request.method not in SAFE_METHODS:
            actions.refuse_private_keys(
                [request.data, dict(request.query_params)],
                actor=acting_user(request.user),
                where=request.path,
                event_type=self.private_key_event,
            )


def _manager_teams(user: Any) -> QuerySet[Team]:
    if user.is_superuser:
        return Team.objects.all()
    return Team.objects.filter(pk__in=member_team_ids(user, MANAGER_ROLES))


class TeamOrOrgCreateMixin(TeamScopedCreateMixin):
    """Creates that name a ``team`` (a slug) or ``null`` for the organisation: a team the caller does not manage is
    a 403 (or reads as absent), the organisation's a 403 for anyone but platform administrators."""

    team_writers = "compliance officers and admins"
    org_message = "Only platform administrators manage the organisation's boards and policies."

    def writable_teams(self, action: str) -> QuerySet[Any]:
        if action == CHANGE:
            return _manager_teams(self.request.user)
        return super().writable_teams(action)

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = request.data if isinstance(request.data, dict) else {}
        if "team" in data and data["team"] is None and not request.user.is_superuser:
            raise PermissionDenied(self.org_message)
        return super().create(request, *args, **kwargs)


# --- Environments -------------------------------------------------------------------------------------------------


class EnvironmentViewSet(
    GovernanceApiMixin, RestrictedViewSetMixin, mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet[Any]
):
    """Where model versions are deployed (``staging``, ``production``), least exposed first. Everyone signed in
    reads them; platform administrators create them."""

    queryset = Environment.objects.select_related("created_by")
    serializer_class = s.EnvironmentSerializer
    lookup_field = "slug"
    ordering_fields = ["rank", "slug"]

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        if not request.user.is_superuser:
            raise PermissionDenied("Only platform administrators create environments.")
        return super().create(request, *args, **kwargs)

    def perform_create(self, serializer: Any) -> None:
        serializer.instance = actions.do_create_environment(
            actor=acting_user(self.request.user), **serializer.validated_data
        )


# --- Boards -------------------------------------------------------------------------------------------------------


class BoardViewSet(
    GovernanceApiMixin,
    TeamOrOrgCreateMixin,
    RestrictedViewSetMixin,
    mixins.CreateModelMixin,
    viewsets.ReadOnlyModelViewSet[Any],
):
    """Review boards: a team's (managed by its compliance officers and admins) or the organisation's (``team``
    null, managed by platform administrators), with their members. Members are under ``members/``."""

    queryset = ReviewBoard.objects.select_related("team", "created_by").prefetch_related(
        Prefetch("members", queryset=BoardMember.objects.select_related("user", "added_by"))
    )
    serializer_class = s.BoardSerializer
    permission_classes = WRITE_PERMISSIONS
    ordering_fields = ["slug", "name", "created_at"]

    def perform_create(self, serializer: Any) -> None:
        created = actions.do_create_board(actor=acting_user(self.request.user), **serializer.validated_data)
        serializer.instance = self.get_queryset().get(pk=created.pk)


class BoardMemberViewSet(
    GovernanceApiMixin,
    RestrictedViewSetMixin,
    mixins.ListModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet[Any],
):
    """The seats of one board: one row per (person, board role). POST seats someone; DELETE unseats."""

    queryset = BoardMember.objects.select_related("user", "added_by", "board")
    serializer_class = s.BoardMemberSerializer
    permission_classes = WRITE_PERMISSIONS
    ordering_fields = ["board_role", "added_at"]

    def board(self) -> ReviewBoard:
        board: ReviewBoard = get_object_or_404(
            ReviewBoard.objects.restrict(self.request.user, VIEW).select_related("team"), pk=self.kwargs["board_pk"]
        )
        return board

    def get_queryset(self) -> QuerySet[Any]:
        if getattr(self, "swagger_fake_view", False):
            return BoardMember.objects.none()
        return super().get_queryset().filter(board_id=self.board().pk)

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        board = self.board()
        if not ReviewBoard.objects.restrict(request.user, CHANGE).filter(pk=board.pk).exists():
            raise PermissionDenied("You may see this board, but not change its members.")
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        member = actions.do_add_board_member(board, actor=acting_user(request.user), **serializer.validated_data)
        return Response(self.get_serializer(member).data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance: BoardMember) -> None:
        actions.do_remove_board_member(instance, actor=acting_user(self.request.user))


# --- Policies -----------------------------------------------------------------------------------------------------


class PolicyViewSet(
    GovernanceApiMixin,
    TeamOrOrgCreateMixin,
    RestrictedViewSetMixin,
    mixins.CreateModelMixin,
    viewsets.ReadOnlyModelViewSet[Any],
):
    """Release policies: per environment and use-case risk tier, which board roles must approve and how many, the
    least number of approvers, how long an approval stays valid and which gate checks must pass. A team's policy
    beats the organisation's for the same environment and tier. The rules are versions, under ``versions/``."""

    queryset = ReleasePolicy.objects.select_related("team", "environment", "board", "created_by").prefetch_related(
        Prefetch(
            "versions",
            queryset=ReleasePolicyVersion.objects.select_related("created_by").order_by("-number"),
            to_attr="ordered_versions",
        )
    )
    permission_classes = WRITE_PERMISSIONS
    ordering_fields = ["name", "risk_tier", "created_at"]

    def get_serializer_class(self) -> Any:
        return s.PolicyCreateSerializer if self.action == "create" else s.PolicySerializer

    def get_serializer(self, *args: Any, **kwargs: Any) -> Any:
        serializer = super().get_serializer(*args, **kwargs)
        fields = getattr(serializer, "fields", {})
        if "board" in fields and not fields["board"].read_only:
            fields["board"].queryset = ReviewBoard.objects.restrict(self.request.user, VIEW)
        return serializer

    @extend_schema(request=s.PolicyCreateSerializer, responses={201: s.PolicySerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().create(request, *args, **kwargs)

    def perform_create(self, serializer: Any) -> None:
        data = dict(serializer.validated_data)
        data.setdefault("required_checks", [])
        created = actions.do_create_policy(actor=acting_user(self.request.user), **data)
        serializer.instance = self.get_queryset().get(pk=created.pk)


class PolicyVersionViewSet(
    GovernanceApiMixin,
    RestrictedViewSetMixin,
    mixins.ListModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet[Any],
):
    """A policy's versions, newest first. POST writes the next version: releases requested from then on are
    judged by it; open releases keep the version they recorded."""

    queryset = ReleasePolicyVersion.objects.select_related("created_by")
    serializer_class = s.PolicyVersionSerializer
    permission_classes = WRITE_PERMISSIONS
    ordering_fields = ["number", "created_at"]

    def policy(self) -> ReleasePolicy:
        policy: ReleasePolicy = get_object_or_404(
            ReleasePolicy.objects.restrict(self.request.user, VIEW).select_related("team", "board"),
            pk=self.kwargs["policy_pk"],
        )
        return policy

    def get_queryset(self) -> QuerySet[Any]:
        if getattr(self, "swagger_fake_view", False):
            return ReleasePolicyVersion.objects.none()
        return super().get_queryset().filter(policy_id=self.policy().pk).order_by("-number")

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        policy = self.policy()
        if not ReleasePolicy.objects.restrict(request.user, CHANGE).filter(pk=policy.pk).exists():
            raise PermissionDenied("You may see this policy, but not change it.")
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        data.setdefault("required_checks", [])
        version = actions.do_add_policy_version(policy, actor=acting_user(request.user), **data)
        return Response(self.get_serializer(version).data, status=status.HTTP_201_CREATED)


# --- Signing keys -------------------------------------------------------------------------------------------------


class SigningKeyViewSet(
    GovernanceApiMixin, RestrictedViewSetMixin, mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet[Any]
):
    """Public signing keys (everyone signed in reads them). POST registers your own public key, generated on your
    machine; the private key never comes here. ``revoke/`` retires a key: the owner, a compliance officer of the
    owner's team, or a platform administrator."""

    queryset = SigningKey.objects.select_related("owner", "revoked_by")
    serializer_class = s.SigningKeySerializer
    permission_classes = [*WRITE_PERMISSIONS, IsNotServiceAccount]
    filterset_class = SigningKeyFilterSet
    ordering_fields = ["created_at", "revoked_at"]

    @extend_schema(request=s.SigningKeyCreateSerializer, responses={201: s.SigningKeySerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = s.SigningKeyCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        key = actions.do_register_signing_key(actor=acting_user(request.user), **serializer.validated_data)
        return Response(s.SigningKeySerializer(key).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.ReasonSerializer, responses={200: s.SigningKeySerializer})
    @action(detail=True, methods=["post"])
    def revoke(self, request: Request, pk: str | None = None) -> Response:
        key = self.get_object()
        serializer = s.ReasonSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        key = actions.do_revoke_signing_key(
            key, actor=acting_user(request.user), reason=serializer.validated_data["reason"]
        )
        return Response(s.SigningKeySerializer(key).data)


# --- Releases -----------------------------------------------------------------------------------------------------


def _state_payload(release: Release) -> dict[str, Any]:
    state = release_state(release)
    return {
        "current_digest": state.current_digest,
        "manifest_changed": state.current_digest != release.manifest_digest,
        "approved": state.approved,
        "rejected": state.rejected,
        "roles_needed": state.roles_needed,
        "approvers_needed": state.approvers_needed,
        "summary": state.summary(),
        "approvals": [
            {
                "id": item.approval.pk,
                "signer": item.approval.signer_name,
                "board_role": item.approval.board_role,
                "decision": item.approval.decision,
                "counts": item.counts,
                "reasons": item.reasons,
            }
            for item in state.approvals
        ],
    }


class ReleaseViewSet(
    GovernanceApiMixin, RestrictedViewSetMixin, mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet[Any]
):
    """Release requests: a model version for an environment, judged by the policy in force when requested.
    Engineers and admins of the model's team request and withdraw; the team and the board read. The detail holds
    ``release_state`` (whether the signatures that still count meet the policy) and what changed since the model's
    last approved release; ``manifest/`` is the current manifest to sign; ``approvals/`` the signatures."""

    queryset = Release.objects.select_related(
        "model_version__model__team",
        "environment",
        "policy_version__policy__board",
        "requested_by",
        "withdrawn_by",
    )
    serializer_class = s.ReleaseSerializer
    permission_classes = WRITE_PERMISSIONS
    filterset_class = ReleaseFilterSet
    ordering_fields = ["requested_at", "status"]

    @extend_schema(
        request=s.ReleaseCreateSerializer,
        responses={
            201: OpenApiResponse(
                s.ReleaseSerializer,
                description="The release, with audits: where each audit kind its policy requires stands (the jobs "
                "the request started, the kinds with neither a report nor a plan).",
            )
        },
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = s.ReleaseCreateSerializer(data=request.data)
        serializer.fields["model_version"].queryset = ModelVersion.objects.restrict(request.user, VIEW)  # type: ignore[attr-defined]
        serializer.is_valid(raise_exception=True)
        release = actions.do_request_release(
            serializer.validated_data["model_version"],
            actor=acting_user(request.user),
            environment=serializer.validated_data["environment"],
            justification=serializer.validated_data["justification"],
        )
        data: dict[str, Any] = dict(s.ReleaseSerializer(self.get_queryset().get(pk=release.pk)).data)
        data["audits"] = release_audits(release)
        return Response(data, status=status.HTTP_201_CREATED)

    @extend_schema(
        responses={
            200: OpenApiResponse(
                description="The release, with release_state (current digest, whether approved, roles still "
                "needed, every approval and whether it counts), changes_since_last_approved and audits (where each "
                "audit kind the policy requires stands: passed, started with its job, failed, not_started or missing)."
            )
        }
    )
    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        release = self.get_object()
        data: dict[str, Any] = dict(s.ReleaseSerializer(release).data)
        data["release_state"] = _state_payload(release)
        previous, changes = changes_since_last_approved(release)
        data["changes_since_last_approved"] = {"release": previous.pk if previous else None, "changes": changes}
        data["audits"] = release_audits(release)
        return Response(data)

    @extend_schema(responses={200: s.ManifestSerializer})
    @action(detail=True, methods=["get"], filter_backends=[], pagination_class=None)
    def manifest(self, request: Request, pk: str | None = None) -> Response:
        """The manifest as it is NOW (rebuilt from the database), its digest, and what a statement names: sign
        this digest. A manifest is never accepted from a client."""
        release = self.get_object()
        manifest = build_manifest(release)
        version = release.model_version
        return Response(
            {
                "manifest": manifest,
                "manifest_digest": manifest_digest(manifest),
                "artifact": {"sha256": version.artifact_sha256, "size": version.artifact_size},
                "subject_name": subject_name(release),
                "release": str(release.uid),
            }
        )

    @extend_schema(request=s.ReasonSerializer, responses={200: s.ReleaseSerializer})
    @action(detail=True, methods=["post"])
    def withdraw(self, request: Request, pk: str | None = None) -> Response:
        release = self.get_object()
        serializer = s.ReasonSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        actions.do_withdraw_release(
            release, actor=acting_user(request.user), reason=serializer.validated_data["reason"]
        )
        return Response(s.ReleaseSerializer(self.get_queryset().get(pk=release.pk)).data)


class IsBoardMemberToPost(BasePermission):
    """POSTing a signature needs a seat on the board that judges the release: a 403 before the body is read."""

    message = "Only members of the release's review board sign it."

    def has_permission(self, request: Any, view: Any) -> bool:
        if request.method in SAFE_METHODS:
            return True
        release = view.release()
        return bool(Release.objects.restrict(request.user, SIGN).filter(pk=release.pk).exists())

    def has_object_permission(self, request: Any, view: Any, obj: Any) -> bool:
        return True


class ApprovalViewSet(GovernanceApiMixin, RestrictedViewSetMixin, mixins.ListModelMixin, viewsets.GenericViewSet[Any]):
    """The signatures on a release, oldest first, each with whether it counts now and why not. POST submits one:
    ``{"envelope": <DSSE envelope>}`` signed with your registered key over the current manifest's digest
    (docs/releases.md, "Approvals"). Every refusal names its reason and is recorded."""

    queryset = Approval.objects.select_related("key", "signer")
    serializer_class = s.ApprovalSerializer
    permission_classes = [IsAuthenticated, IsBoardMemberToPost]
    private_key_event = AuditEventType.APPROVAL_REFUSED
    ordering_fields = ["received_at"]

    def release(self) -> Release:
        if not hasattr(self, "_release"):
            self._release = get_object_or_404(
                Release.objects.restrict(self.request.user, VIEW).select_related(
                    "model_version__model__team", "policy_version__policy"
                ),
                pk=self.kwargs["release_pk"],
            )
        return self._release

    def get_queryset(self) -> QuerySet[Any]:
        if getattr(self, "swagger_fake_view", False):
            return Approval.objects.none()
        return super().get_queryset().filter(release_id=self.release().pk).order_by("received_at", "id")

    def get_serializer_context(self) -> dict[str, Any]:
        context = dict(super().get_serializer_context())
        if not getattr(self, "swagger_fake_view", False) and self.request.method in SAFE_METHODS:
            context["states"] = {state.approval.pk: state for state in approval_states(self.release())}
        return context

    @extend_schema(request=s.ApprovalCreateSerializer, responses={201: s.ApprovalSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        release = self.release()
        serializer = s.ApprovalCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        approval = actions.do_submit_approval(
            release, actor=acting_user(request.user), envelope=serializer.validated_data["envelope"]
        )
        return Response(s.ApprovalSerializer(approval).data, status=status.HTTP_201_CREATED)
