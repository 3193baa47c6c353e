"""Who is calling the inference service: a service account's API token (core.tokens.verify_token, the REST API's
rule) with an inference scope (serving.models.InferenceScope).

A verdict is kept for INFERENCE_TOKEN_CACHE_SECONDS, keyed by a digest of the presented token, so that the request
path asks the database nothing in the steady state; a revocation or a scope change therefore bites within that
time. While the database is down, a token verified before keeps its last verdict (the service keeps answering the
callers it knows); an unknown one is answered 503.
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass

from django.db import DatabaseError

from core.tokens import TokenRefused, verify_token
from serving.models import InferenceScope


class Unauthenticated(Exception):
    """401: no token, or one that does not authenticate."""


class NotAllowed(Exception):
    """403: a token that authenticates but may not score here."""


class AuthUnavailable(Exception):
    """503: the token could not be verified (the database is down) and was not known before."""


@dataclass(frozen=True)
class Caller:
    """A verified service token and its scope. ``model_ids`` None: every model of ``team_id``."""

    token_id: int
    username: str
    team_id: int
    environment_ids: frozenset[int]
    model_ids: frozenset[int] | None
    requests_per_second: int
    burst: int

    def may_score(self, environment_id: int, model_id: int, model_team_id: int) -> bool:
        if environment_id not in self.environment_ids:
            return False
        if self.model_ids is None:
            return model_team_id == self.team_id
        return model_id in self.model_ids


def load_caller(raw: str) -> Caller:
    """Verify ``raw`` against the database (a few queries): Unauthenticated or NotAllowed if it may not score."""
    try:
        token = verify_token(raw)
    except TokenRefused as refused:
        raise Unauthenticated(str(refused)) from None
    scope = (
        InferenceScope.objects.select_related("token__user__service_account")
        .prefetch_related("environments", "registered_models")
        .filter(token_id=token.pk)
        .first()
    )
    account = getattr(token.user, "service_account", None)
    if account is None:
        raise NotAllowed("Only service-account tokens score in the inference service.")
    if scope is None:
        raise NotAllowed("This token has no inference scope: a team admin sets one (assay tokens scope).")
    models = frozenset(model.pk for model in scope.registered_models.all())
    return Caller(
        token_id=token.pk,
        username=token.user.get_username(),
        team_id=account.team_id,
        environment_ids=frozenset(environment.pk for environment in scope.environments.all()),
        model_ids=models or None,
        requests_per_second=scope.requests_per_second,
        burst=scope.burst,
    )


@dataclass
class _Verdict:
    at: float
    caller: Caller | None
    refusal: Exception | None


class TokenCache:
    """Verdicts on presented tokens, fresh for ``ttl`` seconds."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._verdicts: dict[str, _Verdict] = {}
        self._lock = threading.Lock()

    @staticmethod
    def key(raw: str) -> str:
        return hashlib.sha256(raw.encode()).hexdigest()

    def fresh(self, raw: str, now: float) -> Caller | None:
        """The cached caller of ``raw`` if its verdict is fresh (raising its refusal if it was refused); None when
        the database must be asked (``verify``)."""
        verdict = self._verdicts.get(self.key(raw))
        if verdict is None or now - verdict.at > self.ttl:
            return None
        if verdict.refusal is not None:
            raise verdict.refusal
        return verdict.caller

    def verify(self, raw: str) -> Caller:
        """Ask the database (blocking: run it off the event loop) and remember the verdict."""
        key = self.key(raw)
        try:
            caller = load_caller(raw)
        except (Unauthenticated, NotAllowed) as refusal:
            self._remember(key, _Verdict(time.monotonic(), None, refusal))
            raise
        except DatabaseError:
            known = self._verdicts.get(key)
            if known is not None and known.caller is not None:
                return known.caller
            raise AuthUnavailable("The token cannot be verified now (the database is unavailable).") from None
        self._remember(key, _Verdict(time.monotonic(), caller, None))
        return caller

    def _remember(self, key: str, verdict: _Verdict) -> None:
        with self._lock:
            if len(self._verdicts) > 10_000:  # a flood of distinct bad tokens must not grow memory without end
                self._verdicts.clear()
            self._verdicts[key] = verdict
