from django.urls import path

from registry import views

# Names carry a "registry-" prefix: the API's router already uses "dataset-list", "registered-model-detail"...
urlpatterns = [
    path("models/", views.model_list, name="registry-model-list"),
    path("models/<int:pk>/", views.model_detail, name="registry-model-detail"),
    path("models/<int:pk>/edit/", views.model_edit, name="registry-model-edit"),
    path("models/<int:pk>/train/", views.model_train, name="registry-model-train"),
    path("models/<int:pk>/versions/<int:number>/", views.model_version_detail, name="registry-model-version"),
    path("datasets/", views.dataset_list, name="registry-dataset-list"),
    path("datasets/<int:pk>/", views.dataset_detail, name="registry-dataset-detail"),
    path("datasets/<int:pk>/edit/", views.dataset_edit, name="registry-dataset-edit"),
    path("datasets/<int:pk>/versions/<int:number>/", views.dataset_version_detail, name="registry-dataset-version"),
    path("use-cases/", views.use_case_list, name="registry-use-case-list"),
    path("use-cases/<int:pk>/", views.use_case_detail, name="registry-use-case-detail"),
    path("use-cases/<int:pk>/edit/", views.use_case_edit, name="registry-use-case-edit"),
    path("feature-views/", views.feature_view_list, name="registry-feature-view-list"),
    path("feature-views/<int:pk>/", views.feature_view_detail, name="registry-feature-view-detail"),
    path("feature-views/<int:pk>/materialize/", views.materialize, name="registry-feature-view-materialize"),
    path(
        "feature-views/<int:pk>/versions/<int:number>/",
        views.feature_set_version_detail,
        name="registry-feature-set-version",
    ),
]
