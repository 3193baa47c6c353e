"""Transaction contracts an action can state and enforce.

Some actions must not run inside a caller's transaction: one that receives or validates files (a model version's
ONNX, streamed and validated in a child process for up to the validation limit) promises to take no database lock
until the file has passed, and on SQLite every transaction is IMMEDIATE, so a caller's ``transaction.atomic()``
around it would hold the database's write lock for the whole validation while every other writer waits (and gives
up after 20 s). Such an action calls ``require_no_transaction`` first, or is decorated with ``outside_transaction``,
and a caller who wraps it gets ``TransactionNotAllowed`` at once instead of a stalled server.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from django.db import DEFAULT_DB_ALIAS, transaction

P = ParamSpec("P")
R = TypeVar("R")

__all__ = ["TransactionNotAllowed", "in_transaction", "outside_transaction", "require_no_transaction"]


class TransactionNotAllowed(RuntimeError):
    """An action that must not run inside a transaction was called inside one (a programming error)."""


def in_transaction(using: str = DEFAULT_DB_ALIAS) -> bool:
    """True when the caller is inside an atomic block that it (or its caller) opened.

    The blocks a Django test case opens around each test (``TestCase`` and pytest-django's ``db`` fixture) do not
    count: they stand in for the autocommit a request or a worker would run in. This is the rule Django itself
    applies to ``atomic(durable=True)``, which is refused inside any block but a test case's.
    """
    connection = transaction.get_connection(using)
    return any(not getattr(block, "_from_testcase", False) for block in connection.atomic_blocks)


def require_no_transaction(action: str, using: str = DEFAULT_DB_ALIAS) -> None:
    """Raise ``TransactionNotAllowed`` when called inside a transaction (see ``in_transaction``)."""
    if in_transaction(using):
        raise TransactionNotAllowed(
            f"{action} must not run inside a transaction: it receives and validates files before it takes any "
            "database lock, and a caller's transaction would hold the lock (on SQLite, the write lock of the whole "
            "database) for as long as that takes. Call it outside transaction.atomic()."
        )


def outside_transaction(fn: Callable[P, R]) -> Callable[P, R]:
    """Decorate an action that must be called outside any transaction (``require_no_transaction``)."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        require_no_transaction(fn.__qualname__)
        return fn(*args, **kwargs)

    return wrapper
