from django.urls import include, path
from rest_framework.routers import DefaultRouter

from audits.api import views

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("audit-reports", views.AuditReportViewSet, basename="audit-report")

urlpatterns = [
    path("audits/fairness/", views.FairnessAuditView.as_view(), name="audit-fairness"),
    path("audits/proxy/", views.ProxyAuditView.as_view(), name="audit-proxy"),
    path(
        "audit-reports/<int:pk>/justifications/",
        views.ProxyJustificationView.as_view(),
        name="audit-report-justifications",
    ),
    path("", include(router.urls)),
]
