"""Forms of the web UI. They validate input and hand it to an action in ``core.actions``; they never save models."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import AuthenticationForm

from core.choices import BoardRole, Role
from core.models import Team

if TYPE_CHECKING:
    from django.contrib.auth.models import User as AuthUser

User = get_user_model()


class SignInForm(AuthenticationForm):
    """Django's sign-in form, refusing service accounts: they hold API tokens and never a browser session."""

    error_messages = {
        **AuthenticationForm.error_messages,
        "service_account": "Service accounts cannot sign in to the web interface; they use API tokens.",
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["username"].widget.attrs.update({"autocomplete": "username", "spellcheck": "false"})
        self.fields["password"].widget.attrs.update({"autocomplete": "current-password"})

    def confirm_login_allowed(self, user: AuthUser) -> None:
        super().confirm_login_allowed(user)
        if hasattr(user, "service_account"):
            raise forms.ValidationError(self.error_messages["service_account"], code="service_account")


class GrantMembershipForm(forms.Form):
    username = forms.CharField(max_length=150, widget=forms.TextInput(attrs={"autocomplete": "off"}))
    role = forms.ChoiceField(choices=Role.choices)
    board_role = forms.ChoiceField(
        choices=[("", "— none —"), *BoardRole.choices],
        required=False,
        help_text="Reviewers only: the seat they hold on the review board.",
    )

    def clean_username(self) -> AuthUser:
        username = self.cleaned_data["username"].strip()
        user = User.objects.filter(username=username, is_active=True).first()
        if user is None:
            raise forms.ValidationError(f"There is no active user named “{username}”.")
        return user


class CreateTokenForm(forms.Form):
    name = forms.CharField(
        max_length=100, help_text="What the token is for, e.g. “CI pipeline” or “laptop CLI”.", strip=True
    )
    ttl_days = forms.IntegerField(label="Valid for (days)", min_value=1)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["ttl_days"]
        assert isinstance(field, forms.IntegerField)
        field.validators.append(_max_ttl)
        field.widget.attrs["max"] = settings.API_TOKEN_MAX_TTL_DAYS
        field.initial = settings.API_TOKEN_DEFAULT_TTL_DAYS
        field.help_text = f"Between 1 and {settings.API_TOKEN_MAX_TTL_DAYS} days."


def _max_ttl(value: int) -> None:
    # The limit is a setting read at request time, so it is checked here rather than fixed at import.
    if value > settings.API_TOKEN_MAX_TTL_DAYS:
        raise forms.ValidationError(f"At most {settings.API_TOKEN_MAX_TTL_DAYS} days.")


class GroupMappingForm(forms.Form):
    idp_group = forms.CharField(
        label="Provider group",
        max_length=255,
        help_text="The group's name exactly as the provider's groups claim says it.",
    )
    team = forms.ModelChoiceField(queryset=Team.objects.order_by("slug"), to_field_name="slug")
    role = forms.ChoiceField(choices=Role.choices)
    board_role = forms.ChoiceField(
        choices=[("", "— none —"), *BoardRole.choices],
        required=False,
        help_text="Reviewers only: the seat they hold on the review board.",
    )
