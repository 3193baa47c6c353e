from django.urls import path

from compliance import subject_views as views

# Names carry a "compliance-" prefix: the API's router already uses "subject-request-list"...
BASE = "compliance/subject-requests/"

urlpatterns = [
    path(BASE, views.request_list, name="compliance-subject-request-list"),
    path(BASE + "<int:pk>/", views.request_detail, name="compliance-subject-request-detail"),
    path(BASE + "<int:pk>/search/", views.request_search, name="compliance-subject-request-search"),
    path(BASE + "<int:pk>/erase/", views.request_erase, name="compliance-subject-request-erase"),
    path(BASE + "<int:pk>/close/", views.request_close, name="compliance-subject-request-close"),
    path(
        BASE + "<int:pk>/reports/<int:search_pk>/download/",
        views.request_export,
        name="compliance-subject-report-download",
    ),
]
