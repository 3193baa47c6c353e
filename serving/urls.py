from django.urls import path, re_path

from serving import route_views, views

urlpatterns = [
    path("environments/", views.environment_list, name="serving-environment-list"),
    path("environments/<slug:slug>/", views.environment_detail, name="serving-environment-detail"),
    path(
        "environments/<slug:slug>/models/<int:model_id>/predictions/",
        views.prediction_log,
        name="serving-prediction-log",
    ),
    path("decisions/<uuid:uid>/", views.decision_record, name="serving-decision-record"),
    path("environments/<slug:slug>/models/<int:pk>/compare/", route_views.route_compare, name="serving-route-compare"),
    re_path(
        r"^environments/(?P<slug>[-a-zA-Z0-9_]+)/models/(?P<pk>[0-9]+)/(?P<change>promote|end-trial|rollback)/$",
        route_views.route_change,
        name="serving-route-change",
    ),
]
