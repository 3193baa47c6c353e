"""Forms of the release pages. They check the shape of the input and hand it to an action in
``governance.actions``; every rule about keys, roles and signatures is the action's, so the API and the web agree."""

from __future__ import annotations

from typing import Any

from django import forms

from core.choices import BoardRole
from governance.choices import Decision, ReleaseStatus


class SignReleaseForm(forms.Form):
    """Approve or reject the current manifest of a release with the reviewer's web-signing key."""

    board_role = forms.ChoiceField(label="Sign as", choices=())
    decision = forms.ChoiceField(choices=Decision.choices, widget=forms.RadioSelect)
    comment = forms.CharField(
        required=False,
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Part of what you sign: it is kept with the signature and shown to everyone who reads the release.",
    )
    passphrase = forms.CharField(
        label="Signing passphrase",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
        help_text="Unlocks your web-signing key for this signature only; it is not your sign-in password.",
    )

    def __init__(self, *args: Any, roles: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        labels = dict(BoardRole.choices)
        field = self.fields["board_role"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [(role, labels.get(role, role)) for role in roles]
        if len(roles) == 1:
            field.initial = roles[0]


class CreateWebKeyForm(forms.Form):
    name = forms.CharField(
        required=False, max_length=128, help_text="To tell your keys apart, e.g. “web signing 2026”."
    )
    passphrase = forms.CharField(
        label="Signing passphrase",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text="Asked for every signature. Choose one you do not use anywhere else: it cannot be recovered.",
    )
    passphrase_again = forms.CharField(
        label="Passphrase again", strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        first, second = data.get("passphrase"), data.get("passphrase_again")
        if first is not None and second is not None and first != second:
            self.add_error("passphrase_again", "The two passphrases differ.")
        return data


class RevokeKeyForm(forms.Form):
    reason = forms.CharField(
        max_length=2000,
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
        help_text="Kept with the key: e.g. “laptop lost”, “left the board”.",
    )


RELEASE_STATUS_CHOICES = [("", "Any status"), *ReleaseStatus.choices]
