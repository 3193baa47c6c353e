from django.contrib.auth import views as auth_views
from django.urls import include, path

from tests.sso.provider import views

urlpatterns = [
    path("accounts/login/", auth_views.LoginView.as_view(template_name="provider_login.html"), name="login"),
    path("o/", include("oauth2_provider.urls", namespace="oauth2_provider")),
    path("control/user/", views.user),
    path("control/deactivate/", views.deactivate),
    path("control/client/", views.client),
    path("control/misbehave/", views.misbehave),
]
