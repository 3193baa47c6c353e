from django.urls import include, path
from rest_framework.routers import DefaultRouter

from lineage.api import deliveries, views

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("lineage/namespaces", views.NamespaceViewSet, basename="lineage-namespace")
router.register("lineage/deliveries", deliveries.LineageDeliveryViewSet, basename="lineage-delivery")
router.register("lineage/datasets", views.LineageDatasetViewSet, basename="lineage-dataset")
router.register("lineage/jobs", views.LineageJobViewSet, basename="lineage-job")
router.register("lineage/runs", views.LineageRunViewSet, basename="lineage-run")

run_events = views.RunEventsViewSet.as_view({"get": "list"})

urlpatterns = [
    # Marquez's and OpenLineage's paths, without a trailing slash: the OpenLineage HTTP transport posts to
    # <url>/api/v1/lineage (a redirect loses a POST), and Marquez's clients read GET /api/v1/lineage?nodeId=...
    path("lineage", views.LineageView.as_view(), name="lineage-ingest"),
    path("lineage/", views.LineageSlashView.as_view(), name="lineage-ingest-slash"),
    path("lineage/column", views.ColumnGraphView.as_view(), name="lineage-column-graph"),
    path("lineage/runs/<uuid:run_id>/events", run_events, name="lineage-run-events"),
    path("model-versions/<int:pk>/lineage/", views.ModelVersionLineageView.as_view(), name="model-version-lineage"),
    path("", include(router.urls)),
]
