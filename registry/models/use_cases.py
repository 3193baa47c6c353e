from __future__ import annotations

import math

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from core.querysets import RestrictedQuerySet
from registry.choices import DecisionMode, RiskTier
from registry.models.base import NamedTeamObject, unique_name_per_team
from registry.models.validators import validate_kpis, validate_string_list
from registry.querysets import REGISTRY_POLICY


def validate_cost(value: float) -> None:
    if not math.isfinite(value) or value < 0:
        raise ValidationError("A cost is a finite number, zero or more.")


class UseCase(NamedTeamObject):
    """The business side of a model: why it exists, how its value is measured and how much risk it carries.

    ``kpis`` lists the KPIs it serves, each ``{"name", "unit", "baseline", "target", "description"}``;
    ``expected_roi`` is the return expected and ``roi_measurement`` how it is measured. ``decision_mode`` says
    whether the output decides by itself or supports a person; ``output_users`` who uses the output; ``scope`` what
    it covers and ``limitations`` what it must not be used for. ``owner`` answers for it; ``stakeholders`` names
    the people and groups affected or consulted. ``risk_tier`` follows the EU AI Act. ``name_key`` is the name's
    uniqueness key (registry.naming.name_key), unique per team. ``cost_false_positive`` and ``cost_false_negative``
    (optional, both or neither, in any one unit: EUR, hours) are what one wrong decision of each kind costs the
    business: a training job then picks the decision threshold of minimum cost and reports the cost on held-out data.
    """

    team = models.ForeignKey("core.Team", on_delete=models.PROTECT, related_name="use_cases")
    objective = models.TextField()
    kpis = models.JSONField(default=list, blank=True, validators=[validate_kpis])
    expected_roi = models.TextField(blank=True)
    roi_measurement = models.TextField(blank=True)
    decision_mode = models.CharField(max_length=32, choices=DecisionMode.choices)
    output_users = models.TextField(blank=True)
    scope = models.TextField(blank=True)
    limitations = models.TextField(blank=True)
    stakeholders = models.JSONField(default=list, blank=True, validators=[validate_string_list])
    risk_tier = models.CharField(max_length=16, choices=RiskTier.choices)
    cost_false_positive = models.FloatField(null=True, blank=True, validators=[validate_cost])
    cost_false_negative = models.FloatField(null=True, blank=True, validators=[validate_cost])

    class Meta(NamedTeamObject.Meta):
        constraints = [
            *unique_name_per_team(name="use_case_unique_name_per_team", shape="use_case_unique_shape_per_team"),
            models.CheckConstraint(
                condition=Q(cost_false_positive__isnull=True, cost_false_negative__isnull=True)
                # Not-null spelt out: a CHECK whose condition is NULL (one cost missing) would pass.
                | Q(
                    cost_false_positive__isnull=False,
                    cost_false_negative__isnull=False,
                    cost_false_positive__gte=0,
                    cost_false_negative__gte=0,
                ),
                name="use_case_costs_both_or_neither",
                violation_error_message=(
                    "Give both cost_false_positive and cost_false_negative (zero or more), or neither."
                ),
            ),
        ]

    def clean(self) -> None:
        # The constraint's message names no field; say which one is missing.
        given = {name: getattr(self, name) is not None for name in ("cost_false_positive", "cost_false_negative")}
        if any(given.values()) and not all(given.values()):
            missing = next(name for name, present in given.items() if not present)
            other = next(name for name, present in given.items() if present)
            raise ValidationError({missing: f"Give it with {other}: the costs of errors come as a pair."})

    def kpi_names(self) -> list[str]:
        return [kpi["name"] for kpi in self.kpis]

    def decision_costs(self) -> tuple[float, float] | None:
        """``(cost of a false positive, cost of a false negative)`` when the use case defines them, else None."""
        if self.cost_false_positive is None or self.cost_false_negative is None:
            return None
        return float(self.cost_false_positive), float(self.cost_false_negative)


class KpiObservation(models.Model):
    """One measured value of one of a use case's KPIs (``kpi`` is its name), at ``observed_at``.

    Observations are facts and are never edited: a wrong one is corrected by recording another with a ``note``.
    """

    use_case = models.ForeignKey(UseCase, on_delete=models.CASCADE, related_name="observations")
    kpi = models.CharField(max_length=128)
    value = models.FloatField()
    observed_at = models.DateTimeField()
    note = models.TextField(blank=True)
    recorded_at = models.DateTimeField(auto_now_add=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    objects = RestrictedQuerySet.as_manager()
    team_lookup = "use_case__team_id"
    access_policy = REGISTRY_POLICY

    class Meta:
        ordering = ["use_case_id", "kpi", "observed_at", "id"]
        indexes = [models.Index(fields=["use_case", "kpi", "observed_at"], name="kpi_observation_series")]

    def __str__(self) -> str:
        return f"{self.kpi} = {self.value:g} at {self.observed_at:%Y-%m-%d %H:%M}"
