"""The report page's charts as Vega-Lite specs, built from a report's stored results (docs/audits.md, "Reading a
report"). Functions of data: a spec is a plain dict the page hands to the browser as JSON data (never as script:
the site's Content Security Policy allows no inline script and no ``eval``; static/js/audit-charts.js renders the
specs with vega-embed's expression interpreter). Every figure a chart draws is also in a table on the page.

Colours repeat words that are always written beside them (pass, fail, insufficient data, flagged).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

PASS = "pass"  # noqa: S105 (a verdict, not a password)
FAIL = "fail"
INSUFFICIENT = "insufficient data"
# The site's --ok, --bad and --neutral (static/css/assay.css).
VERDICT_COLOURS = {PASS: "#17663a", FAIL: "#a4161a", INSUFFICIENT: "#8a93a0"}
GROUP_METRIC_NAMES = {
    "selection_rate": "Selection rate",
    "true_positive_rate": "True positive rate",
    "false_positive_rate": "False positive rate",
    "precision": "Precision",
    "accuracy": "Accuracy",
    "auc": "AUC",
}
NAMED_METRIC_NAMES = {
    "disparate_impact": "Disparate impact",
    "statistical_parity_difference": "Statistical parity difference",
    "equal_opportunity_difference": "Equal opportunity difference",
    "average_odds_difference": "Average odds difference",
}
SEGMENT_METRIC_NAMES = {"auc": "AUC", "precision": "Precision", "recall": "Recall", "accuracy": "Accuracy"}
DARK_CELL = 0.5  # association from which a heat map cell is dark enough for white text
FONT = "system-ui, -apple-system, Segoe UI, Roboto, Helvetica Neue, Arial, sans-serif"
CONFIG = {
    "font": FONT,
    "view": {"stroke": "#d5dbe3"},
    "axis": {"labelFontSize": 11, "titleFontSize": 11, "labelLimit": 220, "gridColor": "#edf0f4"},
    "header": {"labelFontSize": 12, "labelFontWeight": 600, "labelColor": "#1c2b3d"},
    "legend": {"labelFontSize": 11, "titleFontSize": 11, "orient": "bottom"},
}


def verdict_word(verdict: Any) -> str:
    """The verdict as the page writes it: insufficient data is never a pass."""
    if verdict == "pass":
        return PASS
    if verdict == "fail":
        return FAIL
    return INSUFFICIENT


def group_label(group: Mapping[str, Any] | None) -> str:
    return ", ".join(f"{key}={value}" for key, value in (group or {}).items())


def finite_number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if value == value and abs(value) != float("inf") else None


def _interval(entry: Mapping[str, Any]) -> tuple[float | None, float | None]:
    interval = entry.get("interval")
    if isinstance(interval, list | tuple) and len(interval) == 2:
        return finite_number(interval[0]), finite_number(interval[1])
    return None, None


def titled_chart(chart_id: str, title: str, spec: dict[str, Any], description: str) -> dict[str, Any]:
    return {"id": chart_id, "title": title, "description": description, "spec": {**spec, "config": CONFIG}}


def facet_bars(
    rows: Sequence[Mapping[str, Any]],
    rules: Iterable[Mapping[str, Any]],
    *,
    facets: Sequence[str],
    axis_title: str,
    domain: tuple[float, float] | None = None,
    columns: int = 3,
) -> dict[str, Any]:
    """Horizontal bars, one panel per facet: each row ``{label, facet, value, low, high, verdict}`` a bar coloured by
    its verdict with its interval as a line across it; each rule ``{facet, value}`` a dashed threshold line in its
    panel. A row without a value (insufficient data) is written in words where its bar would be."""
    labels = list(dict.fromkeys(str(row["label"]) for row in rows))
    values: list[dict[str, Any]] = [{**row, "kind": "figure"} for row in rows]
    values += [
        {"facet": rule["facet"], "threshold": rule["value"], "kind": rule.get("kind", "threshold")} for rule in rules
    ]
    present = {row["verdict"] for row in rows}
    shown = [verdict for verdict in VERDICT_COLOURS if verdict in present] or list(VERDICT_COLOURS)
    x_scale: dict[str, Any] = {"zero": True, "nice": True}
    if domain is not None:
        x_scale["domain"] = list(domain)
    is_figure = {"field": "kind", "equal": "figure"}
    y = {"field": "label", "type": "nominal", "title": None, "sort": labels}
    return {
        "data": {"values": values},
        "facet": {"field": "facet", "type": "nominal", "title": None, "sort": list(facets)},
        "columns": columns,
        "spec": {
            "width": 230,
            "height": {"step": 20},
            "layer": [
                {
                    "transform": [{"filter": is_figure}, {"filter": {"field": "value", "valid": True}}],
                    "mark": {"type": "bar", "height": {"band": 0.7}},
                    "encoding": {
                        "y": y,
                        "x": {"field": "value", "type": "quantitative", "title": axis_title, "scale": x_scale},
                        "color": {
                            "field": "verdict",
                            "type": "nominal",
                            "title": "Verdict",
                            "scale": {"domain": shown, "range": [VERDICT_COLOURS[verdict] for verdict in shown]},
                        },
                    },
                },
                {
                    "transform": [{"filter": is_figure}, {"filter": {"field": "low", "valid": True}}],
                    "mark": {"type": "rule", "color": "#1c2b3d", "strokeWidth": 1.5},
                    "encoding": {"y": y, "x": {"field": "low", "type": "quantitative"}, "x2": {"field": "high"}},
                },
                {
                    "transform": [{"filter": is_figure}, {"filter": {"not": {"field": "value", "valid": True}}}],
                    "mark": {"type": "text", "align": "left", "dx": 3, "color": VERDICT_COLOURS[INSUFFICIENT]},
                    "encoding": {"y": y, "x": {"datum": 0}, "text": {"value": INSUFFICIENT}},
                },
                {
                    "transform": [{"filter": {"field": "kind", "equal": "threshold"}}],
                    "mark": {"type": "rule", "color": "#7a4a00", "strokeDash": [5, 3], "strokeWidth": 2},
                    "encoding": {"x": {"field": "threshold", "type": "quantitative"}},
                },
                # Parity (a ratio of 1): a thin grey line, so that the eye reads the distance to it.
                {
                    "transform": [{"filter": {"field": "kind", "equal": "parity"}}],
                    "mark": {"type": "rule", "color": "#8a93a0", "strokeWidth": 1},
                    "encoding": {"x": {"field": "threshold", "type": "quantitative"}},
                },
                # Room beyond a threshold line, so that it is not drawn on the panel's edge: an invisible point.
                {
                    "transform": [{"filter": {"field": "kind", "equal": "extent"}}],
                    "mark": {"type": "point", "opacity": 0},
                    "encoding": {"x": {"field": "threshold", "type": "quantitative"}},
                },
            ],
        },
        "resolve": {"scale": {"x": "independent"}},
    }


def fairness_charts(results: Mapping[str, Any], thresholds: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Per grouping: each group's metrics with their intervals; the four named metrics of each compared group
    against the reference, coloured by verdict, with the policy's threshold lines."""
    charts = []
    for index, grouping in enumerate(results.get("groupings") or [], start=1):
        attributes = " and ".join(grouping.get("attributes") or [])
        rows = []
        for group in grouping.get("groups") or []:
            enough = group.get("status") != "insufficient_data"
            for name, heading in GROUP_METRIC_NAMES.items():
                entry = (group.get("metrics") or {}).get(name) or {}
                low, high = _interval(entry)
                rows.append(
                    {
                        "label": group_label(group.get("group")),
                        "facet": heading,
                        "value": finite_number(entry.get("value")),
                        "low": low,
                        "high": high,
                        "verdict": "measured" if enough else INSUFFICIENT,
                    }
                )
        spec = facet_bars(rows, [], facets=list(GROUP_METRIC_NAMES.values()), axis_title="rate", domain=(0, 1))
        group_layer = spec["spec"]["layer"][0]["encoding"]["color"]
        group_layer.update(
            title="Group",
            scale={"domain": ["measured", INSUFFICIENT], "range": ["#0b57a4", VERDICT_COLOURS[INSUFFICIENT]]},
        )
        charts.append(
            titled_chart(
                f"chart-groups-{index}",
                f"Per group, by {attributes}",
                spec,
                "Bars: each group's figure; black line: its 95% bootstrap interval. Grey groups have too few rows.",
            )
        )
        named_rows: list[dict[str, Any]] = []
        for comparison in grouping.get("comparisons") or []:
            for name, heading in NAMED_METRIC_NAMES.items():
                entry = (comparison.get("metrics") or {}).get(name) or {}
                low, high = _interval(entry)
                named_rows.append(
                    {
                        "label": group_label(comparison.get("group")),
                        "facet": heading,
                        "value": finite_number(entry.get("value")),
                        "low": low,
                        "high": high,
                        "verdict": verdict_word(entry.get("verdict")),
                    }
                )
        for group in grouping.get("insufficient_groups") or []:
            for heading in NAMED_METRIC_NAMES.values():
                named_rows.append(
                    {"label": group_label(group), "facet": heading, "value": None, "low": None, "high": None}
                    | {"verdict": INSUFFICIENT}
                )
        if not named_rows:
            continue
        charts.append(
            titled_chart(
                f"chart-named-{index}",
                f"Against the reference group, by {attributes}",
                facet_bars(named_rows, named_rules(thresholds), facets=list(NAMED_METRIC_NAMES.values()), axis_title="")
                | {"columns": 2},
                "Bars coloured by verdict, with their 95% interval; dashed lines: the policy's thresholds.",
            )
        )
    return charts


