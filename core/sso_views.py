"""The single sign-on pages: mozilla-django-oidc's request and callback views, answering only while single sign-on
is configured, with every outcome in the audit log and every refusal shown on the sign-in page (core.sso)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

from core import actions
from core.choices import AuditEventType
from core.forms import GroupMappingForm
from core.models import GroupMapping
from core.sso import SsoRefused, provider_config, refuse, sso_enabled
from core.ui import apply_validation_error


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


# --- Group mappings (platform administrators) ----------------------------------------------------------------------


def _require_platform_admin(request: HttpRequest) -> None:
    if not request.user.is_superuser:
        raise PermissionDenied("Only platform administrators edit the identity provider's group mappings.")


@login_required
@require_http_methods(["GET", "POST"])
def group_mappings(request: HttpRequest) -> HttpResponse:
    """The mappings, and the form that adds one (core.actions.do_create_group_mapping)."""
    _require_platform_admin(request)
    form = GroupMappingForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                mapping = actions.do_create_group_mapping(
                    actor=request.user,
                    idp_group=data["idp_group"],
                    team=data["team"],
                    role=data["role"],
                    board_role=data["board_role"],
                )
            except ValidationError as exc:
                apply_validation_error(form, exc)
            else:
                messages.success(request, f"Mapped {mapping}.")
                return redirect("group-mappings")
        status = 400
    context = {
        "section": "teams",
        "mappings": GroupMapping.objects.select_related("team", "created_by"),
        "form": form,
        "sso_enabled": sso_enabled(),
    }
    return render(request, "core/group_mappings.html", context, status=status)


@login_required
@require_POST
def group_mapping_delete(request: HttpRequest, pk: int) -> HttpResponse:
    _require_platform_admin(request)
    mapping = get_object_or_404(GroupMapping.objects.select_related("team"), pk=pk)
    actions.do_delete_group_mapping(mapping, actor=request.user)
    messages.success(request, f"Removed the mapping {mapping}. Its members lose the role at their next sign-in.")
    return redirect("group-mappings")
