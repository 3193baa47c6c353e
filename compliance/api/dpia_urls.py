from django.urls import include, path
from rest_framework.routers import DefaultRouter

from compliance.api import dpia_views

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("dpias", dpia_views.DpiaViewSet, basename="dpia")
router.register(
    "column-reclassifications", dpia_views.ColumnReclassificationViewSet, basename="column-reclassification"
)

urlpatterns = [path("", include(router.urls))]
