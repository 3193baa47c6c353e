from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User as AuthUser
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.api.base import StrictModelSerializer, StrictSerializer
from core.api.fields import InputRegexField
from core.audit import HASHED_FIELDS
from core.choices import BoardRole, Role
from core.idempotency import (
    IDEMPOTENCY_KEY_HELP,
    IDEMPOTENCY_KEY_MAX,
    IDEMPOTENCY_KEY_PATTERN,
    validate_idempotency_key,
)
from core.jobs import output_links
from core.models import (
    ApiToken,
    AuditCheckpoint,
    AuditEvent,
    GroupMapping,
    Job,
    JobLogLine,
    Membership,
    ServiceAccount,
    Team,
)

User = get_user_model()


class MembershipBriefSerializer(serializers.ModelSerializer[Any]):
    team: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(slug_field="slug", read_only=True)

    class Meta:
        model = Membership
        fields = ["team", "role", "board_role"]


class MeSerializer(StrictModelSerializer):
    """Every field is read-only: accounts, roles and privileges change through memberships and administrators.

    ``PATCH /me/`` exists so that a client trying to set one of these (``is_superuser``, ``memberships``) hears
    a 400 naming the field, not a silent success.
    """

    memberships = MembershipBriefSerializer(many=True, read_only=True)
    is_service_account = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = [
            "id",
            "username",
            "first_name",
            "last_name",
            "email",
            "is_superuser",
            "is_service_account",
            "memberships",
        ]
        read_only_fields = fields

    def get_is_service_account(self, user: AuthUser) -> bool:
        return hasattr(user, "service_account")


class TeamSerializer(StrictModelSerializer):
    class Meta:
        model = Team
        fields = ["id", "slug", "name", "description", "created_at"]
        read_only_fields = ["id", "created_at"]


class TeamUpdateSerializer(StrictModelSerializer):
    class Meta:
        model = Team
        fields = ["name", "description"]
        extra_kwargs = {"name": {"required": False}, "description": {"required": False}}


class MembershipSerializer(StrictModelSerializer):
    team: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="slug",
        queryset=Team.objects.none(),  # narrowed by the view to teams the caller administers
    )
    user: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", queryset=User.objects.all()
    )
    role = serializers.ChoiceField(choices=Role.choices)
    board_role = serializers.ChoiceField(choices=BoardRole.choices, required=False, allow_blank=True, default="")
    granted_by: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Membership
        fields = ["id", "team", "user", "role", "board_role", "source", "created_at", "granted_by"]
        read_only_fields = ["id", "source", "created_at", "granted_by"]
        validators: list[Any] = []  # uniqueness is the action's (and the database's) to enforce


class ServiceAccountSerializer(StrictModelSerializer):
    username = InputRegexField(
        r"^svc-[a-z0-9][a-z0-9-]{1,60}$",
        source="user.username",
        help_text="Must start with 'svc-': lower-case letters, digits and hyphens.",
    )
    team: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="slug",
        queryset=Team.objects.none(),  # narrowed by the view to teams the caller administers
    )
    role = serializers.ChoiceField(choices=[Role.ENGINEER, Role.AUDITOR], default=Role.ENGINEER, write_only=True)

    class Meta:
        model = ServiceAccount
        fields = ["id", "username", "team", "description", "role", "created_at"]
        read_only_fields = ["id", "created_at"]


class ApiTokenSerializer(StrictModelSerializer):
    owner: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        source="user", slug_field="username", read_only=True
    )
    state = serializers.CharField(read_only=True)
    prefix = serializers.SerializerMethodField()

    class Meta:
        model = ApiToken
        fields = [
            "id",
            "name",
            "kind",
            "owner",
            "prefix",
            "state",
            "created_at",
            "expires_at",
            "last_used_at",
            "revoked_at",
        ]
        read_only_fields = fields

    def get_prefix(self, token: ApiToken) -> str:
        return f"assay_{token.key_id}_"


