"""The global explanation report's charts as Vega-Lite specs (audits.charts for the shape and the rules: plain dicts
handed to the page as JSON data, drawn by static/js/audit-charts.js, no expression the page's Content Security
Policy would refuse; every figure also in a table on the page, templates/audits/_explanation.html).

Four charts: the importance of each feature (mean |SHAP|); a beeswarm-style strip of the SHAP values of each
feature, coloured by the feature's value (low to high within that feature: features have different scales); the
dependence of the top features (mean SHAP per decile of the value); and each protected group's importance profile
(the share of its mean |SHAP| each feature has) beside the whole sample's, as a heat map.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from audits.charts import finite_number, titled_chart

ALL_ROWS = "all rows"
BAR_COLOUR = "#0b57a4"
MISSING_COLOUR = "#8a93a0"


def _jitter(feature: str, index: int) -> float:
    """A stable offset in [-1, 1] for a beeswarm point (the same page draws the same swarm every time)."""
    digest = hashlib.sha256(f"{feature}:{index}".encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**31 - 1.0


def shares(importance: Mapping[str, Any], features: list[str]) -> dict[str, float | None]:
    """Each feature's share of the total mean |SHAP| (None when the total is zero)."""
    values = {name: max(finite_number(importance.get(name)) or 0.0, 0.0) for name in features}
    total = sum(values.values())
    return {name: (value / total if total > 0 else None) for name, value in values.items()}


def _importance(features: list[Mapping[str, Any]], order: list[str], space: str) -> dict[str, Any]:
    rows = [{"feature": str(f["feature"]), "mean_abs_shap": finite_number(f.get("mean_abs_shap"))} for f in features]
    spec = {
        "data": {"values": rows},
        "width": 420,
        "height": {"step": 22},
        "mark": {"type": "bar", "color": BAR_COLOUR, "height": {"band": 0.7}},
        "encoding": {
            "y": {"field": "feature", "type": "nominal", "title": None, "sort": order},
            "x": {"field": "mean_abs_shap", "type": "quantitative", "title": f"mean |SHAP| ({space})"},
        },
    }
    return titled_chart(
        "chart-explain-importance",
        "Importance of each feature: mean |SHAP|",
        spec,
        "The average size of each feature's contribution to the output, over the explained rows.",
    )


def _beeswarm(features: list[Mapping[str, Any]], order: list[str], space: str) -> dict[str, Any] | None:
    points = []
    for feature in features:
        name = str(feature["feature"])
        pairs = [(value, finite_number(shap)) for value, shap in feature.get("points") or []]
        present = [v for v, _ in pairs if finite_number(v) is not None]
        low, high = (min(present), max(present)) if present else (0.0, 0.0)
        for index, (value, shap) in enumerate(pairs):
            if shap is None:
                continue
            number = finite_number(value)
            level = None if number is None else (0.5 if high == low else (number - low) / (high - low))
            points.append(
                {"feature": name, "shap": shap, "value": number, "level": level, "jitter": _jitter(name, index)}
            )
    if not points:
        return None
    y = {"field": "feature", "type": "nominal", "title": None, "sort": order}
    x = {"field": "shap", "type": "quantitative", "title": f"SHAP value ({space})"}
    offset = {"field": "jitter", "type": "quantitative", "scale": {"domain": [-1.6, 1.6]}, "title": None}
    spec = {
        "data": {"values": points},
        "width": 420,
        "height": {"step": 34},
        "layer": [
            {
                "transform": [{"filter": {"field": "level", "valid": True}}],
                "mark": {"type": "circle", "size": 16, "opacity": 0.75},
                "encoding": {
                    "y": y,
                    "x": x,
                    "yOffset": offset,
                    "color": {
                        "field": "level",
                        "type": "quantitative",
                        "title": "feature value (low to high)",
                        "scale": {"domain": [0, 1], "scheme": "blueorange"},
                        "legend": {"format": ".0%"},
                    },
                },
            },
            {
                "transform": [{"filter": {"not": {"field": "level", "valid": True}}}],
                "mark": {"type": "circle", "size": 16, "opacity": 0.75, "color": MISSING_COLOUR},
                "encoding": {"y": y, "x": x, "yOffset": offset},
            },
        ],
    }
    return titled_chart(
        "chart-explain-beeswarm",
        "SHAP value of each feature, row by row",
        spec,
        "Each dot: one explained row (a sample of them); right raises the output, left lowers it; colour: the "
        "feature's value within its range, blue low, orange high, grey missing.",
    )


