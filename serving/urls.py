from django.urls import path

from serving import views

urlpatterns = [
    path("environments/", views.environment_list, name="serving-environment-list"),
    path("environments/<slug:slug>/", views.environment_detail, name="serving-environment-detail"),
    path(
        "environments/<slug:slug>/models/<int:model_id>/predictions/",
        views.prediction_log,
        name="serving-prediction-log",
    ),
    path("decisions/<uuid:uid>/", views.decision_record, name="serving-decision-record"),
]
