from django.urls import path

from compliance import grant_views, views

# Names carry a "compliance-" prefix: the API's router already uses "legal-hold-list"...
urlpatterns = [
    path("compliance/retention/", views.retention, name="compliance-retention"),
    path("compliance/retention/runs/", views.retention_run, name="compliance-retention-run"),
    path("compliance/retention/policies/<int:pk>/", views.retention_policy, name="compliance-retention-policy"),
    path(
        "compliance/dataset-versions/<int:pk>/delete-files/",
        views.delete_dataset_files,
        name="compliance-delete-dataset-files",
    ),
    path(
        "compliance/model-versions/<int:pk>/delete-artifact/",
        views.delete_model_artifact,
        name="compliance-delete-model-artifact",
    ),
    path("compliance/holds/", views.holds, name="compliance-holds"),
    path("compliance/holds/<int:pk>/", views.hold_detail, name="compliance-hold"),
    path(
        "compliance/holds/<int:pk>/request-release/",
        views.hold_step,
        {"step": "request"},
        name="compliance-hold-request",
    ),
    path(
        "compliance/holds/<int:pk>/confirm-release/",
        views.hold_step,
        {"step": "confirm"},
        name="compliance-hold-confirm",
    ),
    path("compliance/data-grants/", grant_views.grants, name="compliance-grants"),
    path("compliance/data-grants/<int:pk>/", grant_views.grant_detail, name="compliance-grant"),
    path(
        "compliance/data-grants/<int:pk>/<str:step>/",
        grant_views.grant_step,
        name="compliance-grant-step",
    ),
]
