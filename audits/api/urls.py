from django.urls import include, path
from rest_framework.routers import DefaultRouter

from audits.api import views

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("audit-reports", views.AuditReportViewSet, basename="audit-report")

urlpatterns = [
    path("audits/fairness/", views.FairnessAuditView.as_view(), name="audit-fairness"),
    path("audits/validation/", views.ValidationAuditView.as_view(), name="audit-validation"),
    path("", include(router.urls)),
]
