"""Proxy detection (docs/audits.md, "Proxy detection"): how strongly each model feature is associated with each
protected or prohibited attribute, and how well the feature alone predicts it. A function of data: Spark in,
a results dict out; no Django.

Every figure derives from a contingency table per (feature, attribute) pair, and Spark counts all of them in one
pass over the data. Each column is coded as a small integer: a numeric column by the quantile bin it falls in, any
other by its value among its ``max_categories`` most frequent (the rest "(other)"); the splits and the values are
found on a random sample of about ENCODING_ROWS rows (the bins need only be about equally full; the counts are
exact for the bins chosen). Then each partition codes its rows in numpy (``mapInPandas``), packs each (feature,
feature code, attribute codes) cell into one integer and counts them with ``np.bincount``, and one ``groupBy``
adds the partitions' counts. When that table of cells would be too large for a partition's memory (CELL_LIMIT),
the same cells are exploded and counted by Spark itself; when the attributes together have too many groups to be
counted jointly (JOINT_LIMIT), each (feature, attribute) pair is stacked on its own. The three give the same counts.

From each table: Cramér's V (uncorrected, scipy's ``association``), the normalised mutual information (arithmetic
mean of the entropies, as scikit-learn's ``normalized_mutual_info_score``), and the AUC of the small model
"P(attribute value | feature bin)" (in-sample, one-vs-rest per attribute value, averaged by prevalence;
scikit-learn's ``roc_auc_score`` on the weighted cells), plus Spearman's rank correlation when the feature is
numeric and the attribute is numeric or has two groups. A null feature value is its own bin "(missing)" (the model
sees it, and missingness can itself be a proxy); a row whose attribute is null is left out of that attribute's
tables (it says nothing about the attribute), and counted in ``missing``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from audits.pipelines import AuditError

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import Column, DataFrame

MISSING = "(missing)"
OTHER = "(other)"
MISSING_CODE = -1
# The most groups the attributes may have together for their codes to be counted jointly (one row per feature);
# beyond it each (feature, attribute) pair is its own stacked row.
JOINT_LIMIT = 20_000
# The rows the bins and the most frequent values are found on (a random sample of larger datasets).
ENCODING_ROWS = 100_000
# The most cells a partition counts in numpy (an int64 array of this many: 32 MB).
CELL_LIMIT = 4_000_000

THRESHOLD_NAMES = ("association_max", "nmi_max", "auc_max")


@dataclass(frozen=True)
class ProxyParams:
    """What to audit (audits.proxy cleans it): the model's ``features`` against the ``attributes``, numeric columns
    in ``bins`` quantile bins, others by their ``max_categories`` most frequent values, on about ``sample_rows``
    random rows (every row when None), seeded by ``seed``."""

    features: tuple[str, ...]
    attributes: tuple[str, ...]
    bins: int = 10
    max_categories: int = 20
    sample_rows: int | None = None
    seed: int = 0


@dataclass(frozen=True)
class Encoding:
    """How one column is coded: ``numeric`` by the quantile bin (``splits`` between them), else ``categorical`` by
    its value among ``values`` (the rest are "(other)"). Code -1 is a null."""

    name: str
    type: str
    splits: tuple[float, ...] = ()
    values: tuple[str, ...] = ()

    @property
    def size(self) -> int:
        return len(self.splits) + 1 if self.type == "numeric" else len(self.values) + 1

    def labels(self) -> list[str]:
        """The label of each code from 0 (code -1 is MISSING)."""
        if self.type != "numeric":
            return [*self.values, OTHER]
        if not self.splits:
            return ["all values"]
        edges = [f"{s:.6g}" for s in self.splits]
        return [f"< {edges[0]}", *(f"[{a}, {b})" for a, b in itertools.pairwise(edges)), f">= {edges[-1]}"]

    def code(self) -> Column:
        from pyspark.sql import functions as F

        column = F.col(f"`{self.name}`")
        if self.type == "numeric":
            if not self.splits:
                return F.when(column.isNull(), F.lit(MISSING_CODE)).otherwise(F.lit(0))
            # A CASE chain stops at the first split above the value (cheaper than comparing with every split).
            code = F.when(column.isNull(), F.lit(MISSING_CODE))
            for i, split in enumerate(self.splits):
                code = code.when(column < F.lit(split), F.lit(i))
            return code.otherwise(F.lit(len(self.splits)))
        lookup = F.create_map(*(item for i, v in enumerate(self.values) for item in (F.lit(v), F.lit(i))))
        known = F.element_at(lookup, column.cast("string")) if self.values else F.lit(None)
        return F.when(column.isNull(), F.lit(MISSING_CODE)).otherwise(F.coalesce(known, F.lit(len(self.values))))


def is_numeric(frame: DataFrame, name: str) -> bool:
    from pyspark.sql.types import BooleanType, NumericType

    data_type = frame.schema[name].dataType
    return isinstance(data_type, NumericType) and not isinstance(data_type, BooleanType)


def prepare(frame: DataFrame, params: ProxyParams, rows: int) -> DataFrame:
    """The columns the audit reads, NaN as null, sampled down to about ``sample_rows`` when asked."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import DoubleType, FloatType

    columns = list(dict.fromkeys([*params.features, *params.attributes]))
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise AuditError(f"The dataset lacks the column(s) {', '.join(missing)}.")
    selected = []
    for name in columns:
        column = F.col(f"`{name}`")
        if isinstance(frame.schema[name].dataType, DoubleType | FloatType):
            column = F.when(F.isnan(column), F.lit(None)).otherwise(column)
        selected.append(column.alias(name))
    prepared = frame.select(*selected)
    if params.sample_rows is not None and rows > params.sample_rows:
        prepared = prepared.sample(withReplacement=False, fraction=params.sample_rows / rows, seed=params.seed)
    return prepared


