"""Forms of the policy pages: a new release policy with its first version, and a policy's next version.

The rules are entered field by field (one count per board role, the gate checks as boxes, per audit kind a
maximum age and thresholds) and handed to the same actions as the API (governance.actions.policies), which judge
them against the board: a refusal comes back on the field it names. ``rules()`` is what the API's JSON would say.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.models import User

from audits.kinds import KindSpec, registered
from audits.selection import MAX_AGE_DAYS
from core.canonical import canonical_digest
from core.choices import BoardRole
from governance import gate
from governance.actions.policies import MAX_MIN_TOTAL, MAX_ROLE_COUNT, MAX_VALID_DAYS
from governance.audit_policy import MAX_AGE_LIMIT
from governance.choices import DecisionRecords
from governance.forms.boards import TeamChoiceField, team_choices
from governance.models import Environment, ReleasePolicyVersion, ReviewBoard
from registry.choices import RiskTier

MAX_NOTE = 4000
# A prohibited practice is never released, so no policy governs it (ReleasePolicy's check constraint).
POLICY_TIER_CHOICES = [(value, label) for value, label in RiskTier.choices if value != RiskTier.PROHIBITED]
PREVIEW, SAVE = "preview", "save"


def role_field(role: str) -> str:
    return f"role_{role}"


def audit_field(kind: str, part: str = "") -> str:
    return f"audit_{kind}" + (f"__{part}" if part else "")


def optional_checks() -> list[gate.GateCheck]:
    """The gate checks a policy may require: those that do not run for every release anyway."""
    return [check for check in gate.known_checks().values() if not check.always]


class PolicyRulesForm(forms.Form):
    """The rules of one policy version. Fields for the board roles, the checks and the audit kinds are built from
    their registries, so a role, check or kind added later appears without touching this form."""

    min_total = forms.IntegerField(
        label="Least number of approvers",
        min_value=1,
        max_value=MAX_MIN_TOTAL,
        initial=2,
        help_text="Distinct people; when the role counts add up to more, their sum decides.",
    )
    approval_valid_days = forms.IntegerField(
        label="Approvals stay valid for (days)", min_value=1, max_value=MAX_VALID_DAYS, initial=30
    )
    required_checks = forms.MultipleChoiceField(
        label="Gate checks that must pass", required=False, widget=forms.CheckboxSelectMultiple, choices=()
    )
    decision_records = forms.ChoiceField(
        label="Decision records",
        choices=DecisionRecords.choices,
        initial=DecisionRecords.ON_REQUEST,
        widget=forms.RadioSelect,
    )
    note = forms.CharField(
        required=False,
        max_length=MAX_NOTE,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Why the rules are what they are; kept with the version.",
    )
    previewed = forms.CharField(required=False, max_length=64, widget=forms.HiddenInput)
    # Fieldsets, not inputs (disabled: whatever is posted under these names is ignored). They carry the action's
    # refusals of the roles and the audits as a whole (e.g. more roles than the board has seats), shown where the
    # inputs they judge are.
    required_roles = forms.Field(required=False, disabled=True, widget=forms.HiddenInput)
    audit_requirements = forms.Field(required=False, disabled=True, widget=forms.HiddenInput)

    def __init__(self, *args: Any, risk_tier: str | None = None, **kwargs: Any) -> None:
        """``risk_tier``: the policy's, when known, so that an empty threshold shows the default it stands for."""
        super().__init__(*args, **kwargs)
        checks = self.fields["required_checks"]
        assert isinstance(checks, forms.MultipleChoiceField)
        checks.choices = [(check.name, check.description) for check in optional_checks()]
        for role, label in BoardRole.choices:
            self.fields[role_field(role)] = forms.IntegerField(
                label=label, min_value=0, max_value=MAX_ROLE_COUNT, initial=0, required=False
            )
        for kind_spec in registered():
            self._add_audit_fields(kind_spec, risk_tier)

    def _add_audit_fields(self, kind_spec: KindSpec, risk_tier: str | None) -> None:
        kind = kind_spec.kind.value
        self.fields[audit_field(kind)] = forms.BooleanField(
            label=f"Require a {kind_spec.kind.label} audit", required=False
        )
        self.fields[audit_field(kind, "max_age_days")] = forms.IntegerField(
            label="Max. report age (days)",
            min_value=1,
            max_value=MAX_AGE_LIMIT,
            required=False,
            widget=forms.NumberInput(attrs={"placeholder": str(MAX_AGE_DAYS)}),
        )
        for name, default in sorted(kind_spec.default_thresholds(risk_tier).items()):
            low, high = kind_spec.bounds[name]
            self.fields[audit_field(kind, name)] = forms.FloatField(
                label=name.replace("_", " "),
                min_value=low,
                max_value=high,
                required=False,
                widget=forms.NumberInput(attrs={"step": "any", "placeholder": f"{default:g}"}),
                help_text=f"{low:g} to {high:g}.",
            )

    # --- What the template lays out ---------------------------------------------------------------------------

    def role_fields(self) -> list[forms.BoundField]:
        return [self[role_field(role)] for role in BoardRole.values]

    def audit_groups(self) -> list[dict[str, Any]]:
        groups = []
        for kind_spec in registered():
            kind = kind_spec.kind.value
            groups.append(
                {
                    "kind": kind,
                    "label": kind_spec.kind.label,
                    "require": self[audit_field(kind)],
                    "max_age": self[audit_field(kind, "max_age_days")],
                    "thresholds": [self[audit_field(kind, name)] for name in sorted(kind_spec.thresholds)],
                }
            )
        return groups

    # --- What the action receives -------------------------------------------------------------------------------

    def rules(self) -> dict[str, Any]:
        """The version's rules in the API's shape (governance.actions.policies.clean_rules judges them)."""
        data = self.cleaned_data
        roles = {role: data[role_field(role)] for role in BoardRole.values if data.get(role_field(role))}
        audits: dict[str, Any] = {}
        for kind_spec in registered():
            kind = kind_spec.kind.value
            if not data.get(audit_field(kind)):
                continue
            requirement: dict[str, Any] = {
                "max_age_days": data.get(audit_field(kind, "max_age_days")) or MAX_AGE_DAYS,
                "thresholds": {
                    name: data[audit_field(kind, name)]
                    for name in sorted(kind_spec.thresholds)
                    if data.get(audit_field(kind, name)) is not None
                },
            }
            audits[kind] = requirement
        return {
            "required_roles": roles,
            "min_total": data["min_total"],
            "approval_valid_days": data["approval_valid_days"],
            "required_checks": list(data["required_checks"]),
            "audit_requirements": audits,
            "decision_records": data["decision_records"],
            "note": data["note"],
        }

    def digest(self, base: int | None = None) -> str:
        """What the preview showed, as a digest: a confirmation saves only the rules that were previewed, over the
        version ``base`` that was in force then (another version written meanwhile, or the same confirmation sent
        twice, is previewed again rather than saved on top of it)."""
        return canonical_digest({"rules": self.submitted(), "base": base})

    def submitted(self) -> dict[str, Any]:
        return self.rules()

    @staticmethod
    def initial_from(version: ReleasePolicyVersion) -> dict[str, Any]:
        """The form's initial values: the version's rules, to be changed."""
        initial: dict[str, Any] = {
            "min_total": version.min_total,
            "approval_valid_days": version.approval_valid_days,
            "required_checks": list(version.required_checks or []),
            "decision_records": version.decision_records,
        }
        for role, count in (version.required_roles or {}).items():
            initial[role_field(role)] = count
        for kind, requirement in (version.audit_requirements or {}).items():
            initial[audit_field(kind)] = True
            initial[audit_field(kind, "max_age_days")] = requirement.get("max_age_days")
            for name, value in (requirement.get("thresholds") or {}).items():
                initial[audit_field(kind, name)] = value
        return initial


class BoardChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.name} ({obj.team.slug if obj.team else 'organisation'})"


class PolicyCreateForm(PolicyRulesForm):
    """A new policy for (owner, environment, risk tier) and its version 1."""

    field_order = ["name", "team", "environment", "risk_tier", "board"]

    name = forms.CharField(max_length=128, help_text="e.g. “High-risk production”.")
    team = TeamChoiceField(choices=(), help_text="A team's policy overrides the organisation's for its releases.")
    environment = forms.ModelChoiceField(queryset=Environment.objects.order_by("rank", "slug"), to_field_name="slug")
    risk_tier = forms.ChoiceField(label="Use-case risk tier", choices=POLICY_TIER_CHOICES)
    board = BoardChoiceField(queryset=ReviewBoard.objects.none(), help_text="The board whose members sign.")

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        team = self.fields["team"]
        assert isinstance(team, TeamChoiceField)
        team.choices = team_choices(user)
        board = self.fields["board"]
        assert isinstance(board, forms.ModelChoiceField)
        board.queryset = ReviewBoard.objects.restrict(user).select_related("team").order_by("team__slug", "name")

    def owner(self) -> Any:
        field = self.fields["team"]
        assert isinstance(field, TeamChoiceField)
        return field.team(self.cleaned_data["team"])

    def submitted(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            **self.rules(),
            "name": data["name"],
            "team": data["team"],
            "environment": data["environment"].slug,
            "risk_tier": data["risk_tier"],
            "board": data["board"].pk,
        }
