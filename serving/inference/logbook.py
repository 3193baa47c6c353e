"""The prediction logbook: every scoring of the inference service reaches ``PredictionLog``, off the request path.

A request hands its log rows to ``submit`` (a bounded in-memory buffer, no waiting); a writer thread inserts them in
batches (``bulk_create``, one transaction per batch) at least every PREDICTION_LOG_FLUSH_SECONDS. Nothing is lost
silently:

- a full buffer drops the row, counts it (``/metrics``), logs an ERROR, and the writer records
  ``serving.logs_dropped`` with the count at most once a minute;
- while the database is down, batches go to the spool (ASSAY_DATA_DIR/prediction-spool/*.jsonl, each file written,
  fsynced and renamed into place) and are replayed, oldest first, when it is back; a replay skips rows already in
  the table (a crash between the insert's commit and the file's removal would otherwise write them twice);
- rows the table refuses (what they point to is gone) go to the spool's ``rejected/`` folder, counted and logged;
- a deployment whose release policy asks for decision records ``always`` has its row written before the answer
  (``write_now``: the database, or the spool with fsync when the database is down).

Rows are plain dicts of ``PredictionLog`` fields (ids, not objects), so that they cross to the spool and back as
JSON.
"""

from __future__ import annotations

import collections
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.utils import timezone

from core.canonical import canonical_digest, to_stored_json
from serving.decisions import Decision, store_decision_records
from serving.models import PredictionLog

log = logging.getLogger("assay.inference")

Row = dict[str, Any]
DROP_REPORT_SECONDS = 60.0
# While the database is down, the writer spools straight away and looks for it again at most this often.
PROBE_SECONDS = 1.0


def stored_row(row: Row) -> Row:
    """``row`` as the table keeps it: JSON values both databases return unchanged (core.canonical.to_stored_json:
    no NaN, no unsafe integers), and the digest of the inputs, taken here, off the request path, when the request
    left it to the writer (an empty ``inputs_sha256``)."""
    stored = dict(row)
    stored.pop("decision", None)  # the decision record's, written beside the row (write_rows)
    for name in ("inputs", "outputs", "scores"):
        stored[name] = to_stored_json(row[name]) if row[name] is not None else None
    if not stored["inputs_sha256"]:
        stored["inputs_sha256"] = inputs_digest(row["inputs"])
    return stored


def inputs_digest(inputs: Any) -> str:
    """SHA-256 of the canonical JSON (RFC 8785) of the inputs as received (after to_stored_json)."""
    return canonical_digest(to_stored_json(inputs))


def write_rows(rows: list[Row], *, skip_existing: bool = False) -> list[Row]:
    """Insert ``rows`` in one transaction; with ``skip_existing``, leave out those already stored (a replay).

    Returns the rows the table refuses whatever is tried (IntegrityError: what they point to is gone, a deployment
    of a database restored from an older backup); a row whose token was deleted since is kept without it. Raises the
    database's other errors (it is down): the caller keeps the rows."""
    if skip_existing:
        stored = set(
            PredictionLog.objects.filter(request_id__in={row["request_id"] for row in rows}).values_list(
                "request_id", "deployment_id"
            )
        )
        rows = [row for row in rows if (uuid.UUID(str(row["request_id"])), row["deployment_id"]) not in stored]
    try:
        with transaction.atomic():
            logged = PredictionLog.objects.bulk_create([PredictionLog(**stored_row(row)) for row in rows])
            _record_decisions(rows, logged)
        return []
    except IntegrityError:
        pass
    refused = []
    for row in rows:  # one by one, to keep every row that can be kept
        attempts = [row, {**row, "token_id": None}] if row.get("token_id") is not None else [row]
        for attempt in attempts:
            try:
                with transaction.atomic():
                    _record_decisions([attempt], [PredictionLog.objects.create(**stored_row(attempt))])
                break
            except IntegrityError:
                continue
        else:
            refused.append(row)
    return refused


def _record_decisions(rows: list[Row], logged: list[PredictionLog]) -> None:
    """The decision records of the rows that carry a ``decision`` (serving.decisions.Decision as JSON: one scored
    row per log row), in the transaction of the rows themselves: a record never exists without its log row, nor a
    logged explained decision without its record."""
    decided = []
    for row, prediction in zip(rows, logged, strict=True):
        decision = Decision.of_json(row.get("decision"))
        if decision is not None:
            decided.append((prediction, decision))
    if decided:
        store_decision_records(decided)


def _decode(line: str) -> Row:
    row: Row = json.loads(line)
    row["logged_at"] = datetime.fromisoformat(row["logged_at"])
    return row


