"""The webhooks page: a team admin (or, for the organisation's, a platform administrator) sees the endpoints they
manage with their latest deliveries, adds one (its signing secret shown this once) and deletes one. The rules are
core.actions' (the same as ``/api/v1/webhooks/``); this page validates the form's shape and shows the refusals."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from core import actions
from core.models import Team, WebhookDelivery, WebhookEndpoint
from core.notifications import kinds
from core.querysets import CHANGE
from core.ui import apply_validation_error

ORGANISATION = "*"  # the owner choice that names the organisation (never a team slug)
RECENT_DELIVERIES = 5


class WebhookForm(forms.Form):
    team = forms.ChoiceField(label="Owner")
    name = forms.CharField(max_length=128, help_text="To tell endpoints apart, e.g. “risk Slack bridge”.")
    url = forms.URLField(
        label="URL",
        max_length=500,
        assume_scheme="https",
        help_text="Where Assay POSTs signed JSON. HTTPS to a host on WEBHOOK_ALLOWED_HOSTS; internal addresses are "
        "refused.",
    )
    kinds = forms.MultipleChoiceField(label="Kinds", widget=forms.CheckboxSelectMultiple)

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        teams = [(team.slug, team.name) for team in managed_teams(user)]
        owner = self.fields["team"]
        assert isinstance(owner, forms.ChoiceField)
        owner.choices = ([(ORGANISATION, "The organisation")] if user.is_superuser else []) + teams
        chosen = self.fields["kinds"]
        assert isinstance(chosen, forms.MultipleChoiceField)
        chosen.choices = [(kind.name, kind.label) for kind in kinds() if kind.webhooks]

    def owner(self, user: Any) -> Team | None:
        slug = self.cleaned_data["team"]
        return None if slug == ORGANISATION else managed_teams(user).get(slug=slug)


def managed_teams(user: Any) -> Any:
    """The teams whose webhooks ``user`` manages: those they administer (all, for a platform administrator)."""
    return Team.objects.restrict(user, CHANGE).order_by("name")


def may_manage_webhooks(user: Any) -> bool:
    return bool(user.is_superuser or managed_teams(user).exists())


def _page(request: HttpRequest, form: WebhookForm, *, secret: str = "", created: Any = None, status: int = 200) -> Any:
    recent = WebhookDelivery.objects.order_by("-created_at", "-id")
    endpoints = (
        WebhookEndpoint.objects.restrict(request.user, CHANGE)
        .select_related("team", "created_by")
        .prefetch_related(Prefetch("deliveries", queryset=recent, to_attr="recent"))
        .order_by("team__slug", "name")
    )
    labels = {kind.name: kind.label for kind in kinds()}
    rows = [
        {"endpoint": e, "kinds": [labels.get(k, k) for k in e.kinds], "recent": e.recent[:RECENT_DELIVERIES]}
        for e in endpoints
    ]
    context = {"section": "notifications", "form": form, "rows": rows, "secret": secret, "created": created}
    # never_cache on the views: the secret is shown once, and no cache or back button keeps it.
    return render(request, "core/webhooks.html", context, status=status)


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def webhooks(request: HttpRequest) -> HttpResponse:
    if not may_manage_webhooks(request.user):
        raise PermissionDenied("Team admins manage their team's webhooks; platform administrators the organisation's.")
    form = WebhookForm(request.POST or None, user=request.user)
    if request.method == "POST":
        if not form.is_valid():
            return _page(request, form, status=400)
        try:
            endpoint, secret = actions.do_create_webhook(
                actor=request.user,
                team=form.owner(request.user),
                name=form.cleaned_data["name"],
                url=form.cleaned_data["url"],
                kinds=form.cleaned_data["kinds"],
            )
        except ValidationError as error:
            apply_validation_error(form, error)
            return _page(request, form, status=400)
        return _page(request, WebhookForm(user=request.user), secret=secret, created=endpoint, status=201)
    return _page(request, form)


@never_cache
@login_required
@require_POST
def webhook_delete(request: HttpRequest, pk: int) -> HttpResponse:
    endpoint = get_object_or_404(WebhookEndpoint.objects.restrict(request.user, CHANGE), pk=pk)
    actions.do_delete_webhook(endpoint, actor=request.user)
    messages.success(request, f"Deleted webhook “{endpoint.name}”: nothing more is sent to it.")
    return redirect("webhooks")