@extend_schema_field(OpenApiTypes.STR)
class ServiceAccountField(serializers.SlugRelatedField[Any]):
    """A service account named by its username. The view narrows the queryset to the caller's reach."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(slug_field="user__username", queryset=ServiceAccount.objects.none(), **kwargs)


class ApiTokenCreateSerializer(StrictSerializer):
    name = serializers.CharField(max_length=100)
    ttl_days = serializers.IntegerField(
        required=False, min_value=1, help_text="Days until it expires; default and maximum come from the settings."
    )
    service_account = ServiceAccountField(
        required=False,
        help_text="Username of a service account of a team you administer; omit for a personal token.",
    )


class ApiTokenCreatedSerializer(ApiTokenSerializer):
    token = serializers.CharField(read_only=True, help_text="Shown once: store it now.")

    class Meta(ApiTokenSerializer.Meta):
        fields = [*ApiTokenSerializer.Meta.fields, "token"]
        read_only_fields = fields


class AuditEventSerializer(serializers.ModelSerializer[Any]):
    class Meta:
        model = AuditEvent
        # Every hashed column and the hash itself, so that a client can recompute each hash (docs/audit-log.md).
        fields = [*HASHED_FIELDS, "hash"]
        read_only_fields = fields


class ChainReportSerializer(serializers.Serializer[Any]):
    intact = serializers.BooleanField()
    events_checked = serializers.IntegerField()
    head_seq = serializers.IntegerField(allow_null=True)
    head_hash = serializers.CharField(allow_null=True)
    broken_seq = serializers.IntegerField(allow_null=True)
    broken_id = serializers.IntegerField(allow_null=True)
    broken_kind = serializers.CharField(help_text="gap, link or content; empty when intact")
    reason = serializers.CharField()


class AuditCheckpointSerializer(serializers.ModelSerializer[Any]):
    algorithm = serializers.SerializerMethodField()

    class Meta:
        model = AuditCheckpoint
        fields = [
            "id",
            "seq",
            "head_hash",
            "created_at",
            "key_fingerprint",
            "public_key",
            "payload",
            "signature",
            "algorithm",
        ]
        read_only_fields = fields

    def get_algorithm(self, checkpoint: AuditCheckpoint) -> str:
        return "Ed25519"


class JobLogLineSerializer(serializers.ModelSerializer[Any]):
    class Meta:
        model = JobLogLine
        fields = ["at", "level", "message"]


class JobSerializer(serializers.ModelSerializer[Any]):
    id = serializers.UUIDField(source="public_id", read_only=True)
    team: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="slug", read_only=True, allow_null=True
    )
    requested_by: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )

    class Meta:
        model = Job
        fields = [
            "id",
            "kind",
            "team",
            "target_type",
            "target_id",
            "target_repr",
            "requested_by",
            "params",
            "status",
            "progress",
            "stage",
            "result",
            "error",
            "attempts",
            "worker",
            "created_at",
            "started_at",
            "finished_at",
            "cancel_requested_at",
        ]
        read_only_fields = fields


class JobOutputSerializer(serializers.Serializer[Any]):
    label = serializers.CharField()  # type: ignore[assignment]  # a declared field, not Field.label at run time
    url = serializers.CharField(help_text="The web page of what the job made")


class JobDetailSerializer(JobSerializer):
    log = JobLogLineSerializer(source="log_lines", many=True, read_only=True)
    outputs = serializers.SerializerMethodField(help_text="What a succeeded job made, with links to its pages")

    class Meta(JobSerializer.Meta):
        fields = [*JobSerializer.Meta.fields, "log", "outputs"]
        read_only_fields = fields

    @extend_schema_field(JobOutputSerializer(many=True))
    def get_outputs(self, job: Job) -> list[dict[str, str]]:
        return [{"label": label, "url": url} for label, url in output_links(job)]


@extend_schema_field(
    {
        "type": "string",
        "pattern": IDEMPOTENCY_KEY_PATTERN,
        "maxLength": IDEMPOTENCY_KEY_MAX,
        "description": IDEMPOTENCY_KEY_HELP,
    }
)
class IdempotencyKeyField(serializers.CharField):
    """An idempotency key, by the one rule of core.idempotency. Text only: a number sent where a key belongs is a
    client's mistake, not a key. Optional; ``allow_blank=True`` reads an empty key as no key."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        kwargs.setdefault("max_length", IDEMPOTENCY_KEY_MAX)
        kwargs.setdefault("validators", []).append(validate_idempotency_key)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return str(super().to_internal_value(data))


class JobRequestSerializer(StrictSerializer):
    idempotency_key = IdempotencyKeyField()


class GroupMappingSerializer(StrictModelSerializer):
    """Members of the provider's ``idp_group`` hold ``role`` (and ``board_role`` for reviewers) in ``team`` from
    their next sign-in. The roles are team roles: nothing here reaches superuser or staff, and a field such as
    ``is_superuser`` is refused by name."""

    team: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="slug", queryset=Team.objects.all()
    )
    role = serializers.ChoiceField(choices=Role.choices)
    board_role = serializers.ChoiceField(choices=BoardRole.choices, required=False, allow_blank=True, default="")
    created_by: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = GroupMapping
        fields = ["id", "idp_group", "team", "role", "board_role", "created_at", "created_by"]
        read_only_fields = ["id", "created_at", "created_by"]
        validators: list[Any] = []  # uniqueness is the action's (and the database's) to enforce
