from django.urls import include, path
from rest_framework.routers import DefaultRouter

from serving.api import views
from serving.api.batch import BatchScoringView

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("deployments", views.DeploymentViewSet, basename="deployment")
router.register("routes", views.RouteViewSet, basename="route")
router.register("predictions", views.PredictionViewSet, basename="prediction")
router.register("decisions", views.DecisionRecordViewSet, basename="decision")

MODEL_ENV = "models/<int:pk>/environments/<slug:slug>/"

# The gate's routes under a release sit beside governance's release viewset (its own module) rather than in it.
urlpatterns = [
    path("releases/<int:pk>/gate/", views.ReleaseGateView.as_view(), name="release-gate"),
    path("releases/<int:pk>/deploy/", views.ReleaseDeployView.as_view(), name="release-deploy"),
    path("releases/<int:pk>/bundle/", views.ReleaseBundleView.as_view(), name="release-bundle"),
    path("models/<int:pk>/rollback/", views.ModelRollbackView.as_view(), name="model-rollback"),
    path(f"{MODEL_ENV}promote/", views.PromoteView.as_view(), name="model-environment-promote"),
    path(f"{MODEL_ENV}end-trial/", views.EndTrialView.as_view(), name="model-environment-end-trial"),
    path(f"{MODEL_ENV}retire/", views.RetireView.as_view(), name="model-environment-retire"),
    path(f"{MODEL_ENV}rollback/", views.EnvironmentRollbackView.as_view(), name="model-environment-rollback"),
    path("batch-scoring/", BatchScoringView.as_view(), name="batch-scoring"),
    path("tokens/<int:pk>/inference-scope/", views.TokenInferenceScopeView.as_view(), name="token-inference-scope"),
    path("", include(router.urls)),
]