def encodings(frame: DataFrame, params: ProxyParams, rows: int) -> dict[str, Encoding]:
    """Each column's coding, found on a random sample of about ENCODING_ROWS of the ``rows`` brought to the driver:
    a numeric column's quantiles, another column's most frequent values. The bins only need to be about equally
    full; the tables are then counted on every row, so the figures are exact for the bins chosen."""
    from pyspark.sql import functions as F

    if rows > ENCODING_ROWS:
        frame = frame.sample(withReplacement=False, fraction=ENCODING_ROWS / rows, seed=params.seed)
    columns = list(dict.fromkeys([*params.features, *params.attributes]))
    numeric = {c for c in columns if is_numeric(frame, c)}
    # Spark's own text of a value (booleans as "true"), as Encoding.code and the counting compare it.
    sample: Any = frame.select(
        *(F.col(f"`{c}`") if c in numeric else F.col(f"`{c}`").cast("string").alias(c) for c in columns)
    ).toPandas()
    probabilities = [i / params.bins for i in range(1, params.bins)]
    found: dict[str, Encoding] = {}
    for name in columns:
        values = sample[name].dropna()
        if name in numeric:
            quantiles = np.quantile(values.to_numpy(dtype=np.float64), probabilities) if len(values) else []
            splits = sorted({float(v) for v in quantiles if math.isfinite(v)})
            found[name] = Encoding(name, "numeric", splits=tuple(splits))
        else:
            counts = values.astype(str).value_counts()
            ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[: params.max_categories]
            found[name] = Encoding(name, "categorical", values=tuple(str(value) for value, _ in ranked))
    return found


