"""Proxy detection on Spark (audits.pipelines.proxy, the session-wide ``spark`` fixture): a planted proxy is
flagged, an independent feature is not, and every figure agrees with an independent computation on the same
binned rows (scikit-learn, scipy, pandas). Slow: few tests."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy.stats import chi2_contingency, spearmanr  # type: ignore[import-untyped]
from sklearn.metrics import normalized_mutual_info_score, roc_auc_score

from audits.pipelines import AuditError
from audits.pipelines import proxy as pipeline
from audits.pipelines.proxy import ProxyParams, Thresholds, detect_proxies, verdict

N = 6000


def applications(n: int = N, seed: int = 4) -> pd.DataFrame:
    """Credit applications: ``spend`` is sex plus noise (a planted proxy of sex), ``district`` follows the age band
    four times in five (a proxy of a three-group attribute), ``noise`` and ``region`` are independent of both."""
    rng = np.random.default_rng(seed)
    sex = rng.choice(np.array(["f", "m"], dtype=object), n)
    age_band = rng.choice(np.array(["<30", "30-60", ">60"], dtype=object), n)
    district = np.where(rng.random(n) < 0.8, "d" + age_band, rng.choice(["d<30", "d30-60", "d>60"], n))
    frame = pd.DataFrame(
        {
            "spend": np.where(sex == "m", 1.0, 0.0) + rng.normal(0, 0.6, n),
            "noise": rng.normal(0, 1, n),
            "region": rng.choice(["north", "south", "east"], n),
            "district": district,
            "sex": sex,
            "age_band": age_band,
        }
    )
    frame.loc[rng.random(n) < 0.02, "sex"] = None  # some applicants did not say
    frame.loc[rng.random(n) < 0.01, "spend"] = np.nan  # and some spend is unknown
    return frame


PARAMS = ProxyParams(features=("spend", "noise", "region", "district", "sex"), attributes=("sex", "age_band"))


def pair(results: dict[str, Any], feature: str, attribute: str) -> dict[str, Any]:
    return next(p for p in results["pairs"] if p["feature"] == feature and p["attribute"] == attribute)


def binned(rows: pd.DataFrame, name: str, coding: pipeline.Encoding) -> np.ndarray:
    """The feature's code per row, computed here with numpy/pandas from the splits (an independent binning)."""
    values = rows[name]
    if coding.type == "numeric":
        codes = np.searchsorted(np.array(coding.splits), values.to_numpy(), side="right")
        return np.where(values.isna(), -1, codes)
    known = {v: i for i, v in enumerate(coding.values)}
    return np.array([-1 if pd.isna(v) else known.get(str(v), len(coding.values)) for v in values])


def test_a_planted_proxy_is_flagged_and_the_figures_agree_with_sklearn_and_scipy(spark: Any) -> None:
    # GIVEN applications where spend is built from sex plus noise, district from the age band, in four partitions
    rows = applications()
    frame = spark.createDataFrame(rows).repartition(4)
    # WHEN the proxy audit runs on Spark
    results = detect_proxies(frame, PARAMS, Thresholds())
    # THEN the planted proxies are flagged with the evidence, the independent features are not
    assert {(f["feature"], f["attribute"]) for f in results["flagged"]} == {
        ("spend", "sex"),
        ("district", "age_band"),
        ("sex", "sex"),
    }
    spend = pair(results, "spend", "sex")
    assert spend["flagged"]
    assert any(r.startswith("Cramér's V") for r in spend["reasons"])
    assert spend["auc"] > 0.85
    assert spend["measure"] == "cramers_v"
    assert spend["feature_type"] == "numeric"
    for feature in ("noise", "region"):
        for attribute in ("sex", "age_band"):
            independent = pair(results, feature, attribute)
            assert not independent["flagged"], independent
            assert independent["association"] < 0.1
            assert independent["auc"] < 0.56
    # AND the model reading sex itself is flagged as a direct use, not a proxy
    direct = pair(results, "sex", "sex")
    assert direct["direct"]
    assert direct["reasons"][0].endswith("a direct use, not a proxy")
    # AND the rows whose sex is null are left out of sex's tables and counted
    assert spend["missing_attribute"] == int(rows["sex"].isna().sum()) == results["attribute_details"][0]["missing"]
    assert results["rows"] == results["sample_rows"] == N
    # AND every figure is what scikit-learn and scipy give on the same binned rows
    codings = pipeline.encodings(pipeline.prepare(frame, PARAMS, N), PARAMS, N)
    for feature in PARAMS.features:
        codes = binned(rows, feature, codings[feature])
        for attribute in PARAMS.attributes:
            known = rows[attribute].notna().to_numpy()
            x, y = codes[known], rows[attribute][known].astype(str).to_numpy()
            figures = pair(results, feature, attribute)
            table = pd.crosstab(x, y).to_numpy()
            chi2 = chi2_contingency(table, correction=False)[0]
            assert figures["association"] == pytest.approx(np.sqrt(chi2 / (len(x) * (min(table.shape) - 1))))
            assert figures["nmi"] == pytest.approx(normalized_mutual_info_score(y, x), abs=1e-12)
            # the small model: P(attribute value | bin), per row
            onehot = pd.get_dummies(pd.Series(y)).astype(float)
            probabilities = onehot.groupby(x).transform("mean").to_numpy()
            if onehot.shape[1] == 2:
                expected_auc = roc_auc_score(y == onehot.columns[1], probabilities[:, 1])
            else:
                expected_auc = roc_auc_score(
                    y, probabilities, multi_class="ovr", average="weighted", labels=list(onehot.columns)
                )
            assert figures["auc"] == pytest.approx(expected_auc, abs=1e-12)
            if figures["spearman"] is not None:
                present = x >= 0
                order = {value: i for i, value in enumerate(sorted(set(y)))}
                expected = spearmanr(x[present], [order[v] for v in y[present]]).statistic
                assert figures["spearman"] == pytest.approx(expected, abs=1e-12)
    assert pair(results, "spend", "sex")["spearman"] is not None  # numeric feature, two groups
    assert pair(results, "spend", "age_band")["spearman"] is None  # three unordered groups


