"""The comparison of a trial (a canary or a shadow) with the primary it runs beside: each one's score distribution
and, for a shadow, how often the two decide a request differently. Read from the prediction log with SQL aggregates
over the rows' ``scores`` (one score per scored row): the database expands the JSON arrays and counts, whatever the
number of requests; Python sees a few dozen numbers.

The decision of a score is the one the reason catalogue in force draws at its ``threshold`` (``score >= threshold``
is the positive decision), or 0.5 for a model without a catalogue. A shadow scores exactly the requests the primary
(or canary) answered, so its rows pair with the returned ones by ``request_id`` and row position: a request
disagrees when any of its rows gets the other decision. A canary answers other requests than the primary: only the
distributions compare.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any

from django.db import connection
from django.utils import timezone

from audits.charts import titled_chart
from audits.reasons import current_catalogue
from serving.choices import DeploymentRole
from serving.models import Deployment, Route

BINS = 20
DEFAULT_THRESHOLD = 0.5
# The windows the page offers, by their query value.
WINDOWS: dict[str, tuple[str, datetime.timedelta]] = {
    "1h": ("last hour", datetime.timedelta(hours=1)),
    "24h": ("last 24 hours", datetime.timedelta(hours=24)),
    "7d": ("last 7 days", datetime.timedelta(days=7)),
    "30d": ("last 30 days", datetime.timedelta(days=30)),
}
DEFAULT_WINDOW = "24h"
PRIMARY_COLOUR, TRIAL_COLOUR = "#0b57a4", "#c2570c"


@dataclass
class Side:
    """One deployment's scores in the window: rows scored, rows with the positive decision, and counts per bin."""

    deployment: Deployment
    rows: int = 0
    positive: int = 0
    bins: list[int] = field(default_factory=lambda: [0] * BINS)

    @property
    def positive_share(self) -> float | None:
        return self.positive / self.rows if self.rows else None


@dataclass
class Comparison:
    role: str
    window: str
    since: datetime.datetime
    threshold: float
    threshold_source: str
    primary: Side
    trial: Side
    paired_requests: int | None = None  # shadows only
    disagreeing_requests: int | None = None

    @property
    def disagreement(self) -> float | None:
        if not self.paired_requests or self.disagreeing_requests is None:
            return None
        return self.disagreeing_requests / self.paired_requests

    def table(self) -> list[dict[str, Any]]:
        """Per bin: its range and each side's share of rows (what the chart draws)."""
        return [
            {
                "low": index / BINS,
                "high": (index + 1) / BINS,
                "primary": self.primary.bins[index],
                "trial": self.trial.bins[index],
                "primary_share": self.primary.bins[index] / self.primary.rows if self.primary.rows else 0.0,
                "trial_share": self.trial.bins[index] / self.trial.rows if self.trial.rows else 0.0,
            }
            for index in range(BINS)
        ]

    def chart(self) -> dict[str, Any]:
        primary = f"primary v{self.primary.deployment.model_version.number}"
        trial = f"{self.role} v{self.trial.deployment.model_version.number}"
        values = [
            {"bin": f"{row['low']:.2f}", "side": side, "share": row[key]}
            for row in self.table()
            for side, key in ((primary, "primary_share"), (trial, "trial_share"))
        ]
        spec = {
            "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
            "width": "container",
            "height": 220,
            "data": {"values": values},
            "mark": {"type": "bar"},
            "encoding": {
                "x": {"field": "bin", "type": "ordinal", "title": "score (bin's lower edge)", "sort": None},
                "xOffset": {"field": "side"},
                "y": {"field": "share", "type": "quantitative", "title": "share of rows", "axis": {"format": "%"}},
                "color": {
                    "field": "side",
                    "title": None,
                    "scale": {"domain": [primary, trial], "range": [PRIMARY_COLOUR, TRIAL_COLOUR]},
                },
            },
        }
        return titled_chart(
            "chart-compare-scores",
            "Score distribution",
            spec,
            f"Each side's share of its own rows per score bin of {1 / BINS:.2f}; the decision threshold is "
            f"{self.threshold:g}.",
        )


def trial_roles(route: Route) -> list[str]:
    return [role for role in (DeploymentRole.CANARY, DeploymentRole.SHADOW) if getattr(route, f"{role}_id")]