def named_rules(thresholds: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The threshold lines of the four named metrics: disparate impact from below, the differences both ways."""
    impact = NAMED_METRIC_NAMES["disparate_impact"]
    rules: list[dict[str, Any]] = [{"facet": impact, "value": 1.0, "kind": "parity"}]
    minimum = finite_number(thresholds.get("disparate_impact_min"))
    if minimum is not None:
        rules.append({"facet": impact, "value": minimum})
    for name, key in (
        ("statistical_parity_difference", "statistical_parity_max"),
        ("equal_opportunity_difference", "equal_opportunity_max"),
        ("average_odds_difference", "average_odds_max"),
    ):
        bound = finite_number(thresholds.get(key))
        if bound is not None:
            rules += [{"facet": NAMED_METRIC_NAMES[name], "value": side * bound} for side in (-1, 1)]
            rules += [
                {"facet": NAMED_METRIC_NAMES[name], "value": side * bound * 1.5, "kind": "extent"} for side in (-1, 1)
            ]
    return rules


def proxy_charts(results: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The heat map of association, feature by attribute; a flagged pair framed in red and marked."""
    cells = []
    for pair in results.get("pairs") or []:
        association = finite_number(pair.get("association"))
        flagged = bool(pair.get("flagged"))
        text = "—" if association is None else f"{association:.2f}"
        cells.append(
            {
                "feature": str(pair.get("feature")),
                "attribute": str(pair.get("attribute")),
                "association": association,
                "flagged": flagged,
                "text": f"{text} ⚑" if flagged else text,
            }
        )
    if not cells:
        return []
    features = list(dict.fromkeys(cell["feature"] for cell in cells))
    attributes = list(dict.fromkeys(cell["attribute"] for cell in cells))
    x = {"field": "attribute", "type": "nominal", "title": "protected attribute", "sort": attributes}
    y = {"field": "feature", "type": "nominal", "title": "model input", "sort": features}
    spec = {
        "data": {"values": cells},
        "width": max(160, 110 * len(attributes)),
        "height": {"step": 26},
        "encoding": {"x": {**x, "axis": {"orient": "top", "labelAngle": 0}}, "y": y},
        "layer": [
            {
                "mark": {"type": "rect"},
                "encoding": {
                    "color": {
                        "field": "association",
                        "type": "quantitative",
                        "title": "association",
                        "scale": {"domain": [0, 1], "scheme": "blues"},
                    }
                },
            },
            {
                "transform": [{"filter": {"field": "flagged", "equal": True}}],
                "mark": {"type": "rect", "filled": False, "stroke": VERDICT_COLOURS[FAIL], "strokeWidth": 3},
            },
            # Light text on dark cells, dark text elsewhere: two layers filtered by field predicates (no expression).
            {
                "transform": [{"filter": {"field": "association", "gte": DARK_CELL}}],
                "mark": {"type": "text", "fontSize": 12, "color": "#ffffff"},
                "encoding": {"text": {"field": "text"}},
            },
            {
                "transform": [{"filter": {"not": {"field": "association", "gte": DARK_CELL}}}],
                "mark": {"type": "text", "fontSize": 12, "color": "#1c2b3d"},
                "encoding": {"text": {"field": "text"}},
            },
        ],
    }
    return [
        titled_chart(
            "chart-proxy-heatmap",
            "Association of each model input with each protected attribute",
            spec,
            "Darker: stronger association (0 to 1). Framed in red and marked ⚑: flagged as a proxy.",
        )
    ]


def _segment_verdict(metrics: Mapping[str, Any], status: Any, minimum: float | None) -> str:
    if status == "insufficient_data":
        return INSUFFICIENT
    auc = finite_number(metrics.get("auc"))
    if minimum is None:
        return "measured"
    if auc is None:
        return INSUFFICIENT
    return PASS if auc >= minimum else FAIL


def validation_charts(results: Mapping[str, Any], thresholds: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Performance per segment with the segment AUC threshold; the calibration plot; the cost curve."""
    charts = []
    segments = results.get("segments") or {}
    minimum = finite_number(thresholds.get("segment_auc_min"))
    rows = []
    for group in segments.get("groups") or []:
        metrics = group.get("metrics") or {}
        verdict = _segment_verdict(metrics, group.get("status"), minimum)
        for name, heading in SEGMENT_METRIC_NAMES.items():
            value = finite_number(metrics.get(name))
            rows.append(
                {
                    "label": str(group.get("segment")),
                    "facet": heading,
                    "value": value,
                    "low": None,
                    "high": None,
                    # Only the AUC is judged per segment; the other panels show the segment's verdict too.
                    "verdict": verdict if value is not None or verdict == INSUFFICIENT else INSUFFICIENT,
                }
            )
    if rows:
        rules = [{"facet": SEGMENT_METRIC_NAMES["auc"], "value": minimum}] if minimum is not None else []
        spec = facet_bars(
            rows, rules, facets=list(SEGMENT_METRIC_NAMES.values()), axis_title="", domain=(0, 1), columns=2
        )
        if minimum is None:
            colour = spec["spec"]["layer"][0]["encoding"]["color"]
            colour["scale"] = {
                "domain": ["measured", INSUFFICIENT],
                "range": ["#0b57a4", VERDICT_COLOURS[INSUFFICIENT]],
            }
        charts.append(
            titled_chart(
                "chart-segments",
                f"AUC, precision, recall and accuracy per {segments.get('column') or 'segment'}",
                spec,
                "Bars coloured by the segment's AUC verdict; dashed line: the policy's minimum segment AUC.",
            )
        )
    bins = [
        {
            "mean_score": finite_number(entry.get("mean_score")),
            "observed_rate": finite_number(entry.get("observed_rate")),
            "count": entry.get("count"),
        }
        for entry in results.get("calibration") or []
        if finite_number(entry.get("mean_score")) is not None
    ]
    if bins:
        unit = {"type": "quantitative", "scale": {"domain": [0, 1]}}
        spec = {
            "width": 320,
            "height": 320,
            "layer": [
                {
                    "data": {"values": [{"score": 0, "rate": 0}, {"score": 1, "rate": 1}]},
                    "mark": {"type": "line", "color": "#8a93a0", "strokeDash": [4, 4]},
                    "encoding": {"x": {"field": "score", **unit}, "y": {"field": "rate", **unit}},
                },
                {
                    "data": {"values": bins},
                    "mark": {"type": "line", "point": {"filled": True, "size": 50}, "color": "#0b57a4"},
                    "encoding": {
                        "x": {"field": "mean_score", "title": "mean predicted score", **unit},
                        "y": {"field": "observed_rate", "title": "observed positive rate", **unit},
                    },
                },
            ],
        }
        charts.append(
            titled_chart(
                "chart-calibration",
                "Observed rate against mean score, per score bin",
                spec,
                "Each point: a score bin, its mean score against the rate observed; dashed: perfect calibration.",
            )
        )
    cost = results.get("cost") or {}
    curve = [
        {"threshold": finite_number(point.get("threshold")), "expected_cost": finite_number(point.get("expected_cost"))}
        for point in cost.get("curve") or []
    ]
    curve = [point for point in curve if point["threshold"] is not None and point["expected_cost"] is not None]
    if curve:
        marks = []
        chosen = finite_number(results.get("threshold"))
        if chosen is not None:
            marks.append(
                {"threshold": chosen, "expected_cost": finite_number(cost.get("cost_at_threshold")), "what": "chosen"}
            )
        best = finite_number(cost.get("best_threshold"))
        if best is not None:
            marks.append({"threshold": best, "expected_cost": finite_number(cost.get("best_cost")), "what": "minimum"})
        what = {
            "field": "what",
            "type": "nominal",
            "title": "Threshold",
            "scale": {"domain": ["chosen", "minimum"], "range": ["#7a4a00", "#17663a"]},
        }
        x = {"field": "threshold", "type": "quantitative", "title": "score threshold", "scale": {"domain": [0, 1]}}
        spec = {
            "width": 420,
            "height": 260,
            "layer": [
                {
                    "data": {"values": curve},
                    "mark": {"type": "line", "color": "#0b57a4"},
                    "encoding": {"x": x, "y": {"field": "expected_cost", "type": "quantitative", "title": "cost"}},
                },
                {
                    "data": {"values": marks},
                    "mark": {"type": "rule", "strokeDash": [5, 3], "strokeWidth": 2},
                    "encoding": {"x": x, "color": what},
                },
                {
                    "data": {"values": [mark for mark in marks if mark["expected_cost"] is not None]},
                    "mark": {"type": "point", "filled": True, "size": 90},
                    "encoding": {
                        "x": x,
                        "y": {"field": "expected_cost", "type": "quantitative"},
                        "color": what,
                    },
                },
            ],
        }
        charts.append(
            titled_chart(
                "chart-cost",
                "Expected cost by threshold",
                spec,
                "Line: the expected cost at each threshold; dashed lines: the chosen threshold and the minimum.",
            )
        )
    return charts
