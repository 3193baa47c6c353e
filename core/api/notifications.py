"""The notifications API (docs/notifications.md): your notifications and preferences; webhook endpoints and their
deliveries for team admins and platform administrators."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from core import actions
from core.api.base import FILTER_BACKENDS, ApiViewMixin, StrictModelSerializer, StrictSerializer
from core.api.permissions import IsNotServiceAccount
from core.choices import NotificationDelivery
from core.models import Notification, Team, WebhookDelivery, WebhookEndpoint
from core.notifications import kinds
from core.querysets import CHANGE

# --- Serializers ------------------------------------------------------------------------------------------------------


class NotificationSerializer(StrictModelSerializer):
    class Meta:
        model = Notification
        fields = [
            "id",
            "uid",
            "kind",
            "subject",
            "body",
            "link",
            "target_type",
            "target_id",
            "target_repr",
            "delivery",
            "status",
            "attempts",
            "created_at",
            "sent_at",
            "read_at",
        ]
        read_only_fields = fields


class KindSettingSerializer(serializers.Serializer[Any]):
    kind = serializers.CharField()
    title = serializers.CharField(help_text="The kind's name on the preferences page.")
    description = serializers.CharField()
    default = serializers.ChoiceField(choices=NotificationDelivery.choices)
    delivery = serializers.ChoiceField(choices=NotificationDelivery.choices)
    webhooks = serializers.BooleanField()


class PreferencesSerializer(StrictSerializer):
    preferences = serializers.DictField(
        child=serializers.ChoiceField(choices=NotificationDelivery.choices),
        help_text="Map of notification kind to immediate, digest or off; kinds left out keep their setting.",
    )


class WebhookEndpointSerializer(StrictModelSerializer):
    team: serializers.SlugRelatedField[Team] = serializers.SlugRelatedField(
        slug_field="slug", read_only=True, allow_null=True
    )

    class Meta:
        model = WebhookEndpoint
        fields = ["id", "team", "name", "url", "kinds", "active", "created_at"]
        read_only_fields = fields


class WebhookCreateSerializer(StrictSerializer):
    team: serializers.SlugRelatedField[Team] = serializers.SlugRelatedField(
        slug_field="slug",
        queryset=Team.objects.all(),
        required=False,
        allow_null=True,
        help_text="The owning team's slug; left out or null: the organisation's (platform administrators).",
    )
    name = serializers.CharField(max_length=128)
    url = serializers.CharField(max_length=500)
    kinds = serializers.ListField(child=serializers.CharField(max_length=64), min_length=1, max_length=50)


class WebhookCreatedSerializer(WebhookEndpointSerializer):
    secret = serializers.CharField(read_only=True, help_text="The HMAC key, shown this once.")

    class Meta(WebhookEndpointSerializer.Meta):
        fields = [*WebhookEndpointSerializer.Meta.fields, "secret"]
        read_only_fields = fields


class WebhookDeliverySerializer(StrictModelSerializer):
    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "uid",
            "endpoint",
            "kind",
            "payload",
            "status",
            "attempts",
            "response_status",
            "last_error",
            "created_at",
            "sent_at",
        ]
        read_only_fields = fields


# --- Views ----------------------------------------------------------------------------------------------------------


class NotificationViewSet(ApiViewMixin, viewsets.ReadOnlyModelViewSet[Any]):
    """Your own notifications, newest first. POST .../read/ marks one read."""

    serializer_class = NotificationSerializer
    filter_backends = FILTER_BACKENDS
    ordering_fields = ["created_at"]

    def get_queryset(self) -> QuerySet[Notification]:
        return Notification.objects.filter(recipient_id=self.request.user.pk or 0)

    @extend_schema(request=None, responses={200: NotificationSerializer})
    @action(detail=True, methods=["post"])
    def read(self, request: Request, pk: str | None = None) -> Response:
        notification = self.get_object()
        actions.do_mark_notifications_read(actor=request.user, ids=[notification.pk])
        notification.refresh_from_db()
        return Response(NotificationSerializer(notification).data)


def kind_settings(user: Any) -> list[dict[str, Any]]:
    chosen = actions.notification_settings(user)
    return [
        {
            "kind": kind.name,
            "title": kind.label,
            "description": kind.description,
            "default": kind.default_delivery,
            "delivery": chosen[kind.name],
            "webhooks": kind.webhooks,
        }
        for kind in kinds()
    ]


class NotificationPreferencesView(ApiViewMixin, GenericAPIView[Any]):
    """How you receive each kind of notification by email: immediate, in the daily digest, or off."""

    serializer_class = PreferencesSerializer
    queryset = Notification.objects.none()  # for the schema only: the view reads the registered kinds
    permission_classes = [IsAuthenticated, IsNotServiceAccount]
    pagination_class = None

    @extend_schema(responses={200: KindSettingSerializer(many=True)})
    def get(self, request: Request) -> Response:
        return Response(kind_settings(request.user))

    @extend_schema(request=PreferencesSerializer, responses={200: KindSettingSerializer(many=True)})
    def put(self, request: Request) -> Response:
        serializer = PreferencesSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        chosen = serializer.validated_data["preferences"]
        actions.do_set_notification_preferences(actor=request.user, preferences=chosen)
        return Response(kind_settings(request.user))


class WebhookEndpointViewSet(
    ApiViewMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet[Any],
):
    """Webhook endpoints of the teams you administer (all, with the organisation's, for platform administrators).
    The secret is shown once, in the creation's response."""

    serializer_class = WebhookEndpointSerializer
    filter_backends = FILTER_BACKENDS
    ordering_fields = ["name", "created_at"]

    def get_queryset(self) -> QuerySet[WebhookEndpoint]:
        return WebhookEndpoint.objects.restrict(self.request.user, CHANGE).select_related("team")

    @extend_schema(request=WebhookCreateSerializer, responses={201: WebhookCreatedSerializer})
    def create(self, request: Request) -> Response:
        serializer = WebhookCreateSerializer(data=request.data)
        # A team you do not administer reads as absent, like any object out of reach.
        serializer.fields["team"].queryset = Team.objects.restrict(request.user, CHANGE)  # type: ignore[attr-defined]
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        endpoint, secret = actions.do_create_webhook(
            actor=request.user, team=data.get("team"), name=data["name"], url=data["url"], kinds=data["kinds"]
        )
        body = WebhookCreatedSerializer(endpoint).data
        body["secret"] = secret
        response = Response(body, status=status.HTTP_201_CREATED)
        response["Cache-Control"] = "no-store"
        return response

    def perform_destroy(self, instance: WebhookEndpoint) -> None:
        actions.do_delete_webhook(instance, actor=self.request.user)


class WebhookDeliveryViewSet(ApiViewMixin, viewsets.ReadOnlyModelViewSet[Any]):
    """What was sent to the webhook endpoints you administer, with each delivery's attempts and last answer."""

    serializer_class = WebhookDeliverySerializer
    filter_backends = FILTER_BACKENDS
    filterset_fields = ["endpoint", "status", "kind"]
    ordering_fields = ["created_at"]

    def get_queryset(self) -> QuerySet[WebhookDelivery]:
        return WebhookDelivery.objects.restrict(self.request.user, CHANGE)
