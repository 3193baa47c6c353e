from django.urls import path

from audits import views

urlpatterns = [
    path("audit-reports/<int:pk>/", views.report_detail, name="audits-report-detail"),
    path("models/<int:pk>/versions/<int:number>/audits/new/", views.start_audit, name="audits-start"),
    path("models/<int:pk>/versions/<int:number>/statement/", views.statement, name="audits-statement"),
    path("audit-reports/<int:pk>/justify/", views.justify_proxy, name="audits-justify-proxy"),
    path("models/<int:pk>/reasons/edit/", views.edit_reasons, name="audits-reasons-edit"),
]
