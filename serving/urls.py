from django.urls import path

from serving import views

urlpatterns = [
    path("environments/", views.environment_list, name="serving-environment-list"),
    path("environments/<slug:slug>/", views.environment_detail, name="serving-environment-detail"),
]