class Logbook:
    def __init__(
        self,
        *,
        capacity: int,
        batch: int,
        flush_seconds: float,
        spool_dir: Path,
        sink: Callable[..., list[Row]] = write_rows,
        on_dropped: Callable[[int, datetime], None] | None = None,
    ) -> None:
        self.capacity = capacity
        self.batch = batch
        self.flush_seconds = flush_seconds
        self.spool_dir = Path(spool_dir)
        self.sink = sink
        self.on_dropped = on_dropped
        self.dropped = 0  # since the start of the process
        self.written = 0
        self.spooled = 0
        self.replayed = 0
        self.rejected = 0  # rows the table refused (IntegrityError), kept in the spool's rejected/ folder
        self._unreported = 0
        self._unreported_since: datetime | None = None
        self._reported_at = -DROP_REPORT_SECONDS
        self._buffer: collections.deque[Row] = collections.deque()
        self._wake = threading.Condition()
        self._spool_lock = threading.Lock()
        self._db_down_at: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._sequence = 0

    # --- The request side ---

    def submit(self, rows: list[Row]) -> None:
        """Queue ``rows`` for the writer; the ones that do not fit are dropped and counted."""
        with self._wake:
            room = self.capacity - len(self._buffer)
            taken = rows[: max(room, 0)]
            self._buffer.extend(taken)
            lost = len(rows) - len(taken)
            if lost:
                if not self._unreported:
                    self._unreported_since = timezone.now()
                    log.error("inference: ALERT prediction log buffer full (%s rows): dropping logs", self.capacity)
                self.dropped += lost
                self._unreported += lost
            if len(self._buffer) >= self.batch:
                self._wake.notify()

    def write_now(self, rows: list[Row]) -> None:
        """Make ``rows`` durable before returning: in the database, or in the spool (fsync) while it is down.
        Blocking: call it off the event loop. Raises OSError only when neither can take them."""
        try:
            refused = self.sink(rows)
            self.written += len(rows) - len(refused)
            self._reject(refused)
        except DatabaseError as error:
            connection.close()
            log.warning("inference: durable log spooled (database unavailable): %s", error)
            self._spool(rows)

    @property
    def depth(self) -> int:
        return len(self._buffer)

    @property
    def spool_files(self) -> list[Path]:
        return sorted(self.spool_dir.glob("*.jsonl")) if self.spool_dir.exists() else []

    # --- The writer ---

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="prediction-logbook", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Write (or spool) what is buffered and stop the writer."""
        self._stop.set()
        with self._wake:
            self._wake.notify()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self.flush()
        connection.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._wake:
                if len(self._buffer) < self.batch:
                    self._wake.wait(self.flush_seconds)
            try:
                self.flush()
            except Exception:
                log.exception("inference: prediction log writer failed; retrying")
                time.sleep(self.flush_seconds)

    def flush(self) -> None:
        """Write everything buffered now (batch by batch), replay the spool if the database is back, report drops."""
        while True:
            with self._wake:
                batch = [self._buffer.popleft() for _ in range(min(self.batch, len(self._buffer)))]
            if not batch:
                break
            self._write(batch)
        if self.spool_files and self._database_may_be_up():
            self.replay()
        self._report_drops()

    def _database_may_be_up(self) -> bool:
        return self._db_down_at is None or time.monotonic() - self._db_down_at >= PROBE_SECONDS

    def _write(self, batch: list[Row]) -> None:
        if not self._database_may_be_up() or (self.spool_files and not self.replay()):
            self._spool(batch)  # keep the order: nothing new reaches the table before the spool is replayed
            return
        try:
            refused = self.sink(batch)
        except DatabaseError as error:
            self._down(error)
            self._spool(batch)
            return
        self._db_down_at = None
        self.written += len(batch) - len(refused)
        self._reject(refused)

    def _down(self, error: Exception) -> None:
        if self._db_down_at is None:
            log.error("inference: database unavailable, spooling prediction logs to %s: %s", self.spool_dir, error)
        self._db_down_at = time.monotonic()
        connection.close()  # a broken connection is not reused; the next attempt connects afresh

    def replay(self) -> bool:
        """Write the spooled files, oldest first; True when none is left."""
        for path in self.spool_files:
            rows = [_decode(line) for line in path.read_text().splitlines() if line.strip()]
            try:
                refused = self.sink(rows, skip_existing=True)
            except DatabaseError as error:
                self._down(error)
                return False
            self._reject(refused)
            path.unlink()
            self._db_down_at = None
            self.replayed += len(rows) - len(refused)
            self.written += len(rows) - len(refused)
            log.info("inference: %s spooled prediction logs written from %s", len(rows), path.name)
        return True

    def _reject(self, rows: list[Row]) -> None:
        """Rows the table refuses are not dropped: they go to the spool's ``rejected/`` folder, counted, with an
        ERROR, for an operator to look at."""
        if not rows:
            return
        self.rejected += len(rows)
        log.error(
            "inference: ALERT %s prediction logs refused by the database (what they point to is gone); kept in %s",
            len(rows),
            self.spool_dir / "rejected",
        )
        self._spool(rows, folder=self.spool_dir / "rejected")

    def _spool(self, rows: list[Row], folder: Path | None = None) -> None:
        folder = folder or self.spool_dir
        with self._spool_lock:
            folder.mkdir(parents=True, exist_ok=True)
            self._sequence += 1
            name = f"{time.time_ns():020d}-{os.getpid()}-{self._sequence:06d}"
            partial = folder / f"{name}.partial"
            with partial.open("w") as handle:
                for row in rows:
                    stored = {**row, "logged_at": row["logged_at"].isoformat()}  # to the microsecond
                    handle.write(json.dumps(stored, cls=DjangoJSONEncoder) + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            partial.rename(folder / f"{name}.jsonl")
            directory = os.open(folder, os.O_RDONLY)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)
            if folder == self.spool_dir:
                self.spooled += len(rows)

    def _report_drops(self) -> None:
        if not self._unreported or self.on_dropped is None:
            return
        if time.monotonic() - self._reported_at < DROP_REPORT_SECONDS:
            return
        with self._wake:
            count, since = self._unreported, self._unreported_since or timezone.now()
        try:
            self.on_dropped(count, since)
        except DatabaseError as error:
            self._down(error)
            return  # reported when the database is back
        with self._wake:
            self._unreported -= count
            self._unreported_since = timezone.now() if self._unreported else None
        self._reported_at = time.monotonic()
