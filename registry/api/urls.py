from django.urls import include, path
from rest_framework.routers import DefaultRouter

from core.api.parsers import JSONParser
from registry.api import views

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("use-cases", views.UseCaseViewSet, basename="use-case")
router.register("datasets", views.DatasetViewSet, basename="dataset")
router.register("models", views.RegisteredModelViewSet, basename="registered-model")
router.register("feature-views", views.FeatureViewViewSet, basename="feature-view")
router.register("model-versions", views.ModelVersionSearchViewSet, basename="model-version-search")

observations = views.KpiObservationViewSet.as_view({"get": "list", "post": "create"})
feature_set_versions = views.FeatureSetVersionViewSet.as_view({"get": "list", "post": "create"})
feature_set_version = views.FeatureSetVersionViewSet.as_view({"get": "retrieve"})
dataset_versions = views.DatasetVersionViewSet.as_view({"get": "list", "post": "create"})
dataset_version = views.DatasetVersionViewSet.as_view({"get": "retrieve"})
model_versions = views.ModelVersionViewSet.as_view({"get": "list", "post": "create"})
model_version = views.ModelVersionViewSet.as_view({"get": "retrieve"})
# A status change is JSON like the rest of the API; only the upload takes a form.
model_version_transitions = views.ModelVersionViewSet.as_view({"post": "transitions"}, parser_classes=[JSONParser])
model_version_artifact = views.ModelVersionViewSet.as_view({"get": "artifact"})

urlpatterns = [
    path("use-cases/<int:use_case_pk>/observations/", observations, name="kpi-observation-list"),
    path("datasets/<int:dataset_pk>/versions/", dataset_versions, name="dataset-version-list"),
    path("datasets/<int:dataset_pk>/versions/<int:number>/", dataset_version, name="dataset-version-detail"),
    path("feature-views/<int:feature_view_pk>/versions/", feature_set_versions, name="feature-set-version-list"),
    path(
        "feature-views/<int:feature_view_pk>/versions/<int:number>/",
        feature_set_version,
        name="feature-set-version-detail",
    ),
    path("models/<int:model_pk>/versions/", model_versions, name="model-version-list"),
    path("models/<int:model_pk>/versions/<int:number>/", model_version, name="model-version-detail"),
    path(
        "models/<int:model_pk>/versions/<int:number>/transitions/",
        model_version_transitions,
        name="model-version-transitions",
    ),
    path(
        "models/<int:model_pk>/versions/<int:number>/artifact/", model_version_artifact, name="model-version-artifact"
    ),
    path("", include(router.urls)),
]
