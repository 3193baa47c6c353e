"""The notifications pages of the web UI: your inbox (mark read) and your email preferences per kind."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from core import actions
from core.choices import NotificationDelivery
from core.models import Notification
from core.notifications import kinds
from core.ui import apply_validation_error, list_page
from core.webhook_views import may_manage_webhooks

PAGE_SIZE = 25


class NotificationPreferencesForm(forms.Form):
    """One choice per registered kind: immediate, digest or off."""

    def __init__(self, *args: object, initial_settings: dict[str, str], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        for kind in kinds():
            self.fields[kind.name] = forms.ChoiceField(
                label=kind.label,
                help_text=kind.description,
                choices=NotificationDelivery.choices,
                initial=initial_settings.get(kind.name, kind.default_delivery),
                widget=forms.RadioSelect,
            )


@login_required
@require_GET
def inbox(request: HttpRequest) -> HttpResponse:
    rows = Notification.objects.filter(recipient_id=request.user.pk or 0)
    unread = rows.filter(read_at__isnull=True).count()
    context = {
        "section": "notifications",
        "unread": unread,
        "manages_webhooks": may_manage_webhooks(request.user),
        **list_page(request, rows, PAGE_SIZE),
    }
    return render(request, "core/notifications.html", context)


@login_required
@require_POST
def mark_read(request: HttpRequest, pk: int) -> HttpResponse:
    notification = get_object_or_404(Notification.objects.filter(recipient_id=request.user.pk or 0), pk=pk)
    actions.do_mark_notifications_read(actor=request.user, ids=[notification.pk])
    return redirect("notifications")


@login_required
@require_POST
def mark_all_read(request: HttpRequest) -> HttpResponse:
    count = actions.do_mark_notifications_read(actor=request.user)
    messages.success(request, f"Marked {count} notification{'s' if count != 1 else ''} read.")
    return redirect("notifications")


@login_required
def preferences(request: HttpRequest) -> HttpResponseBase:
    current = actions.notification_settings(request.user)
    if request.method == "GET":
        form = NotificationPreferencesForm(initial_settings=current)
        return render(request, "core/notification_preferences.html", {"section": "notifications", "form": form})
    if request.method != "POST":
        return HttpResponse(status=405, headers={"Allow": "GET, POST"})
    form = NotificationPreferencesForm(request.POST, initial_settings=current)
    if form.is_valid():
        try:
            actions.do_set_notification_preferences(actor=request.user, preferences=dict(form.cleaned_data))
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            messages.success(request, "Your notification preferences are saved.")
            return redirect("notification-preferences")
    context = {"section": "notifications", "form": form}
    return render(request, "core/notification_preferences.html", context, status=400)
