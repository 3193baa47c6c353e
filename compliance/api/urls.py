from django.urls import include, path
from rest_framework.routers import DefaultRouter

from compliance.api import grants, holds, retention

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("compliance/retention/policies", retention.RetentionPolicyViewSet, basename="retention-policy")
router.register("compliance/retention/purges", retention.PurgeViewSet, basename="retention-purge")
router.register("compliance/holds", holds.LegalHoldViewSet, basename="legal-hold")
router.register("data-grants", grants.DataAccessGrantViewSet, basename="data-grant")

urlpatterns = [
    path("compliance/retention/targets/", retention.RetentionTargetsView.as_view(), name="retention-targets"),
    path("compliance/retention/expiring/", retention.ExpiringView.as_view(), name="retention-expiring"),
    path("compliance/retention/runs/", retention.RetentionRunView.as_view(), name="retention-runs"),
    path(
        "compliance/dataset-versions/<int:pk>/delete-files/",
        retention.DatasetVersionFilesView.as_view(),
        name="dataset-version-delete-files",
    ),
    path(
        "compliance/model-versions/<int:pk>/delete-artifact/",
        retention.ModelVersionArtifactView.as_view(),
        name="model-version-delete-artifact",
    ),
    path("", include(router.urls)),
]
