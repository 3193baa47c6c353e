from django.urls import include, path
from rest_framework.routers import DefaultRouter

from lineage.api import views

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("lineage/namespaces", views.NamespaceViewSet, basename="lineage-namespace")

urlpatterns = [
    # No trailing slash: the OpenLineage HTTP transport posts to <url>/api/v1/lineage, and a redirect loses a POST.
    path("lineage", views.IngestView.as_view(), name="lineage-ingest"),
    path("lineage/", views.IngestView.as_view(), name="lineage-ingest-slash"),
    path("", include(router.urls)),
]
