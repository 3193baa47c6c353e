"""Forms of the board and environment pages: a new review board, a seat on it, a new environment. Who may do what,
and every rule about seats (a team board seats its team's members, one seat per person and role), is the action's
(governance.actions.boards)."""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.contrib.auth.models import User
from django.db.models import QuerySet

from core.choices import BoardRole
from core.models import Team
from governance.models.boards import MAX_REGION_LENGTH, MAX_REGIONS
from governance.querysets import MANAGER_ROLES

ORGANISATION = "-"  # the team choice that means "the organisation's" (no team), as in the policy list's filter
MAX_DESCRIPTION = 4000
MAX_RANK = 1000


def managed_teams(user: User) -> QuerySet[Team]:
    """The teams whose boards and policies ``user`` manages (all of them for a platform administrator)."""
    teams = Team.objects.order_by("name")
    if user.is_superuser:
        return teams
    return teams.filter(memberships__user_id=user.pk, memberships__role__in=MANAGER_ROLES).distinct()


def team_choices(user: User) -> list[tuple[str, str]]:
    """The owners a user may create a board or policy for: the teams they manage and, for a platform
    administrator, the organisation."""
    choices = [(team.slug, f"{team.name} ({team.slug})") for team in managed_teams(user)]
    if user.is_superuser:
        choices.insert(0, (ORGANISATION, "The organisation (every team's policies may name it)"))
    return choices


class TeamChoiceField(forms.ChoiceField):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label", "Owner")
        super().__init__(*args, **kwargs)

    def team(self, value: str) -> Team | None:
        return None if value == ORGANISATION else Team.objects.get(slug=value)


class BoardCreateForm(forms.Form):
    team = TeamChoiceField(choices=(), help_text="A team's board judges that team's releases and seats its members.")
    slug = forms.SlugField(max_length=64, help_text="Short and stable, e.g. “credit-board”.")
    name = forms.CharField(max_length=128)
    description = forms.CharField(required=False, max_length=MAX_DESCRIPTION, widget=forms.Textarea(attrs={"rows": 3}))

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["team"]
        assert isinstance(field, TeamChoiceField)
        field.choices = team_choices(user)

    def owner(self) -> Team | None:
        field = self.fields["team"]
        assert isinstance(field, TeamChoiceField)
        return field.team(self.cleaned_data["team"])


class AddBoardMemberForm(forms.Form):
    username = forms.CharField(max_length=150, help_text="The person's sign-in name.")
    board_role = forms.ChoiceField(label="Board role", choices=BoardRole.choices)

    def clean_username(self) -> User:
        username = self.cleaned_data["username"].strip()
        user = User.objects.filter(username=username, is_active=True).first()
        if user is None:
            raise forms.ValidationError(f"No active user {username[:150]!r}.")
        return user


class RegionsField(forms.CharField):
    """Region names, one per line or separated by commas, as a list (the model's validator checks each)."""

    def to_python(self, value: Any) -> list[str]:  # type: ignore[override]
        text = super().to_python(value) or ""
        regions = [part.strip() for part in re.split(r"[,\n]", text) if part.strip()]
        if len(regions) > MAX_REGIONS:
            raise forms.ValidationError(f"At most {MAX_REGIONS} regions.")
        if any(len(region) > MAX_REGION_LENGTH for region in regions):
            raise forms.ValidationError(f"A region name has at most {MAX_REGION_LENGTH} characters.")
        if len(set(regions)) != len(regions):
            raise forms.ValidationError("A region is named twice.")
        return regions


class EnvironmentCreateForm(forms.Form):
    slug = forms.SlugField(max_length=64, help_text="e.g. “staging”, “production”.")
    name = forms.CharField(max_length=128)
    description = forms.CharField(required=False, max_length=MAX_DESCRIPTION, widget=forms.Textarea(attrs={"rows": 3}))
    rank = forms.IntegerField(
        min_value=0, max_value=MAX_RANK, initial=0, help_text="Least exposed first: staging below production."
    )
    allowed_regions = RegionsField(
        required=False,
        max_length=MAX_REGIONS * (MAX_REGION_LENGTH + 2),
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Data-residency regions whose data may reach a model deployed here, separated by commas or lines; "
        "empty: anywhere.",
    )
