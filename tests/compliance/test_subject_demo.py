"""The demo's credit dataset declares its applicants' e-mail as the subject identifier, and an applicant's erasure
request over the demo table (written to a lake here) produces its report: one row found, one row erased."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]

from compliance.actions import subjects as actions
from compliance.models import SubjectErasure, SubjectSearch
from registry import demo
from registry.schema import parse_schema
from tests.compliance.factories import erase, search
from tests.registry.factories import make_dataset, make_dataset_version

ROWS = 300


def test_the_demo_schemas_declare_the_email_as_the_subject_identifier() -> None:
    for schema in (demo.schema_v1(), demo.schema_v2()):
        assert [column.name for column in parse_schema(schema).subject_identifiers()] == ["email"]
    # The model's inputs stay unflagged (tests/registry/test_demo.py checks every flag).
    assert "email" not in demo.FEATURES


def test_an_applicants_erasure_request_over_the_demo_table_produces_its_report(cast: Any, lake: Path) -> None:
    # GIVEN the demo's loan applications, as Parquet in the lake, registered with the demo's v2 schema
    data = demo.generate_applications(rows=ROWS)
    folder = lake / "credit" / "loan-applications"
    folder.mkdir(parents=True)
    pq.write_table(pa.table({name: values.tolist() for name, values in data.items()}), str(folder / "part-0.parquet"))
    dataset = make_dataset(
        cast.team_a, cast.engineer_a, name="Loan applications", location="lake://credit/loan-applications/"
    )
    version = make_dataset_version(dataset, cast.engineer_a, schema=demo.schema_v2())
    applicant = str(data["email"][42])

    # WHEN the compliance officer records the applicant's erasure request, searches and confirms the erasure
    request = actions.do_create_subject_request(
        cast.team_a, actor=cast.compliance, kind="erasure", subject_identifier=applicant, asked_by="the applicant"
    )
    search(request, cast.compliance)
    erase(request, cast.compliance)

    # THEN the report found the applicant's one row, and the erasure removed it and nothing else
    (hit,) = SubjectSearch.objects.get(request=request).hits
    assert (hit["object_id"], hit["rows"], hit["files"]) == (version.pk, 1, [{"path": "part-0.parquet", "rows": 1}])
    erasure = SubjectErasure.objects.get(request=request)
    assert [(item["label"], item["rows"]) for item in erasure.done] == [(str(version), 1)]
    left = pq.read_table(str(folder / "part-0.parquet"))
    assert left.num_rows == ROWS - 1
    assert applicant not in left["email"].to_pylist()
