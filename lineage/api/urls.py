from django.urls import include, path
from rest_framework.routers import DefaultRouter

from lineage.api import views

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("lineage/namespaces", views.NamespaceViewSet, basename="lineage-namespace")
router.register("lineage/datasets", views.LineageDatasetViewSet, basename="lineage-dataset")
router.register("lineage/jobs", views.LineageJobViewSet, basename="lineage-job")
router.register("lineage/runs", views.LineageRunViewSet, basename="lineage-run")

run_events = views.RunEventsViewSet.as_view({"get": "list"})

# Marquez's paths, without a trailing slash (the OpenLineage HTTP transport posts to /api/v1/lineage too).
urlpatterns = [
    path("lineage", views.GraphView.as_view(), name="lineage-graph"),
    path("lineage/column", views.ColumnGraphView.as_view(), name="lineage-column-graph"),
    path("lineage/runs/<uuid:run_id>/events", run_events, name="lineage-run-events"),
    path("model-versions/<int:pk>/lineage/", views.ModelVersionLineageView.as_view(), name="model-version-lineage"),
    path("", include(router.urls)),
]
