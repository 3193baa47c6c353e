from django.urls import path

from serving import views

urlpatterns = [
    path("environments/", views.environment_list, name="serving-environment-list"),
    path("environments/<slug:slug>/", views.environment_detail, name="serving-environment-detail"),
    path("environments/<slug:slug>/models/<int:pk>/compare/", views.route_compare, name="serving-route-compare"),
    path("environments/<slug:slug>/models/<int:pk>/<slug:change>/", views.route_change, name="serving-route-change"),
]