def _elements(table: str, alias: str) -> tuple[str, str, str]:
    """(the join expanding ``table.scores`` into rows as ``alias``, a row's score, a row's position), per database."""
    if connection.vendor == "postgresql":
        join = f"CROSS JOIN LATERAL jsonb_array_elements_text({table}.scores) WITH ORDINALITY AS {alias}(v, i)"
        return join, f"CAST({alias}.v AS double precision)", f"{alias}.i - 1"
    return (
        f"CROSS JOIN json_each({table}.scores) AS {alias}",
        f"CAST({alias}.value AS REAL)",
        f"CAST({alias}.key AS INTEGER)",
    )


def _bin(score: str) -> str:
    if connection.vendor == "postgresql":
        return f"CAST(LEAST(GREATEST(FLOOR({score} * %s), 0), %s - 1) AS integer)"
    return f"MIN(MAX(CAST({score} * %s AS INTEGER), 0), %s - 1)"


def _distribution(sides: list[Side], since: datetime.datetime, threshold: float) -> None:
    join, score, _ = _elements("p", "s")
    sql = (
        f"SELECT p.deployment_id, {_bin(score)} AS bin, COUNT(*), "  # noqa: S608 (no user input in the SQL text)
        f"SUM(CASE WHEN {score} >= %s THEN 1 ELSE 0 END) "
        f"FROM serving_predictionlog p {join} "
        f"WHERE p.deployment_id IN (%s, %s) AND p.logged_at >= %s AND {score} IS NOT NULL "
        "GROUP BY 1, 2"
    )
    by_id = {side.deployment.pk: side for side in sides}
    with connection.cursor() as cursor:
        cursor.execute(sql, [BINS, BINS, threshold, sides[0].deployment.pk, sides[1].deployment.pk, since])
        for deployment_id, bin_index, count, positive in cursor.fetchall():
            side = by_id[deployment_id]
            side.bins[int(bin_index)] += int(count)
            side.rows += int(count)
            side.positive += int(positive or 0)


def _disagreement(shadow: Deployment, since: datetime.datetime, threshold: float) -> tuple[int, int]:
    """(requests the shadow and the returned answer both scored, those where a row's decisions differ)."""
    shadow_join, shadow_score, shadow_index = _elements("t", "ts")
    answer_join, answer_score, answer_index = _elements("p", "ps")
    sql = (
        "SELECT COUNT(*), COALESCE(SUM(differs), 0) FROM ("  # noqa: S608 (no user input in the SQL text)
        f"SELECT t.request_id, MAX(CASE WHEN ({shadow_score} >= %s) <> ({answer_score} >= %s) THEN 1 ELSE 0 END) "
        f"AS differs FROM serving_predictionlog t {shadow_join} "
        f"JOIN serving_predictionlog p ON p.request_id = t.request_id AND p.returned AND p.id <> t.id {answer_join} "
        f"WHERE t.deployment_id = %s AND t.logged_at >= %s AND {shadow_index} = {answer_index} "
        "GROUP BY t.request_id) paired"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [threshold, threshold, shadow.pk, since])
        pairs, differ = cursor.fetchone()
    return int(pairs or 0), int(differ or 0)


def compare(route: Route, role: str, window: str = DEFAULT_WINDOW) -> Comparison:
    """The comparison of the route's ``role`` (canary or shadow, which must be running) with its primary over the
    ``window`` (a key of WINDOWS) ending now."""
    trial = getattr(route, role)
    primary = route.primary
    if trial is None or primary is None:
        raise ValueError(f"compare() needs a primary and a {role} running beside it")
    since = timezone.now() - WINDOWS[window][1]
    catalogue = current_catalogue(route.model_id)
    threshold = catalogue.threshold if catalogue is not None else DEFAULT_THRESHOLD
    source = f"reason catalogue v{catalogue.number}" if catalogue is not None else "the default: no reason catalogue"
    result = Comparison(
        role=role,
        window=window,
        since=since,
        threshold=threshold,
        threshold_source=source,
        primary=Side(primary),
        trial=Side(trial),
    )
    _distribution([result.primary, result.trial], since, threshold)
    if role == DeploymentRole.SHADOW:
        result.paired_requests, result.disagreeing_requests = _disagreement(trial, since, threshold)
    return result
