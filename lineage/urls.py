from django.urls import path

from lineage import views

# Names carry a "lineage-page-" prefix: the API's router already uses "lineage-dataset-list"...
urlpatterns = [
    path("lineage/", views.index, name="lineage-page-index"),
    path("lineage/datasets/<int:pk>/", views.dataset_page, name="lineage-page-dataset"),
    path("lineage/jobs/<int:pk>/", views.job_page, name="lineage-page-job"),
    path("lineage/model-versions/<int:pk>/", views.model_version_page, name="lineage-page-model-version"),
    path("lineage/registry-datasets/<int:pk>/", views.registry_dataset_page, name="lineage-page-registry-dataset"),
]
