"""Data-subject requests: the identifier's rules and keyed hash, the legal deadline, and the two registries that let
apps take part without compliance/ importing them.

**Subject finders.** Each kind of record Assay holds about people registers a finder here
(``register_subject_finder``): ``find`` returns what it holds about a request's subject as hits (plain JSON) and what
it could not search; ``erase`` removes one hit (idempotently: a hit already erased returns its first record).
Compliance registers the finder of dataset rows (compliance.subject_datasets) itself; serving's prediction logs and
decision records register theirs from their ``AppConfig.ready`` when they exist.

**Erasure keepers.** Whatever must keep a record despite an erasure request (a legal hold, a retention duty)
registers a keeper (``register_erasure_keeper``): given the request and a hit, it returns the reasons to keep the
record, each a sentence naming the hold or duty. A hit any keeper keeps is left in place and listed as kept, with why.

docs/subject-requests.md.
"""

from __future__ import annotations

import calendar
import datetime as dt
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from django.utils.crypto import salted_hmac

from compliance.models.subjects import MAX_IDENTIFIER_LENGTH

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from compliance.models import SubjectRequest

# The salt of the identifier's keyed hash: a plain SHA-256 of a customer number or an e-mail is reversed by trying
# every candidate; keyed with the server's SECRET_KEY it is not, yet equal identifiers still hash equal.
DIGEST_SALT = "assay.compliance.subject-identifier"
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


class IdentifierRefused(ValueError):
    """The identifier cannot be searched for; ``message`` says why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def check_identifier(value: object) -> str:
    """The identifier as given, if it can be searched for: text, 1 to 256 characters, no control or bidirectional
    formatting characters, no surrounding whitespace (which would never match a stored value). Stored as given:
    matching is exact, so it is not normalised either."""
    if not isinstance(value, str):
        raise IdentifierRefused("must be a string")
    if not value or not value.strip():
        raise IdentifierRefused("must not be empty")
    if len(value) > MAX_IDENTIFIER_LENGTH:
        raise IdentifierRefused(f"is {len(value)} characters long; at most {MAX_IDENTIFIER_LENGTH} are allowed")
    for position, char in enumerate(value):
        if unicodedata.category(char) in ("Cc", "Cs") or char in _BIDI_CONTROLS:
            raise IdentifierRefused(f"U+{ord(char):04X} at position {position} is not allowed in an identifier")
    if value != value.strip():
        raise IdentifierRefused("must not begin or end with whitespace")
    return value


def subject_digest(identifier: str) -> str:
    """The identifier's keyed hash (HMAC-SHA256 under SECRET_KEY): what audit events and job records carry."""
    return salted_hmac(DIGEST_SALT, identifier, algorithm="sha256").hexdigest()


def one_month_after(moment: dt.datetime) -> dt.datetime:
    """The same day of the next month (art. 12(3): "within one month of receipt"), or that month's last day when it
    is shorter (31 January -> 28 or 29 February)."""
    year, month = (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


# --- Finders -----------------------------------------------------------------------------------------------------


Progress = Callable[[float, str], None]


@dataclass
class FinderResult:
    """What one finder found: ``hits`` (each a JSON object with at least ``kind``, ``object_type``, ``object_id``,
    ``label`` and ``rows``) and ``unsearched`` (``{"label", "why"}`` for what it could not look into)."""

    hits: list[dict[str, Any]] = field(default_factory=list)
    unsearched: list[dict[str, Any]] = field(default_factory=list)


class ErasureKept(Exception):
    """A finder cannot erase a hit (data it cannot rewrite, a file it cannot read): the hit is listed as kept."""

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


class SubjectFinder(Protocol):
    def find(self, request: SubjectRequest, progress: Progress) -> FinderResult: ...

    def erase(self, request: SubjectRequest, hit: Mapping[str, Any], *, actor: User | None) -> dict[str, Any]:
        """Erase ``hit``; return what was done (``{"rows", "action", ...}``) or raise ``ErasureKept``."""
        ...


_FINDERS: dict[str, SubjectFinder] = {}


def register_subject_finder(kind: str, finder: SubjectFinder) -> None:
    """Register the finder of the records of ``kind`` (the ``kind`` of its hits)."""
    _FINDERS[kind] = finder


def subject_finders() -> dict[str, SubjectFinder]:
    return dict(_FINDERS)


# --- Keepers -----------------------------------------------------------------------------------------------------


class ErasureKeeper(Protocol):
    def __call__(self, request: SubjectRequest, hit: Mapping[str, Any], /) -> list[str]: ...


_KEEPERS: dict[str, ErasureKeeper] = {}


def register_erasure_keeper(name: str, keeper: ErasureKeeper) -> None:
    """Register what may keep a record from erasure (legal holds, retention duties), under a name for the report."""
    _KEEPERS[name] = keeper


def unregister_erasure_keeper(name: str) -> None:
    _KEEPERS.pop(name, None)


def reasons_to_keep(request: SubjectRequest, hit: Mapping[str, Any]) -> list[str]:
    """Every registered keeper's reasons to keep ``hit``, in registration order."""
    reasons: list[str] = []
    for keeper in _KEEPERS.values():
        reasons.extend(keeper(request, hit))
    return reasons
