"""The registry's demo: a synthetic loan-applications table, its schemas, and a credit scorer trained on it.

Pure functions, no database: ``registry.management.commands.seed_registry_demo`` writes what they produce through
the registry's actions. Everything is seeded, so every run produces the same rows, the same fingerprints and the
same metrics.

The table looks like what a lender holds: identifying data (name, e-mail, date of birth, postcode; the e-mail is the
subject identifier that data-subject requests search by), protected
attributes (sex, age band), special-category data (a disability flag, GDPR art. 9) and a column that must never be a
model input (ethnicity). The default label depends on income, debt ratio and repayment history and, as real
historical outcomes do, on where applicants live: districts differ in their ethnic composition, and the historical
default rate of a district follows it. The postcode is therefore a proxy for ethnicity, and so is the model's one
area-level input, ``district_default_rate`` (the bureau's default rate of the applicant's postal district): no flagged
column is a model input, but this one carries the ethnicity signal of the postcode, which is what the proxy audit of
the demo finds (its schema description says so).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

SEED = 20260101
ROWS = 4000
THRESHOLD = 0.3
TEST_SIZE = 0.25

# The model's inputs, in the order of the ONNX input's columns: none is personal, special-category, protected or
# prohibited (tested against the schema); one, ``district_default_rate``, is a proxy for ethnicity.
FEATURES = (
    "annual_income",
    "debt_to_income",
    "credit_history_months",
    "late_payments_12m",
    "open_credit_lines",
    "requested_limit_increase",
    "district_default_rate",
)
# The proxy among them, and what it stands for.
PROXY = ("district_default_rate", "ethnicity")
LABEL = "defaulted"

_FIRST_NAMES = ("Alex", "Sam", "Maria", "Jonas", "Aoife", "Luca", "Noor", "Elif", "Tomasz", "Ines", "Kofi", "Mei")
_LAST_NAMES = ("Keller", "Novak", "Murphy", "Rossi", "Haddad", "Yilmaz", "Kowalski", "Silva", "Mensah", "Chen")
_AGE_BANDS = ((18, "18-24"), (25, "25-34"), (35, "35-44"), (45, "45-54"), (55, "55-64"), (65, "65+"))
_ETHNICITIES = ("group_a", "group_b", "group_c", "group_d")
_DISTRICTS = 12
# How strongly a district's historical default rate follows its composition (logit per unit of share).
_COMPOSITION_EFFECT = 1.0
_REFERENCE_DATE = np.datetime64("2026-01-01")


def _column(
    name: str,
    type_: str,
    *,
    nullable: bool = False,
    personal: bool = False,
    special: bool = False,
    protected: bool = False,
    prohibited: bool = False,
    subject: bool = False,
    description: str = "",
) -> dict[str, Any]:
    flags = {"subject_identifier": True} if subject else {}
    return {
        "name": name,
        "type": type_,
        "nullable": nullable,
        "personal_data": personal or special,
        "special_category": special,
        "protected_attribute": protected,
        "prohibited_input": prohibited,
        "description": description,
        **flags,
    }


_V1_COLUMNS = (
    _column("application_id", "int64", description="Surrogate key of the application."),
    _column("full_name", "string", personal=True, description="Applicant's name as on the contract."),
    _column(
        "email",
        "string",
        personal=True,
        subject=True,
        description="Contact address; identifies the applicant in data-subject requests.",
    ),
    _column("date_of_birth", "date", personal=True, description="Identifying; the model sees neither it nor age."),
    _column(
        "postcode",
        "string",
        personal=True,
        description=(
            "Postal district. A proxy for ethnicity in this population (districts differ in composition): "
            "excluded from the model's inputs; fairness reviews should test district-level effects."
        ),
    ),
    _column("sex", "string", personal=True, protected=True, description="Self-declared; fairness monitoring only."),
    _column("age_band", "string", personal=True, protected=True, description="Derived from date_of_birth."),
    _column(
        "ethnicity",
        "string",
        nullable=True,
        special=True,
        protected=True,
        prohibited=True,
        description="Collected for equality monitoring only (null when not declared); never a model input.",
    ),
    _column(
        "disability_flag",
        "boolean",
        nullable=True,
        special=True,
        protected=True,
        description="Health data (GDPR art. 9), for reasonable-adjustment handling; not a model input.",
    ),
    _column("annual_income", "float64", description="Declared gross annual income, EUR."),
    _column("debt_to_income", "float64", description="Monthly debt service over monthly income."),
    _column("credit_history_months", "int32", description="Months since the first credit line."),
    _column("late_payments_12m", "int32", description="Payments more than 30 days late in the last 12 months."),
    _column("open_credit_lines", "int32", description="Credit lines open at application time."),
    _column("requested_limit_increase", "float64", description="Requested increase of the card limit, EUR."),
    _column(
        "district_default_rate",
        "float64",
        description=(
            "Share of credit-limit increases that defaulted in the applicant's postal district over the previous "
            "year (credit bureau area statistics; the same for everyone in a district). Derived from the postcode, "
            "and a proxy for ethnicity in this population: districts differ in composition and their historical "
            "default rates follow it. A model input: the proxy audit must look at it."
        ),
    ),
    _column("application_date", "date", description="Day the increase was requested."),
    _column(LABEL, "boolean", description="Label: 90 days past due within 12 months of the increase."),
)
ADDED_IN_V2 = _column(
    "months_at_address", "int32", nullable=True, description="Months at the current address (added in v2; nullable)."
)


def schema_v1() -> dict[str, Any]:
    return {"columns": [dict(column) for column in _V1_COLUMNS]}


def schema_v2() -> dict[str, Any]:
    """v1 plus one nullable column: a compatible change."""
    return {"columns": [*schema_v1()["columns"], dict(ADDED_IN_V2)]}


def generate_applications(rows: int = ROWS, seed: int = SEED) -> dict[str, np.ndarray]:
    """The v2 table as columns (v1 is the same without ``months_at_address``). Nulls are None or NaN."""
    rng = np.random.default_rng(seed)
    district = rng.integers(0, _DISTRICTS, rows)
    # Districts differ in composition: what makes the postcode a proxy.
    district_mix = rng.dirichlet(np.full(len(_ETHNICITIES), 0.6), _DISTRICTS)
    ethnicity_index = np.array([rng.choice(len(_ETHNICITIES), p=district_mix[d]) for d in district])
    ethnicity = np.array([_ETHNICITIES[i] for i in ethnicity_index], dtype=object)
    ethnicity[rng.random(rows) < 0.15] = None
    # A historical, district-level disadvantage the label carries: part of it follows the districts' composition
    # (the share of group_b and group_d), so that a district's past default rate is a proxy for ethnicity.
    district_effect = rng.normal(0.0, 0.25, _DISTRICTS) + _COMPOSITION_EFFECT * (
        district_mix[:, 1] + district_mix[:, 3] - 0.5
    )
    # What the bureau publishes per district: the default rate of an average applicant there last year.
    district_default_rate = np.round(1.0 / (1.0 + np.exp(1.6 - district_effect)), 4)

    age = rng.integers(18, 80, rows)
    date_of_birth = (
        _REFERENCE_DATE - (age * 365.25).astype("timedelta64[D]") - rng.integers(0, 365, rows).astype("timedelta64[D]")
    )
    age_band = np.array([next(band for low, band in reversed(_AGE_BANDS) if a >= low) for a in age], dtype=object)
    sex = rng.choice(np.array(["female", "male", "not_stated"], dtype=object), rows, p=[0.49, 0.49, 0.02])
    disability = np.where(rng.random(rows) < 0.06, True, False).astype(object)
    disability[rng.random(rows) < 0.2] = None

    log_income = rng.normal(10.4, 0.45, rows) + 0.006 * (np.minimum(age, 60) - 40)
    annual_income = np.round(np.exp(log_income), 2)
    debt_to_income = np.round(np.clip(rng.beta(2.0, 5.0, rows) * 1.2, 0.0, 1.2), 4)
    credit_history_months = np.minimum(rng.integers(0, 481, rows), (age - 18) * 12).astype(np.int32)
    late_payments_12m = rng.poisson(0.2 + 1.2 * debt_to_income).astype(np.int32)
    open_credit_lines = rng.poisson(3.0, rows).astype(np.int32)
    requested_limit_increase = np.round(rng.uniform(500, 10_000, rows), -2)

    logit = (
        -1.6
        - 1.3 * (log_income - 10.4) / 0.45
        + 3.0 * (debt_to_income - 0.34)
        - 0.35 * (credit_history_months - 120) / 100
        + 0.55 * late_payments_12m
        + 0.04 * (open_credit_lines - 3)
        + 0.00004 * (requested_limit_increase - 5000)
        + district_effect[district]
    )
    defaulted = rng.random(rows) < 1.0 / (1.0 + np.exp(-logit))

    first = rng.integers(0, len(_FIRST_NAMES), rows)
    last = rng.integers(0, len(_LAST_NAMES), rows)
    full_name = np.array(
        [f"{_FIRST_NAMES[f]} {_LAST_NAMES[s]}" for f, s in zip(first, last, strict=True)], dtype=object
    )
    email = np.array(
        [
            f"{_FIRST_NAMES[f].lower()}.{_LAST_NAMES[s].lower()}{i}@example.com"
            for i, (f, s) in enumerate(zip(first, last, strict=True))
        ],
        dtype=object,
    )
    months_at_address = rng.integers(0, 361, rows).astype(np.float64)
    months_at_address[rng.random(rows) < 0.1] = np.nan
    return {
        "application_id": np.arange(1, rows + 1, dtype=np.int64),
        "full_name": full_name,
        "email": email,
        "date_of_birth": date_of_birth.astype("datetime64[D]"),
        "postcode": np.array([f"D{d + 1:02d} {n}" for d, n in zip(district, rng.integers(1, 10, rows), strict=True)]),
        "sex": sex,
        "age_band": age_band,
        "ethnicity": ethnicity,
        "disability_flag": disability,
        "annual_income": annual_income,
        "debt_to_income": debt_to_income,
        "credit_history_months": credit_history_months,
        "late_payments_12m": late_payments_12m,
        "open_credit_lines": open_credit_lines,
        "requested_limit_increase": requested_limit_increase,
        "district_default_rate": district_default_rate[district],
        "application_date": _REFERENCE_DATE + rng.integers(0, 300, rows).astype("timedelta64[D]"),
        LABEL: defaulted,
        ADDED_IN_V2["name"]: months_at_address,
    }


_ARROW_TYPES = {
    "int64": "int64",
    "int32": "int32",
    "float64": "float64",
    "string": "string",
    "boolean": "bool_",
    "date": "date32",
}


def write_parquet(data: dict[str, np.ndarray], schema: dict[str, Any], path: Path) -> None:
    """The columns ``schema`` names as one Parquet file at ``path``, typed as registered (so Spark reads them with
    the registered types), written beside it and renamed into place: a reader sees all of it or nothing."""
    import pyarrow as pa  # type: ignore[import-untyped]
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    columns = {}
    for column in schema["columns"]:
        values = [None if isinstance(v, float) and v != v else v for v in data[column["name"]].tolist()]
        if column["type"] == "int32":
            values = [None if v is None else int(v) for v in values]
        columns[column["name"]] = pa.array(values, getattr(pa, _ARROW_TYPES[column["type"]])())
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.tmp")
    pq.write_table(pa.table(columns), partial)
    partial.rename(path)


def content_fingerprint(data: dict[str, np.ndarray], schema: dict[str, Any]) -> str:
    """SHA-256 of the columns the schema names, in its order: each column's name, then its values one per line."""
    digest = hashlib.sha256()
    for column in schema["columns"]:
        name = column["name"]
        digest.update(f"{name}\x1e{column['type']}\x1e".encode())
        for value in data[name].tolist():
            null = value is None or (isinstance(value, float) and value != value)
            digest.update(b"\x00\n" if null else f"{value!r}\n".encode())
    return digest.hexdigest()


