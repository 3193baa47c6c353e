"""Building lineage graphs directly in the database for traversal and gate tests (what ingestion would fold)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from django.utils import timezone

from lineage.choices import Direction, RunState
from lineage.models import ColumnEdge, LineageDataset, LineageJob, LineageRun, Namespace, RunEdge


class GraphBuilder:
    """``dataset("raw")``, ``run("job", inputs=[...], outputs=[...])``: nodes by name in one namespace unless a
    ``(namespace, name)`` pair is given. Runs are spaced one minute apart so that "latest" is unambiguous."""

    def __init__(self, namespace: str = "s3://lake", team: Any = None) -> None:
        self.default = namespace
        self.team = team
        self.clock = timezone.now() - timedelta(days=1)

    def namespace(self, name: str) -> Namespace:
        found, _ = Namespace.objects.get_or_create(name=name, defaults={"team": self.team})
        return found

    def dataset(self, name: str | tuple[str, str], **links: Any) -> LineageDataset:
        namespace, plain = name if isinstance(name, tuple) else (self.default, name)
        found, _ = LineageDataset.objects.get_or_create(namespace=self.namespace(namespace), name=plain)
        if links:
            LineageDataset.objects.filter(pk=found.pk).update(**links)
            found.refresh_from_db()
        return found

    def job(self, name: str) -> LineageJob:
        found, _ = LineageJob.objects.get_or_create(namespace=self.namespace(self.default), name=name)
        return found

    def run(
        self,
        job: str,
        *,
        inputs: list[Any] = (),  # type: ignore[assignment]
        outputs: list[Any] = (),  # type: ignore[assignment]
        state: str = RunState.COMPLETE,
        versions: dict[Any, str] | None = None,
    ) -> LineageRun:
        """A run of ``job`` reading ``inputs`` and writing ``outputs`` (names, pairs or datasets); ``versions`` maps
        a name to the version its edge names."""
        self.clock += timedelta(minutes=1)
        run = LineageRun.objects.create(
            run_id=uuid.uuid4(), job=self.job(job), state=state, state_at=self.clock, started_at=self.clock
        )
        versions = versions or {}
        for direction, names in ((Direction.INPUT, inputs), (Direction.OUTPUT, outputs)):
            for name in names:
                dataset = name if isinstance(name, LineageDataset) else self.dataset(name)
                key = name if not isinstance(name, LineageDataset) else name.name
                RunEdge.objects.create(run=run, dataset=dataset, direction=direction, version=versions.get(key, ""))
        return run

    def column(self, source: Any, source_field: str, target: Any, target_field: str, run: Any = None) -> ColumnEdge:
        return ColumnEdge.objects.create(
            run=run,
            input_dataset=source if isinstance(source, LineageDataset) else self.dataset(source),
            input_field=source_field,
            output_dataset=target if isinstance(target, LineageDataset) else self.dataset(target),
            output_field=target_field,
            transformations=[{"type": "DIRECT", "subtype": "IDENTITY"}],
        )

    def chain(self, length: int, prefix: str = "c", fan_in: int = 1) -> LineageDataset:
        """``length`` jobs in a line, each reading the previous output and ``fan_in - 1`` raw tables: the last
        output."""
        previous = self.dataset(f"{prefix}-raw")
        for step in range(length):
            extra = [f"{prefix}-side-{step}-{n}" for n in range(fan_in - 1)]
            output = self.dataset(f"{prefix}-out-{step}")
            self.run(f"{prefix}-job-{step}", inputs=[previous, *extra], outputs=[output])
            previous = output
        return previous
