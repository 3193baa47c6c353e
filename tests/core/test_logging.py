"""Console noise: a library's warning that reports nothing wrong stays in the log at DEBUG and off the console."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings

from assay.log import Demote


@pytest.fixture
def console() -> Iterator[io.StringIO]:
    """What the settings' console handler writes, for the length of the test."""
    handler = next(h for h in logging.getLogger().handlers if h.get_name() == "console")
    assert isinstance(handler, logging.StreamHandler)
    stream = io.StringIO()
    # Swapped as an attribute: setStream() would flush the previous stream, which pytest's capture may have closed.
    previous, handler.stream = handler.stream, stream
    yield stream
    handler.stream = previous


def test_kombus_no_hostname_warning_is_debug_and_off_the_console(
    console: io.StringIO, caplog: pytest.LogCaptureFixture
) -> None:
    kombu = logging.getLogger("kombu.connection")
    with caplog.at_level(logging.DEBUG, logger="kombu.connection"):
        kombu.warning("No hostname was supplied. Reverting to default '%s'", "localhost")
        kombu.warning("Connection to broker lost")
    assert [(record.levelname, record.getMessage()) for record in caplog.records] == [
        ("DEBUG", "No hostname was supplied. Reverting to default 'localhost'"),
        ("WARNING", "Connection to broker lost"),
    ]
    assert "No hostname" not in console.getvalue()
    assert "WARNING kombu.connection [-] Connection to broker lost" in console.getvalue()


def test_the_console_handler_has_the_configured_level() -> None:
    logging_config: Any = settings.LOGGING
    assert logging_config["handlers"]["console"]["level"] == settings.LOG_LEVEL
    assert "no_hostname" in logging_config["loggers"]["kombu.connection"]["filters"]


def test_demote_leaves_other_messages_and_debug_records_alone() -> None:
    demote = Demote(starts=["No hostname"])
    other = logging.LogRecord("kombu.connection", logging.ERROR, __file__, 1, "No host at all", None, None)
    assert demote.filter(other) is True
    assert other.levelno == logging.ERROR
    matching = logging.LogRecord("kombu.connection", logging.WARNING, __file__, 1, "No hostname %s", ("x",), None)
    assert demote.filter(matching) is True
    assert (matching.levelno, matching.levelname) == (logging.DEBUG, "DEBUG")
