"""Who is calling the inference service: a service account's API token (core.tokens.verify_token, the REST API's
rule) with an inference scope (serving.models.InferenceScope).

A verdict is kept for INFERENCE_TOKEN_CACHE_SECONDS, keyed by a digest of the presented token, so that the request
path asks the database nothing in the steady state. Past that time a known token is still answered at once while a
background thread verifies it again, so a revocation or a scope change bites within that time plus one
verification. While the database is down, a token verified before keeps its last verdict (the service keeps
answering the callers it knows); an unknown one is answered 503.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from dataclasses import dataclass

from django.db import DatabaseError, connection

from core.tokens import TokenRefused, verify_token
from serving.models import InferenceScope

log = logging.getLogger("assay.inference")


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
        self._refreshing: set[str] = set()
        self._lock = threading.Lock()

    @staticmethod
    def key(raw: str) -> str:
        return hashlib.sha256(raw.encode()).hexdigest()

    def lookup(self, raw: str, now: float) -> tuple[Caller | None, bool]:
        """The cached caller of ``raw`` and whether its verdict is stale (a refusal still fresh is raised); ``(None,
        False)`` when the database must be asked before answering (``verify``). A stale caller is answered at once
        and verified again in the background (``refresh_in_background``): only a token never seen waits on the
        database, so that a slow or unreachable database does not slow down the callers the service knows."""
        verdict = self._verdicts.get(self.key(raw))
        if verdict is None:
            return None, False
        fresh = now - verdict.at <= self.ttl
        if verdict.refusal is not None:
            if fresh:
                raise verdict.refusal
            return None, False
        return verdict.caller, not fresh

    def verify(self, raw: str) -> Caller:
        """Ask the database (blocking: run it off the event loop) and remember the verdict."""
        key = self.key(raw)
        try:
            caller = load_caller(raw)
        except (Unauthenticated, NotAllowed) as refusal:
            self._remember(key, _Verdict(time.monotonic(), None, refusal))
            raise
        except DatabaseError:
            connection.close()  # a broken connection is not reused; the next attempt connects afresh
            known = self._verdicts.get(key)
            if known is not None and known.caller is not None:
                # Keep the last verdict for another period rather than asking the database on every request.
                self._remember(key, _Verdict(time.monotonic(), known.caller, None))
                return known.caller
            raise AuthUnavailable("The token cannot be verified now (the database is unavailable).") from None
        self._remember(key, _Verdict(time.monotonic(), caller, None))
        return caller

    def refresh_in_background(self, raw: str) -> None:
        """Verify ``raw`` again in a thread of its own, once at a time per token."""
        key = self.key(raw)
        with self._lock:
            if key in self._refreshing:
                return
            self._refreshing.add(key)
        threading.Thread(target=self._refresh, args=(raw, key), name="inference-token", daemon=True).start()

    def _refresh(self, raw: str, key: str) -> None:
        try:
            self.verify(raw)
        except (Unauthenticated, NotAllowed, AuthUnavailable):
            pass  # remembered: the next request meets it
        except Exception:
            log.exception("inference: token verification failed")
        finally:
            connection.close()
            with self._lock:
                self._refreshing.discard(key)

    def _remember(self, key: str, verdict: _Verdict) -> None:
        with self._lock:
            if len(self._verdicts) > 10_000:  # a flood of distinct bad tokens must not grow memory without end
                self._verdicts.clear()
            self._verdicts[key] = verdict
