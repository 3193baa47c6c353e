from django.urls import path

from core import notification_views, sso_views, views, webhook_views

urlpatterns = [
    path("login/", views.SignInView.as_view(), name="login"),
    path("logout/", views.SignOutView.as_view(), name="logout"),
    path("", views.dashboard, name="dashboard"),
    path("teams/", views.team_list, name="team-list"),
    path("platform/group-mappings/", sso_views.group_mappings, name="group-mappings"),
    path("platform/group-mappings/<int:pk>/delete/", sso_views.group_mapping_delete, name="group-mapping-delete"),
    path("teams/<slug:slug>/", views.team_detail, name="team-detail"),
    path("teams/<slug:slug>/members/", views.membership_grant, name="membership-grant"),
    path("teams/<slug:slug>/members/<int:pk>/revoke/", views.membership_revoke, name="membership-revoke"),
    path("audit/", views.audit_log, name="audit-log"),
    path("audit/verify/", views.audit_verify, name="audit-verify"),
    path("audit/<int:seq>/", views.audit_event_detail, name="audit-event"),
    path("jobs/", views.job_list, name="job-list"),
    path("jobs/<uuid:public_id>/", views.job_detail, name="job-detail"),
    path("jobs/<uuid:public_id>/cancel/", views.job_cancel, name="job-cancel"),
    path("tokens/", views.token_list, name="tokens"),
    path("tokens/<int:pk>/revoke/", views.token_revoke, name="token-revoke"),
    path("notifications/", notification_views.inbox, name="notifications"),
    path("notifications/read/", notification_views.mark_all_read, name="notifications-read-all"),
    path("notifications/<int:pk>/read/", notification_views.mark_read, name="notification-read"),
    path("notifications/preferences/", notification_views.preferences, name="notification-preferences"),
    path("notifications/webhooks/", webhook_views.webhooks, name="webhooks"),
    path("notifications/webhooks/<int:pk>/delete/", webhook_views.webhook_delete, name="webhook-delete"),
]