def test_the_three_ways_of_counting_give_the_same_figures(spark: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN the same rows, counted in numpy per partition (the default)
    frame = spark.createDataFrame(applications(2000, seed=9)).repartition(3)
    in_numpy = detect_proxies(frame, PARAMS, Thresholds())
    # WHEN the cells are too many for numpy (exploded and counted by Spark), or the attributes' groups too many to
    # count jointly (one stacked row per pair)
    monkeypatch.setattr(pipeline, "CELL_LIMIT", 0)
    by_spark = detect_proxies(frame, PARAMS, Thresholds())
    monkeypatch.setattr(pipeline, "JOINT_LIMIT", 0)
    apart = detect_proxies(frame, PARAMS, Thresholds())
    # THEN the figures are the same
    assert by_spark["pairs"] == in_numpy["pairs"]
    assert apart["pairs"] == in_numpy["pairs"]


def test_categories_are_capped_booleans_read_as_spark_writes_them_and_sampling_is_bounded(spark: Any) -> None:
    rows = applications(4000, seed=2).assign(owns_home=lambda f: np.arange(len(f)) % 2 == 0)
    frame = spark.createDataFrame(rows)
    params = ProxyParams(
        features=("region", "spend", "owns_home"), attributes=("age_band",), max_categories=2, sample_rows=1000
    )
    results = detect_proxies(frame, params, Thresholds())
    codings = pipeline.encodings(pipeline.prepare(frame, params, 4000), params, 4000)
    # the three regions count as the two most frequent and "(other)"
    assert len(codings["region"].values) == 2
    assert codings["region"].labels()[-1] == "(other)"
    assert pair(results, "region", "age_band")["bins"] == 3
    # a boolean is two values, none of them "(other)"
    assert sorted(codings["owns_home"].values) == ["false", "true"]
    assert pair(results, "owns_home", "age_band")["bins"] == 2
    # about 1000 of the 4000 rows were read
    assert results["rows"] == 4000
    assert 800 < results["sample_rows"] < 1200


def test_an_attribute_with_one_group_is_insufficient_data_never_a_pass(spark: Any) -> None:
    rows = applications(500).assign(sex="f")
    results = detect_proxies(spark.createDataFrame(rows), PARAMS, Thresholds())
    sex = pair(results, "noise", "sex")
    assert sex["association"] is None
    assert sex["reasons"] == ["sex has fewer than 2 groups with data"]
    assert not results["attribute_details"][0]["sufficient"]
    # with no proxy of the age band, the check is insufficient data; a proxy still fails it
    clean = {**results, "pairs": [p for p in results["pairs"] if p["feature"] in ("noise", "region")]}
    assert verdict(clean, Thresholds(), set()) == "insufficient_data"
    assert verdict(results, Thresholds(), set()) == "fail"


def test_the_verdict_counts_justified_pairs_and_follows_the_thresholds() -> None:
    results = {
        "pairs": [
            {"feature": "spend", "attribute": "sex", "association": 0.4, "nmi": 0.05, "auc": 0.6},
            {"feature": "noise", "attribute": "sex", "association": 0.02, "nmi": 0.0, "auc": 0.51},
        ],
        "attribute_details": [{"name": "sex", "sufficient": True}],
    }
    assert verdict(results, Thresholds(), set()) == "fail"
    assert verdict(results, Thresholds(), {("spend", "sex")}) == "pass"
    assert verdict(results, Thresholds(association_max=0.5), set()) == "pass"
    assert verdict(results, Thresholds(association_max=0.5, auc_max=0.55), set()) == "fail"


def test_columns_missing_from_the_data_are_refused(spark: Any) -> None:
    frame = spark.createDataFrame(applications(100))
    with pytest.raises(AuditError, match="lacks the column"):
        detect_proxies(frame, ProxyParams(features=("spend",), attributes=("ethnicity",)), Thresholds())
