from django.urls import include, path
from rest_framework.routers import DefaultRouter

from compliance.api import subjects_views as views

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("subject-requests", views.SubjectRequestViewSet, basename="subject-request")
router.register("subject-searches", views.SubjectSearchViewSet, basename="subject-search")
router.register("subject-erasures", views.SubjectErasureViewSet, basename="subject-erasure")
router.register("dataset-erasures", views.DatasetFilesErasureViewSet, basename="dataset-erasure")

urlpatterns = [path("", include(router.urls))]
