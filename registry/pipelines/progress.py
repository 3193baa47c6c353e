"""How a pipeline reports how far it is: ``progress(fraction, stage)``, with ``fraction`` from 0 to 1 of the
pipeline's own work and ``stage`` naming the step it starts. The caller decides what that means for its job (the
worker's Spark watcher maps it into the job's record: workers.spark). A callback that raises stops the pipeline.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["Progress", "no_progress", "report"]


class Progress(Protocol):
    def __call__(self, fraction: float, stage: str, /) -> None: ...


def no_progress(fraction: float, stage: str, /) -> None:
    """The callback of a caller that does not follow the pipeline."""


def report(progress: Progress | None, fraction: float, stage: str) -> None:
    """Call ``progress`` when there is one."""
    if progress is not None:
        progress(fraction, stage)
