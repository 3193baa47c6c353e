from django.urls import include, path
from rest_framework.routers import DefaultRouter

from core.api import notifications, views

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("teams", views.TeamViewSet, basename="team")
router.register("memberships", views.MembershipViewSet, basename="membership")
router.register("service-accounts", views.ServiceAccountViewSet, basename="service-account")
router.register("tokens", views.ApiTokenViewSet, basename="token")
router.register("audit-events", views.AuditEventViewSet, basename="audit-event")
router.register("audit-checkpoints", views.AuditCheckpointViewSet, basename="audit-checkpoint")
router.register("audit-verifications", views.AuditVerificationViewSet, basename="audit-verification")
router.register("jobs", views.JobViewSet, basename="job")
router.register("group-mappings", views.GroupMappingViewSet, basename="group-mapping")
router.register("notifications", notifications.NotificationViewSet, basename="notification")
router.register("webhooks", notifications.WebhookEndpointViewSet, basename="webhook")
router.register("webhook-deliveries", notifications.WebhookDeliveryViewSet, basename="webhook-delivery")

urlpatterns = [
    path("me/", views.MeView.as_view(), name="me"),
    path(
        "notification-preferences/",
        notifications.NotificationPreferencesView.as_view(),
        name="notification-preferences",
    ),
    path("", include(router.urls)),
]
