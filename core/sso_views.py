"""The single sign-on pages: mozilla-django-oidc's request and callback views, answering only while single sign-on
is configured, with every outcome in the audit log and every refusal shown on the sign-in page (core.sso)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

from core import actions
from core.choices import AuditEventType
from core.sso import SsoRefused, provider_config, refuse, sso_enabled


class AuthenticateView(OIDCAuthenticationRequestView):
    """Sends the browser to the provider (authorization code flow, PKCE, state and nonce kept in the session)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # The library reads the endpoint at construction; ours may come from discovery, read in get().
        super(OIDCAuthenticationRequestView, self).__init__(*args, **kwargs)
        self.OIDC_RP_CLIENT_ID = self.get_settings("OIDC_RP_CLIENT_ID")
        self.OIDC_OP_AUTH_ENDPOINT = ""

    def get(self, request: HttpRequest) -> HttpResponseBase:
        if not sso_enabled():
            raise Http404("Single sign-on is not configured.")
        try:
            self.OIDC_OP_AUTH_ENDPOINT = provider_config().authorization_endpoint
        except Exception as exc:
            refuse(request, SsoRefused("provider_error", f"The identity provider could not be reached ({exc})."))
            return _back_to_sign_in(request)
        return super().get(request)


class CallbackView(OIDCAuthenticationCallbackView):
    """The provider's answer. Success signs the user in (and is recorded as a sign-in); anything else goes back to
    the sign-in page with the reason, which core.sso.SsoBackend recorded as ``auth.sso_refused``."""

    def get(self, request: HttpRequest) -> HttpResponseBase:
        if not sso_enabled():
            raise Http404("Single sign-on is not configured.")
        if request.GET.get("error"):
            # The provider refused (the person declined, or a silent refresh found no session there).
            refuse(request, SsoRefused("provider_refused", f"The identity provider refused: {request.GET['error']}."))
        elif "code" in request.GET and request.GET.get("state") not in request.session.get("oidc_states", {}):
            # A callback this browser did not start (forged, replayed, or its session expired).
            refuse(request, SsoRefused("unknown_state", "This sign-in was not started here, or it took too long."))
            return _back_to_sign_in(request)
        return super().get(request)

    def login_success(self) -> HttpResponse:
        with transaction.atomic():
            response = super().login_success()
            actions.do_record_auth_event(
                AuditEventType.LOGIN_SUCCEEDED,
                actor=self.user,
                username=self.user.get_username(),
                remote_addr=str(self.request.META.get("REMOTE_ADDR", "")),
            )
        return response

    def login_failure(self) -> HttpResponseBase:
        return _back_to_sign_in(self.request)


def _back_to_sign_in(request: HttpRequest) -> HttpResponseBase:
    message = getattr(request, "sso_refusal", "") or "Single sign-on did not complete. Try again."
    messages.error(request, message)
    return redirect("login")
