"""Exit codes and the local errors every command shares (the HTTP client's own are in client.py)."""

from __future__ import annotations

OK, REFUSED, USAGE, UNREACHABLE = 0, 1, 2, 3


class UsageError(Exception):
    """A problem with the arguments or a local file, found before (or instead of) asking the server."""


class NoToken(Exception):
    pass


class Rejected(Exception):
    """The command itself refuses to go on (exit 1): what the server sent does not check out, or a verification
    failed. ``lines`` are printed one per line after the message."""

    def __init__(self, message: str, lines: list[str] | None = None) -> None:
        super().__init__(message)
        self.lines = lines or []
