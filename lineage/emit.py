"""Every Assay job is an OpenLineage producer: the events a job's run emits, built with the openlineage-python client's
generated classes (so that each validates against the spec as it is built).

The job runner (workers.runner) emits a START when it claims a job and COMPLETE, FAIL or ABORT when the job ends,
through ``emit_run_event``. What a job read and wrote is said by its kind: ``register_job_lineage(kind, fn)`` from
the AppConfig.ready of the app that owns the kind (the ``governance.gate.register_check`` pattern); a kind nobody
registered still emits its run, with no datasets. Names follow lineage.naming, so that the graph resolves each node
to its registry object. The run id is derived from the job record and its attempt (``run_id``): emitting the same
state of the same attempt twice builds the same event, which the store keeps once.

docs/lineage.md, "Emitting".
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import attr
from django.utils import timezone
from openlineage.client import __version__ as OPENLINEAGE_CLIENT_VERSION
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import (
    column_lineage_dataset,
    dataset_version_dataset,
    datasource_dataset,
    error_message_run,
    job_type_job,
    parent_run,
    processing_engine_run,
    schema_dataset,
)
from openlineage.client.generated.base import DatasetFacet
from openlineage.client.generated.column_lineage_dataset import InputField

from lineage.naming import (
    ASSAY_SCHEME,
    DatasetName,
    audit_report_name,
    dataset_version_name,
    feature_set_version_name,
    team_namespace,
)
from lineage.naming import model_version_name as model_node_name
from registry.choices import Aggregation
from registry.pipelines.feature_definitions import TARGET_ENCODE, column_kinds, entity_column, referenced_columns

if TYPE_CHECKING:
    from core.models import Job as AssayJob
    from registry.models import DatasetVersion, FeatureSetVersion, ModelVersion

# Who built the events (the spec asks for a URI) and the engine facet's name and version.
PRODUCER = "https://github.com/assay-registry/assay/tree/main/lineage"
ENGINE_NAME = "Assay"
ENGINE_VERSION = "0.1.0"
# Jobs without a team (the audit chain's verification and checkpoints) run in the platform's namespace.
PLATFORM_NAMESPACE = ASSAY_SCHEME
# The namespace of run ids: uuid5(RUN_NAMESPACE, "<job public id>/<attempt>").
RUN_NAMESPACE = uuid.UUID("6f0c5a53-3c1e-4b9e-9a57-1d1a0f5f4a11")
# The output column the materialization adds to partition its Parquet (registry.pipelines.features).
PARTITION_COLUMN = "as_of_date"


@dataclass(frozen=True)
class JobLineage:
    """What one job read and wrote, as OpenLineage datasets (outputs may be empty until the job has made them), and
    the job whose run asked for it (``parent``: a training chained on a materialization), if any."""

    inputs: list[InputDataset] = field(default_factory=list)
    outputs: list[OutputDataset] = field(default_factory=list)
    parent: AssayJob | None = None


JobLineageFn = Callable[["AssayJob"], JobLineage]

_JOB_LINEAGE: dict[str, JobLineageFn] = {}


def register_job_lineage(kind: str, fn: JobLineageFn) -> None:
    """Say what jobs of ``kind`` read and write: ``fn(job)`` is called at each event of a run, and returns what
    exists then (a materialization's output is registered only at its end)."""
    _JOB_LINEAGE[kind] = fn


def job_lineage(job: AssayJob) -> JobLineage:
    fn = _JOB_LINEAGE.get(job.kind)
    return fn(job) if fn is not None else JobLineage()


def registered_kinds() -> list[str]:
    return sorted(_JOB_LINEAGE)


# --- The run event ----------------------------------------------------------------------------------------------------


def run_id(job: AssayJob, attempt: int) -> uuid.UUID:
    """The run of ``job``'s ``attempt``: the same for every event of that attempt, whoever builds it."""
    return uuid.uuid5(RUN_NAMESPACE, f"{job.public_id}/{attempt}")


def job_namespace(job: AssayJob) -> str:
    return team_namespace(job.team.slug) if job.team is not None else PLATFORM_NAMESPACE


def build_run_event(
    job: AssayJob,
    state: RunState,
    *,
    attempt: int,
    event_time: datetime | None = None,
    error: str = "",
    lineage: JobLineage | None = None,
) -> RunEvent:
    """The event of ``job``'s run (attempt ``attempt``) reaching ``state``; FAIL carries ``error`` in the
    errorMessage facet. The datasets are the kind's (``job_lineage``) unless ``lineage`` is given."""
    lineage = lineage if lineage is not None else job_lineage(job)
    run_facets: dict[str, Any] = {
        "processing_engine": processing_engine_run.ProcessingEngineRunFacet(
            version=ENGINE_VERSION, name=ENGINE_NAME, openlineageAdapterVersion=OPENLINEAGE_CLIENT_VERSION
        ),
    }
    if lineage.parent is not None and lineage.parent.attempts:
        parent = lineage.parent
        run_facets["parent"] = parent_run.ParentRunFacet(
            run=parent_run.Run(runId=str(run_id(parent, parent.attempts))),
            job=parent_run.Job(namespace=job_namespace(parent), name=parent.kind),
        )
    if state == RunState.FAIL:
        run_facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(
            message=error or "The job failed.", programmingLanguage="python"
        )
    job_facets: dict[str, Any] = {
        "jobType": job_type_job.JobTypeJobFacet(processingType="BATCH", integration="ASSAY", jobType="JOB"),
    }
    when = event_time or timezone.now()
    return RunEvent(
        eventType=state,
        eventTime=when.isoformat(),
        run=Run(runId=str(run_id(job, attempt)), facets=run_facets),
        job=Job(namespace=job_namespace(job), name=job.kind, facets=job_facets),
        inputs=list(lineage.inputs),
        outputs=list(lineage.outputs),
        producer=PRODUCER,
    )


# --- Registry objects as datasets -------------------------------------------------------------------------------------


def schema_facet(columns: Iterable[Mapping[str, Any]]) -> schema_dataset.SchemaDatasetFacet:
    """The schema facet of registry columns (``{"name", "type", "description"}``; type and description optional)."""
    return schema_dataset.SchemaDatasetFacet(
        fields=[
            schema_dataset.SchemaDatasetFacetFields(
                name=str(column["name"]),
                type=str(column["type"]) if column.get("type") else None,
                description=str(column["description"]) if column.get("description") else None,
            )
            for column in columns
        ]
    )


def base_facets(name: DatasetName, uri: str, columns: Iterable[Mapping[str, Any]] | None) -> dict[str, Any]:
    facets: dict[str, Any] = {"dataSource": datasource_dataset.DatasourceDatasetFacet(name=name.namespace, uri=uri)}
    if columns is not None:
        facets["schema"] = schema_facet(columns)
    if name.version:
        facets["version"] = dataset_version_dataset.DatasetVersionDatasetFacet(datasetVersion=name.version)
    return facets


def dataset_version_input(version: DatasetVersion) -> InputDataset:
    """A registry dataset version read by a job: its location, schema and content fingerprint as the version."""
    name = dataset_version_name(version)
    columns = (version.schema or {}).get("columns") or []
    return InputDataset(
        namespace=name.namespace, name=name.name, facets=base_facets(name, version.dataset.location, columns)
    )


def dataset_version_output(version: DatasetVersion) -> OutputDataset:
    """A registry dataset version a job wrote (batch scoring's predictions): as ``dataset_version_input`` names it."""
    name = dataset_version_name(version)
    columns = (version.schema or {}).get("columns") or []
    return OutputDataset(
        namespace=name.namespace, name=name.name, facets=base_facets(name, version.dataset.location, columns)
    )


def feature_set_dataset(version: FeatureSetVersion) -> tuple[DatasetName, dict[str, Any]]:
    name = feature_set_version_name(version)
    uri = f"{name.namespace}/{name.name}"
    return name, base_facets(name, uri, None)


def feature_set_input(version: FeatureSetVersion) -> InputDataset:
    name, facets = feature_set_dataset(version)
    facets["schema"] = schema_facet(feature_set_columns(version))
    return InputDataset(namespace=name.namespace, name=name.name, facets=facets)


def model_version_output(version: ModelVersion) -> OutputDataset:
    """A model version a job wrote: the node ``sha256:<digest>`` in its team's namespace, with the model's inputs
    (its interface contract) as the schema."""
    name = model_node_name(version)
    inputs = (version.interface or {}).get("inputs") or []
    columns = [{"name": item.get("name"), "type": item.get("type") or item.get("elem_type")} for item in inputs]
    facets = base_facets(name, f"{name.namespace}/{name.name}", [c for c in columns if c["name"]])
    return OutputDataset(namespace=name.namespace, name=name.name, facets=facets)


def model_version_input(version: ModelVersion) -> InputDataset:
    """A model version a job read (an audit scores it): the same node, schema and all, as the training's output."""
    output = model_version_output(version)
    return InputDataset(namespace=output.namespace, name=output.name, facets=output.facets)


# The schema URL of Assay's own dataset facet (docs/lineage.md, "The audit report facet").
AUDIT_REPORT_FACET_SCHEMA = "https://github.com/assay-registry/assay/blob/main/docs/lineage.md#the-audit-report-facet"
AUDIT_REPORT_FACET = "assay_auditReport"


@attr.define
class AuditReportDatasetFacet(DatasetFacet):
    """A custom dataset facet on an audit report's node: what the report says and what it is bound to."""

    kind: str
    digest: str
    verdict: str
    checks: dict[str, str] = attr.field(factory=dict)
    artifactSha256: str = ""
    datasetFingerprint: str = ""

    @staticmethod
    def _get_schema() -> str:
        return AUDIT_REPORT_FACET_SCHEMA


@dataclass(frozen=True)
class AuditReportFields:
    """What the lineage of an audit report needs of it (lineage is below the audits app: plain values)."""

    team_slug: str
    kind: str
    report_id: int
    digest: str
    verdict: str
    checks: dict[str, str]
    artifact_sha256: str
    dataset_fingerprint: str


def audit_report_output(report: AuditReportFields) -> OutputDataset:
    """An audit report an audit job wrote: ``audit-reports/<kind>/<id>`` in its team's namespace, the digest as the
    version, and the ``assay_auditReport`` facet with the verdict, the checks and what the report is bound to."""
    name = audit_report_name(report.team_slug, report.kind, report.report_id, report.digest)
    facets = base_facets(name, f"{name.namespace}/{name.name}", None)
    facets[AUDIT_REPORT_FACET] = AuditReportDatasetFacet(
        kind=report.kind,
        digest=report.digest,
        verdict=report.verdict,
        checks=dict(report.checks),
        artifactSha256=report.artifact_sha256,
        datasetFingerprint=report.dataset_fingerprint,
    )
    return OutputDataset(namespace=name.namespace, name=name.name, facets=facets)


# --- A materialization's output: its schema and column lineage from the feature definitions --------------------------

# The type a feature's aggregation gives, when the aggregation alone says it.
_AGGREGATION_TYPES: dict[str, str] = {
    Aggregation.COUNT: "int64",
    Aggregation.DISTINCT_COUNT: "int64",
    Aggregation.MEAN: "float64",
}


def feature_set_columns(version: FeatureSetVersion) -> list[dict[str, Any]]:
    """The feature columns of a materialized feature set, typed where the aggregation says (the entity, time and
    label columns are in the column lineage of the materialization that wrote it)."""
    return [feature_column(feature) for feature in version.features]


def feature_column(feature: Mapping[str, Any]) -> dict[str, Any]:
    encoded = TARGET_ENCODE.match(str(feature.get("definition", ""))) is not None
    return {
        "name": feature["name"],
        "type": "float64" if encoded else _AGGREGATION_TYPES.get(str(feature.get("aggregation", ""))),
        "description": feature.get("description") or None,
    }


def _transformation(kind: str, subtype: str, description: str) -> column_lineage_dataset.Transformation:
    return column_lineage_dataset.Transformation(type=kind, subtype=subtype, description=description)


def _field(dataset: DatasetName, column: str, kind: str, subtype: str, description: str) -> InputField:
    return InputField(
        namespace=dataset.namespace,
        name=dataset.name,
        field=column,
        transformations=[_transformation(kind, subtype, description)],
    )


def _written(kinds: Mapping[str, tuple[str, str]], name: str) -> str:
    """``name`` as the schema writes it (Spark matches column names without case)."""
    return kinds.get(name.casefold(), (name, ""))[0]


@dataclass(frozen=True)
class _Sides:
    """Where a materialization's columns come from: features from the source, rows from the spine (or source)."""

    source: DatasetName
    source_kinds: Mapping[str, tuple[str, str]]
    rows: DatasetName
    rows_kinds: Mapping[str, tuple[str, str]]
    entity: str
    time_column: str


def feature_column_lineage(
    definitions: Mapping[str, Any],
    source: DatasetName,
    source_schema: Mapping[str, Any],
    spine: DatasetName | None = None,
    spine_schema: Mapping[str, Any] | None = None,
) -> tuple[list[dict[str, Any]], column_lineage_dataset.ColumnLineageDatasetFacet]:
    """(columns, columnLineage facet) of a materialization's output, derived from the feature definitions.

    Each feature is DIRECT from the columns its definition reads (subtype AGGREGATION with the aggregation and
    window as the description, or TRANSFORMATION for ``none``), and INDIRECT from the entity column (GROUP_BY) and
    the event-time column (WINDOW). A target encoding is DIRECT from its category and label columns. The entity,
    time and label columns pass through from the spine (or the source without one) as IDENTITY; ``as_of_date`` is
    a TRANSFORMATION of the time column. Columns are matched to the schemas without case, as Spark does.
    """
    source_kinds = column_kinds(source_schema)
    rows, rows_kinds = (spine, column_kinds(spine_schema)) if spine and spine_schema else (source, source_kinds)
    sides = _Sides(
        source=source,
        source_kinds=source_kinds,
        rows=rows,
        rows_kinds=rows_kinds,
        entity=entity_column(definitions, source_schema) or str(definitions["entity"]),
        time_column=_written(source_kinds, str(definitions["event_time_column"])),
    )
    columns: list[dict[str, Any]] = [
        {"name": sides.entity, "type": _column_type(source_schema, sides.entity)},
        {"name": sides.time_column, "type": "timestamp"},
    ]
    fields: dict[str, column_lineage_dataset.Fields] = {
        sides.entity: _identity(sides.rows, _written(rows_kinds, sides.entity)),
        sides.time_column: _identity(sides.rows, _written(rows_kinds, sides.time_column)),
    }
    if spine is not None and spine_schema is not None:
        passed = {sides.entity.casefold(), sides.time_column.casefold()}
        for name, _ in rows_kinds.values():
            if name.casefold() not in passed:
                columns.append({"name": name, "type": _column_type(spine_schema, name)})
                fields[name] = _identity(spine, name)
    for feature in definitions["features"]:
        columns.append(feature_column(feature))
        fields[feature["name"]] = _feature_fields(feature, sides)
    columns.append({"name": PARTITION_COLUMN, "type": "date"})
    time_read = _field(sides.rows, _written(rows_kinds, sides.time_column), "DIRECT", "TRANSFORMATION", "to_date")
    fields[PARTITION_COLUMN] = column_lineage_dataset.Fields(inputFields=[time_read])
    return columns, column_lineage_dataset.ColumnLineageDatasetFacet(fields=fields)


def _identity(dataset: DatasetName, column: str) -> column_lineage_dataset.Fields:
    return column_lineage_dataset.Fields(inputFields=[_field(dataset, column, "DIRECT", "IDENTITY", "")])


def _column_type(schema: Mapping[str, Any], name: str) -> str | None:
    for column in schema.get("columns") or []:
        if str(column.get("name", "")).casefold() == name.casefold():
            return str(column.get("type")) if column.get("type") else None
    return None


def _feature_fields(feature: Mapping[str, Any], sides: _Sides) -> column_lineage_dataset.Fields:
    aggregation = str(feature.get("aggregation", Aggregation.NONE))
    window = str(feature.get("window") or "")
    definition = str(feature.get("definition", ""))
    source, kinds = sides.source, sides.source_kinds
    inputs: list[InputField] = []
    encoding = TARGET_ENCODE.match(definition)
    if encoding is not None:
        category, label = encoding.group(1), encoding.group(2)
        what = f"target encoding of {category} by {label} (out of fold), the last in {window or 'the history'}"
        inputs.append(_field(source, _written(kinds, category), "DIRECT", "TRANSFORMATION", what))
        on_rows = label.casefold() in sides.rows_kinds
        label_side, label_kinds = (sides.rows, sides.rows_kinds) if on_rows else (source, kinds)
        inputs.append(_field(label_side, _written(label_kinds, label), "DIRECT", "AGGREGATION", what))
    else:
        if aggregation == Aggregation.NONE:
            subtype, what = "TRANSFORMATION", f"the latest {definition} before the row"
        else:
            subtype, what = "AGGREGATION", f"{aggregation}({definition}) over {window}"
        read = dict.fromkeys(_written(kinds, name) for name in referenced_columns(definition))
        inputs.extend(_field(source, column, "DIRECT", subtype, what) for column in read)
    inputs.append(_field(source, sides.entity, "INDIRECT", "GROUP_BY", f"per {sides.entity}"))
    frame = f"{sides.time_column} in [t - {window}, t)" if window else f"{sides.time_column} < t"
    inputs.append(_field(source, sides.time_column, "INDIRECT", "WINDOW", frame))
    return column_lineage_dataset.Fields(inputFields=inputs)


def feature_set_output(
    version: FeatureSetVersion,
    source: DatasetVersion,
    spine: DatasetVersion | None = None,
    definitions: Mapping[str, Any] | None = None,
) -> OutputDataset:
    """A feature-set version a materialization wrote from ``source`` (and ``spine``): its schema and column
    lineage from the definitions it was computed with (the version's own, by default)."""
    view = version.feature_view
    definitions = definitions or {
        "entity": view.entity,
        "event_time_column": view.event_time_column,
        "features": version.features,
    }
    name, facets = feature_set_dataset(version)
    columns, column_lineage = feature_column_lineage(
        definitions,
        dataset_version_name(source),
        source.schema,
        dataset_version_name(spine) if spine is not None else None,
        spine.schema if spine is not None else None,
    )
    facets["schema"] = schema_facet(columns)
    facets["columnLineage"] = column_lineage
    return OutputDataset(namespace=name.namespace, name=name.name, facets=facets)