def unpack(counted: pd.DataFrame, feature_span: int, spans: list[int]) -> pd.DataFrame:
    """The packed cells' counts as rows (feature, attribute, feature code, attribute code, count), per attribute."""
    import pandas as pd

    joint = math.prod(spans)
    key = counted["_key"].to_numpy(dtype=np.int64)
    cell, attribute_codes = np.divmod(key, joint)
    feature, feature_code = np.divmod(cell, feature_span)
    parts = []
    stride = joint
    for j, span in enumerate(spans):
        stride //= span
        part = pd.DataFrame(
            {
                "feature": feature,
                "attribute": j,
                "feature_code": feature_code - 1,
                "attribute_code": (attribute_codes // stride) % span - 1,
                "count": counted["count"].to_numpy(dtype=np.int64),
            }
        )
        parts.append(part.groupby(["feature", "attribute", "feature_code", "attribute_code"], as_index=False).sum())
    return pd.concat(parts, ignore_index=True)


def codes_of(values: pd.Series, coding: Encoding) -> np.ndarray:
    """``Encoding.code`` in numpy, for a batch of one column (nulls as NaN or None): the same codes."""
    missing = values.isna().to_numpy()
    if coding.type == "numeric":
        numbers = values.to_numpy(dtype=np.float64, na_value=np.nan)
        codes = np.searchsorted(np.asarray(coding.splits, dtype=np.float64), numbers, side="right")
    else:
        lookup = {value: i for i, value in enumerate(coding.values)}
        codes = values.map(lookup).fillna(len(coding.values)).to_numpy(dtype=np.int64)
    return np.where(missing, MISSING_CODE, codes).astype(np.int64)


def cell_counter(codings: Mapping[str, Encoding], params: ProxyParams, feature_span: int, spans: list[int]) -> Any:
    """The function mapInPandas runs on each partition: every batch's cells packed in one integer (feature, feature
    code, the attributes' codes) and counted with ``np.bincount``; one small frame of (key, count) per partition."""
    features, attributes = params.features, params.attributes
    joint = math.prod(spans)
    size = len(features) * feature_span * joint

    def count(batches: Any) -> Any:
        import pandas as pd

        totals = np.zeros(size, dtype=np.int64)
        for batch in batches:
            attribute_key = np.zeros(len(batch), dtype=np.int64)
            for name, span in zip(attributes, spans, strict=True):
                attribute_key = attribute_key * span + codes_of(batch[name], codings[name]) + 1
            keys = [
                (i * feature_span + codes_of(batch[name], codings[name]) + 1) * joint + attribute_key
                for i, name in enumerate(features)
            ]
            totals += np.bincount(np.concatenate(keys), minlength=size)
        found = np.flatnonzero(totals)
        yield pd.DataFrame({"_key": found.astype(np.int64), "count": totals[found]})

    return count


def contingency_counts(frame: DataFrame, codings: Mapping[str, Encoding], params: ProxyParams) -> pd.DataFrame:
    """Rows (feature, attribute, feature code, attribute code, count) for every pair, counted in one pass (numpy per
    partition; else Spark's explode of the packed cells; else one stacked row per pair: the module's docstring)."""
    from pyspark.sql import functions as F

    features, attributes = params.features, params.attributes
    coded = frame.select(
        *(codings[f].code().alias(f"f{i}") for i, f in enumerate(features)),
        *(codings[a].code().alias(f"a{j}") for j, a in enumerate(attributes)),
    )
    spans = [codings[a].size + 1 for a in attributes]  # each attribute's codes from -1, shifted to start at 0
    joint = math.prod(spans)
    feature_span = max(codings[f].size for f in features) + 1
    if len(features) * feature_span * joint <= CELL_LIMIT:
        from pyspark.sql.types import LongType, StructField, StructType

        columns = list(dict.fromkeys([*features, *attributes]))
        typed = frame.select(
            *(
                F.col(f"`{c}`") if codings[c].type == "numeric" else F.col(f"`{c}`").cast("string").alias(c)
                for c in columns
            )
        )
        schema = StructType([StructField("_key", LongType()), StructField("count", LongType())])
        counted_cells: Any = (
            typed.mapInPandas(cell_counter(codings, params, feature_span, spans), schema)
            .groupBy("_key")
            .agg(F.sum("count").alias("count"))
            .toPandas()
        )
        return unpack(counted_cells, feature_span, spans)
    if joint <= JOINT_LIMIT:
        # One row per (row, feature), its cell packed in one integer: feature, feature code and the attributes' codes
        # together (one exploded column and a one-column key: the cheapest shape for Spark to count).
        attribute_key: Column = F.lit(0).cast("long")
        for j, span in enumerate(spans):
            attribute_key = attribute_key * F.lit(span) + (F.col(f"a{j}") + F.lit(1))
        keys = [
            ((F.lit(i * feature_span) + F.col(f"f{i}") + F.lit(1)) * F.lit(joint) + F.col("_attributes")).cast("long")
            for i in range(len(features))
        ]
        packed = coded.select(*(f"f{i}" for i in range(len(features))), attribute_key.alias("_attributes"))
        counted: Any = packed.select(F.explode(F.array(*keys)).alias("_key")).groupBy("_key").count().toPandas()
        return unpack(counted, feature_span, spans)
    # One row per (row, feature, attribute).
    pairs = ", ".join(f"{i}, {j}, f{i}, a{j}" for i in range(len(features)) for j in range(len(attributes)))
    stacked = coded.select(
        F.expr(
            f"stack({len(features) * len(attributes)}, {pairs}) AS (feature, attribute, feature_code, attribute_code)"
        )
    )
    paired: Any = stacked.groupBy("feature", "attribute", "feature_code", "attribute_code").count().toPandas()
    return paired


# --- Figures from one contingency table --------------------------------------------------------------------------


def cramers_v(table: np.ndarray) -> float:
    """Cramér's V of a table without empty rows or columns (uncorrected, scipy)."""
    from scipy.stats.contingency import association  # type: ignore[import-untyped]

    if min(table.shape) < 2:
        return 0.0
    return float(association(table, method="cramer"))


def normalized_mutual_information(table: np.ndarray) -> float:
    """I(X;Y) / mean(H(X), H(Y)): scikit-learn's normalized_mutual_info_score (arithmetic) from the counts."""
    from sklearn.metrics import mutual_info_score

    def entropy(counts: np.ndarray) -> float:
        p = counts[counts > 0] / counts.sum()
        return float(-(p * np.log(p)).sum())

    h_rows, h_columns = entropy(table.sum(axis=1)), entropy(table.sum(axis=0))
    if h_rows == 0 and h_columns == 0:
        return 1.0
    if h_rows == 0 or h_columns == 0:
        return 0.0
    mi = float(mutual_info_score(None, None, contingency=table.astype(np.int64)))
    return min(1.0, max(0.0, mi / ((h_rows + h_columns) / 2)))


def small_model_auc(table: np.ndarray) -> float:
    """The AUC of scoring each row by P(attribute value | its feature bin), one-vs-rest for each attribute value,
    averaged by the values' prevalence (for two values both AUCs are the same). In-sample: the bins' frequencies
    are learnt and judged on the same rows."""
    from sklearn.metrics import roc_auc_score

    bins, groups = table.shape
    conditional = table.astype(np.float64) / table.sum(axis=1, keepdims=True)
    weights = table.reshape(-1).astype(np.float64)
    prevalence = table.sum(axis=0) / table.sum()
    auc = 0.0
    for g in range(groups):
        truth = np.tile(np.arange(groups) == g, bins)
        scores = np.repeat(conditional[:, g], groups)
        keep = weights > 0
        auc += prevalence[g] * float(roc_auc_score(truth[keep], scores[keep], sample_weight=weights[keep]))
    return float(auc)


def spearman(table: np.ndarray) -> float | None:
    """Spearman's rank correlation of the ordered feature bins (rows) and the ordered attribute codes (columns),
    ties given their mean rank: Pearson's correlation of the two midranks weighted by the counts."""
    n = table.sum()

    def midranks(counts: np.ndarray) -> np.ndarray:
        below = np.cumsum(counts) - counts
        return below + (counts + 1) / 2

    ranks_rows, ranks_columns = midranks(table.sum(axis=1)), midranks(table.sum(axis=0))
    mean = (float(n) + 1) / 2
    x, y = ranks_rows - mean, ranks_columns - mean
    covariance = float((table * np.outer(x, y)).sum())
    spread = math.sqrt(float((table.sum(axis=1) * x**2).sum()) * float((table.sum(axis=0) * y**2).sum()))
    return covariance / spread if spread > 0 else None


# --- The report -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Thresholds:
    association_max: float = 0.3
    nmi_max: float = 0.1
    auc_max: float = 0.7

    @classmethod
    def of(cls, values: Mapping[str, float]) -> Thresholds:
        return cls(**{name: float(values[name]) for name in THRESHOLD_NAMES if name in values})


def reasons(pair: Mapping[str, Any], thresholds: Thresholds) -> list[str]:
    """Why a pair is a proxy under ``thresholds`` (empty when it is not): each figure above its threshold, and a
    direct use. Also what audits.proxy's judge applies to a stored report."""
    found = []
    if pair.get("direct"):
        found.append(f"the model reads {pair['attribute']} itself: a direct use, not a proxy")
    for figure, name, limit in (
        ("association", "Cramér's V", thresholds.association_max),
        ("nmi", "normalised mutual information", thresholds.nmi_max),
        ("auc", "AUC of predicting the attribute from the feature", thresholds.auc_max),
    ):
        value = pair.get(figure)
        if value is not None and value > limit:
            found.append(f"{name} {value:.3f} > {limit:g}")
    return found


def table_of(counts: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """The contingency table of one pair (feature codes by attribute codes, both sorted, a null attribute left out,
    empty rows and columns dropped) and how many rows had a null attribute."""
    missing = int(counts.loc[counts["attribute_code"] == MISSING_CODE, "count"].sum())
    known = counts[counts["attribute_code"] != MISSING_CODE]
    table = known.pivot_table(index="feature_code", columns="attribute_code", values="count", aggfunc="sum")
    table = table.fillna(0).astype(np.int64)
    table = table.loc[table.sum(axis=1) > 0, table.sum(axis=0) > 0]
    return table, missing


def pair_figures(table: pd.DataFrame, *, ordinal: bool, attribute_labels: list[str] | None) -> dict[str, Any]:
    """The figures of one table. Spearman's correlation (``ordinal``) leaves the "(missing)" feature bin out and
    orders the attribute's groups by code when it is numeric (``attribute_labels`` None), by label when it has two
    groups (its sign then says which group the higher values go with: the later label)."""
    counts = table.to_numpy()
    rank_correlation = None
    if ordinal:
        ordered = table.loc[table.index >= 0]
        if attribute_labels is not None:
            ordered = ordered[sorted(ordered.columns, key=lambda code: attribute_labels[int(code)])]
        rank_correlation = spearman(ordered.to_numpy()) if ordered.size else None
    return {
        "association": cramers_v(counts),
        "nmi": normalized_mutual_information(counts),
        "auc": small_model_auc(counts),
        "spearman": rank_correlation,
    }


def proxy_report(
    counts: pd.DataFrame,
    codings: Mapping[str, Encoding],
    params: ProxyParams,
    thresholds: Thresholds,
    *,
    rows: int,
) -> dict[str, Any]:
    """The results of a proxy audit from the counted tables (the shape in docs/audits.md), judged by
    ``thresholds``, without ``checks`` and ``verdict`` (``verdict`` below gives the check)."""
    pairs, flagged, details = [], [], []
    sampled = int(counts.loc[(counts["attribute"] == 0) & (counts["feature"] == 0), "count"].sum())
    for j, attribute in enumerate(params.attributes):
        of_attribute = counts[counts["attribute"] == j]
        first = of_attribute[of_attribute["feature"] == 0]
        sizes = first[first["attribute_code"] != MISSING_CODE].groupby("attribute_code")["count"].sum()
        groups = int((sizes > 0).sum())
        coding = codings[attribute]
        labels = coding.labels()
        details.append(
            {
                "name": attribute,
                "type": coding.type,
                "groups": {labels[int(code)]: int(size) for code, size in sizes.items() if size > 0},
                "missing": int(first.loc[first["attribute_code"] == MISSING_CODE, "count"].sum()),
                "sufficient": groups >= 2,
            }
        )
        for i, feature in enumerate(params.features):
            feature_coding = codings[feature]
            ordinal = feature_coding.type == "numeric" and (coding.type == "numeric" or groups == 2)
            pair: dict[str, Any] = {
                "feature": feature,
                "attribute": attribute,
                "feature_type": feature_coding.type,
                "attribute_type": coding.type,
                "measure": "cramers_v",
                "direct": feature == attribute,
            }
            table, missing = table_of(of_attribute[of_attribute["feature"] == i])
            if groups < 2 or table.shape[0] == 0:
                pair.update(association=None, nmi=None, auc=None, spearman=None, bins=int(table.shape[0]))
                why = reasons(pair, thresholds)
                pair.update(flagged=bool(why), reasons=[*why, f"{attribute} has fewer than 2 groups with data"])
            else:
                pair.update(
                    pair_figures(table, ordinal=ordinal, attribute_labels=None if coding.type == "numeric" else labels),
                    bins=int(table.shape[0]),
                )
                pair["reasons"] = reasons(pair, thresholds)
                pair["flagged"] = bool(pair["reasons"])
            pair["missing_attribute"] = missing
            pairs.append(pair)
            if pair["flagged"]:
                flagged.append({"feature": feature, "attribute": attribute})
    return {
        "rows": rows,
        "sample_rows": sampled,
        "features": list(params.features),
        "attributes": list(params.attributes),
        "attribute_details": details,
        "bins": params.bins,
        "max_categories": params.max_categories,
        "pairs": pairs,
        "flagged": flagged,
        "thresholds": {name: getattr(thresholds, name) for name in THRESHOLD_NAMES},
    }


def detect_proxies(frame: DataFrame, params: ProxyParams, thresholds: Thresholds) -> dict[str, Any]:
    """The proxy audit of ``frame`` (docs/audits.md): code the columns, count the tables in one pass, figure."""
    if not params.features:
        raise AuditError("The model reads no column of the dataset.")
    if not params.attributes:
        raise AuditError("No attribute to look for proxies of.")
    rows = frame.count()
    if rows == 0:
        raise AuditError("The dataset version holds no rows.")
    prepared = prepare(frame, params, rows)
    codings = encodings(prepared, params, min(rows, params.sample_rows or rows))  # about the rows prepared holds
    counts = contingency_counts(prepared, codings, params)
    return proxy_report(counts, codings, params, thresholds, rows=rows)


def verdict(results: Mapping[str, Any], thresholds: Thresholds, justified: set[tuple[str, str]]) -> str:
    """The "proxies" check of a report's figures under ``thresholds``: failed when a pair is a proxy (``reasons``)
    that no justification covers; else insufficient data when an attribute had fewer than two groups with data
    (or there was no pair at all); else passed."""
    pairs = results.get("pairs", [])
    for pair in pairs:
        if reasons(pair, thresholds) and (pair["feature"], pair["attribute"]) not in justified:
            return "fail"
    if not pairs or any(not detail.get("sufficient") for detail in results.get("attribute_details", [])):
        return "insufficient_data"
    return "pass"