def feature_matrix(data: dict[str, np.ndarray]) -> np.ndarray:
    """The model's inputs as float32, the element type of the ONNX input."""
    return np.column_stack([data[name].astype(np.float64) for name in FEATURES]).astype(np.float32)


@dataclass(frozen=True)
class TrainedModel:
    pipeline: Any  # sklearn.pipeline.Pipeline
    onnx_bytes: bytes
    metrics: dict[str, Any]
    training_params: dict[str, Any]
    x_test: np.ndarray  # the held-out rows the metrics were computed on, float32
    y_test: np.ndarray


def train(data: dict[str, np.ndarray], seed: int = SEED) -> TrainedModel:
    """Scale + logistic regression on ``FEATURES``; metrics on a held-out, stratified quarter; exported to ONNX."""
    # Imported here: scikit-learn and skl2onnx take a second to load, and only training needs them.
    from skl2onnx import to_onnx
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, log_loss, precision_score, recall_score, roc_auc_score
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    x = feature_matrix(data)
    y = data[LABEL].astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=TEST_SIZE, random_state=seed, stratify=y)
    c = 1.0
    pipeline = Pipeline(
        [("scale", StandardScaler()), ("classify", LogisticRegression(C=c, max_iter=500, random_state=seed))]
    )
    pipeline.fit(x_train, y_train)
    probability = pipeline.predict_proba(x_test)[:, 1]
    flagged = (probability >= THRESHOLD).astype(np.int64)
    metrics = {
        "test": {
            "auc": round(float(roc_auc_score(y_test, probability)), 6),
            "log_loss": round(float(log_loss(y_test, probability)), 6),
            "precision_at_threshold": round(float(precision_score(y_test, flagged, zero_division=0)), 6),
            "recall_at_threshold": round(float(recall_score(y_test, flagged, zero_division=0)), 6),
            "accuracy_at_threshold": round(float(accuracy_score(y_test, flagged)), 6),
            "threshold": THRESHOLD,
            "rows": len(y_test),
            "positive_rate": round(float(y_test.mean()), 6),
        },
        "train": {"rows": len(y_train), "positive_rate": round(float(y_train.mean()), 6)},
    }
    onnx_model = to_onnx(pipeline, x_train[:1], options={"zipmap": False})
    onnx_model.doc_string = "Probability that a credit-limit increase defaults within 12 months (synthetic demo)."
    entry = onnx_model.metadata_props.add()
    entry.key, entry.value = "features", ",".join(FEATURES)
    training_params = {
        "pipeline": ["StandardScaler", "LogisticRegression"],
        "logistic_regression": {"C": c, "penalty": "l2", "solver": "lbfgs", "max_iter": 500},
        "features": list(FEATURES),
        "label": LABEL,
        "excluded_columns": sorted(set(data) - set(FEATURES) - {LABEL}),
        "test_size": TEST_SIZE,
        "split": "stratified on the label",
        "seed": seed,
        "decision_threshold": THRESHOLD,
        "input": {"name": onnx_model.graph.input[0].name, "dtype": "float32", "width": len(FEATURES)},
    }
    return TrainedModel(
        pipeline=pipeline,
        onnx_bytes=onnx_model.SerializeToString(),
        metrics=metrics,
        training_params=training_params,
        x_test=x_test,
        y_test=y_test,
    )
