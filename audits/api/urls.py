from django.urls import include, path, re_path
from rest_framework.routers import DefaultRouter

from audits.api import views

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("audit-reports", views.AuditReportViewSet, basename="audit-report")

audit_plans = views.AuditPlanViewSet.as_view({"get": "list"})
audit_plan = views.AuditPlanViewSet.as_view({"get": "retrieve", "put": "update", "delete": "destroy"})
reasons = views.ReasonCatalogueViewSet.as_view({"get": "current", "put": "update"})
reason_versions = views.ReasonCatalogueViewSet.as_view({"get": "list"})
reason_version = views.ReasonCatalogueViewSet.as_view({"get": "retrieve"})

urlpatterns = [
    path("models/<int:model_pk>/reasons/", reasons, name="reason-catalogue"),
    path("models/<int:model_pk>/reasons/versions/", reason_versions, name="reason-catalogue-versions"),
    path("models/<int:model_pk>/reasons/versions/<int:number>/", reason_version, name="reason-catalogue-version"),
    path("models/<int:model_pk>/audit-plans/", audit_plans, name="audit-plan-list"),
    path("models/<int:model_pk>/audit-plans/<str:kind>/", audit_plan, name="audit-plan-detail"),
    path("audits/fairness/", views.FairnessAuditView.as_view(), name="audit-fairness"),
    path("audits/validation/", views.ValidationAuditView.as_view(), name="audit-validation"),
    path("audits/proxy/", views.ProxyAuditView.as_view(), name="audit-proxy"),
    path("audits/explanation/", views.ExplanationAuditView.as_view(), name="audit-explanation"),
    path(
        "audit-reports/<int:pk>/justifications/",
        views.ProxyJustificationView.as_view(),
        name="audit-report-justifications",
    ),
    # With or without the trailing slash: a POST redirected by APPEND_SLASH would lose its body (curl users, bench/).
    re_path(r"^model-versions/(?P<pk>[0-9]+)/explain/?$", views.ExplainView.as_view(), name="model-version-explain"),
    re_path(
        r"^model-versions/(?P<pk>[0-9]+)/statement/?$", views.StatementView.as_view(), name="model-version-statement"
    ),
    path("", include(router.urls)),
]
