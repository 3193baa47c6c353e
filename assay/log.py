"""Logging helpers for settings.LOGGING."""

from __future__ import annotations

import logging
from collections.abc import Iterable


class Demote(logging.Filter):
    """Moves a record whose message starts with one of ``starts`` down to DEBUG: a library's warning that reports
    nothing wrong here stays in the log at the level it deserves, and off a console that shows INFO and above.

    Attached to a logger (not a handler), so that the handlers' level check sees the new level. kombu, for one,
    warns "No hostname was supplied" on every connection of the filesystem transport, which has no host.
    """

    def __init__(self, starts: Iterable[str] = ()) -> None:
        super().__init__()
        self.starts = tuple(starts)

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.DEBUG and record.getMessage().startswith(self.starts):
            record.levelno = logging.DEBUG
            record.levelname = logging.getLevelName(logging.DEBUG)
        return True