def _dependence(dependence: list[Mapping[str, Any]], space: str) -> dict[str, Any] | None:
    rows = []
    for entry in dependence:
        for bin_ in entry.get("bins") or []:
            low, high = finite_number(bin_.get("low")), finite_number(bin_.get("high"))
            if low is None or high is None:
                continue
            rows.append(
                {
                    "feature": str(entry["feature"]),
                    "value": (low + high) / 2,
                    "mean_shap": finite_number(bin_.get("mean_shap")),
                    "count": bin_.get("count"),
                }
            )
    if not rows:
        return None
    features = list(dict.fromkeys(row["feature"] for row in rows))
    spec = {
        "data": {"values": rows},
        "facet": {"field": "feature", "type": "nominal", "title": None, "sort": features},
        "columns": 3,
        "spec": {
            "width": 200,
            "height": 140,
            "layer": [
                {
                    "data": {"values": [{"zero": 0}]},
                    "mark": {"type": "rule", "color": MISSING_COLOUR, "strokeDash": [4, 4]},
                    "encoding": {"y": {"field": "zero", "type": "quantitative"}},
                },
                {
                    "mark": {"type": "line", "point": {"filled": True, "size": 30}, "color": BAR_COLOUR},
                    "encoding": {
                        "x": {"field": "value", "type": "quantitative", "title": "feature value (bin middle)"},
                        "y": {"field": "mean_shap", "type": "quantitative", "title": f"mean SHAP ({space})"},
                    },
                },
            ],
        },
        "resolve": {"scale": {"x": "independent"}},
    }
    return titled_chart(
        "chart-explain-dependence",
        "How the top features move the output",
        spec,
        "Mean SHAP value per decile of each top feature's value; above the dashed line the feature raises the "
        "output, below it lowers it.",
    )


def _groups(results: Mapping[str, Any], order: list[str]) -> dict[str, Any] | None:
    by_group = results.get("by_group") or {}
    if not by_group:
        return None
    whole = shares({str(f["feature"]): f.get("mean_abs_shap") for f in results.get("features") or []}, order)
    cells = []
    labels = [ALL_ROWS]
    for feature, share in whole.items():
        cells.append({"group": ALL_ROWS, "feature": feature, "share": share, "text": percent(share)})
    for attribute, groups in by_group.items():
        for group in groups:
            label = f"{attribute}={group.get('group')} (n={group.get('size')})"
            labels.append(label)
            for feature, share in shares(group.get("mean_abs_shap") or {}, order).items():
                cells.append({"group": label, "feature": feature, "share": share, "text": percent(share)})
    spec = {
        "data": {"values": cells},
        "width": max(200, 70 * len(order)),
        "height": {"step": 24},
        "encoding": {
            "x": {
                "field": "feature",
                "type": "nominal",
                "title": None,
                "sort": order,
                "axis": {"orient": "top", "labelAngle": 0},
            },
            "y": {"field": "group", "type": "nominal", "title": None, "sort": labels},
        },
        "layer": [
            {
                "mark": {"type": "rect"},
                "encoding": {
                    "color": {
                        "field": "share",
                        "type": "quantitative",
                        "title": "share of importance",
                        "scale": {"domain": [0, 1], "scheme": "blues"},
                        "legend": {"format": ".0%"},
                    }
                },
            },
            {
                "transform": [{"filter": {"field": "share", "gte": 0.5}}],
                "mark": {"type": "text", "fontSize": 11, "color": "#ffffff"},
                "encoding": {"text": {"field": "text"}},
            },
            {
                "transform": [{"filter": {"not": {"field": "share", "gte": 0.5}}}],
                "mark": {"type": "text", "fontSize": 11, "color": "#1c2b3d"},
                "encoding": {"text": {"field": "text"}},
            },
        ],
    }
    return titled_chart(
        "chart-explain-groups",
        "Importance per protected group",
        spec,
        "Each row: the share of the group's mean |SHAP| each feature has, beside all rows (top). A row unlike the "
        "top one: the model leans on other features for that group.",
    )


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.0%}"


def explanation_charts(results: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The report's charts, in the page's order (the module's docstring)."""
    features = list(results.get("features") or [])
    if not features:
        return []
    order = [str(f["feature"]) for f in features]
    space = "log-odds" if results.get("output_space") == "log_odds" else "probability"
    drawn = [
        _importance(features, order, space),
        _beeswarm(features, order, space),
        _dependence(list(results.get("dependence") or []), space),
        _groups(results, order),
    ]
    return [chart for chart in drawn if chart is not None]
