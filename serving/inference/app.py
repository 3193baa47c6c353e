"""The inference service's ASGI application: the Open Inference Protocol v2 REST endpoints and the rows form, for
the deployments the routes name (serving.inference.loaded), behind service-token auth (serving.inference.auth).

A bare ASGI callable rather than a framework's: a request is a handful of dictionary lookups, one ONNX Runtime call
and a buffer append, so that the service costs little more than ONNX Runtime itself. Endpoints (docs/serving.md):

    GET  /v2/health/live | /v2/health/ready | /metrics
    GET  /{env}/v2                                           server metadata
    GET  /{env}/v2/models/{name}[/versions/{n}]              model metadata
    GET  /{env}/v2/models/{name}[/versions/{n}]/ready
    POST /{env}/v2/models/{name}[/versions/{n}]/infer        OIP v2 inference
    POST /{env}/models/{name}/predict                        the rows form

Scoring runs on the event loop (ONNX Runtime is a few hundred microseconds for a row; a worker process is one core
of throughput, INFERENCE_WORKERS processes add more); anything that may touch the database runs in a thread. The
shadow is scored after the answer is sent.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from django.utils import timezone

from core.models import ApiToken
from serving.choices import DeploymentRole
from serving.inference import contract as contracts
from serving.inference.auth import AuthUnavailable, Caller, NotAllowed, TokenCache, Unauthenticated
from serving.inference.errors import HttpError
from serving.inference.explained import Decider, decided_rows
from serving.inference.limits import RateLimits
from serving.inference.loaded import LoadedRoute, LoadedVersion, Routes
from serving.inference.logbook import Logbook, Row, inputs_digest
from serving.inference.routing import key_digest, takes_canary
from serving.subjects import subject_digest

log = logging.getLogger("assay.inference")

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

SERVER_NAME = "assay-inference"
PROTOCOL_VERSION = "2"
_MODEL_PATH = re.compile(
    r"^/(?P<env>[A-Za-z0-9_-]+)/v2/models/(?P<name>[^/]+)(?:/versions/(?P<version>[0-9]+))?(?P<action>/ready|/infer)?$"
)
_ROWS_PATH = re.compile(r"^/(?P<env>[A-Za-z0-9_-]+)/models/(?P<name>[^/]+)/predict$")
_SERVER_PATH = re.compile(r"^/(?P<env>[A-Za-z0-9_-]+)/v2/?$")


@dataclass
class Response:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    after: Callable[[], Awaitable[None]] | None = None  # work after the answer is sent (the shadow)


@dataclass
class Scoring:
    """One scoring request, whichever its shape, on its way through ``_score``."""

    request_id: uuid.UUID
    started: float
    caller: Caller
    route: LoadedRoute
    pinned: LoadedVersion | None
    key: str
    subject: str
    inputs: Any  # as received: the rows, or OIP's inputs
    rows: int
    feeds_of: Callable[[contracts.Contract], dict[str, Any]]
    answer: Callable[[LoadedVersion, list[Any]], dict[str, Any]]
    # The request's {feature: value} rows (data quality, the explainer): the rows form's as received, OIP's from its
    # checked feeds.
    rows_of: Callable[[contracts.Contract, dict[str, Any]], list[dict[str, Any]]]
    explain: bool = False


class InferenceService:
    def __init__(
        self, *, routes: Routes, logbook: Logbook, tokens: TokenCache, max_body_bytes: int, max_rows: int
    ) -> None:
        self.routes = routes
        self.logbook = logbook
        self.tokens = tokens
        self.limits = RateLimits()
        self.max_body_bytes = max_body_bytes
        self.max_rows = max_rows
        self.requests = 0
        self.refused: dict[int, int] = {}
        self.decider = Decider()
        self._started = False
        self._start_lock = asyncio.Lock()

    # --- Lifecycle ---

    async def start(self) -> None:
        """Load the routes (before the first answer, so that a fresh process is ready at once), start the poller and
        the log writer. Idempotent: the lifespan protocol calls it, and so does the first request where a server
        runs no lifespan."""
        async with self._start_lock:
            if self._started:
                return
            await asyncio.to_thread(self.routes.refresh_safely)
            self.routes.start()
            self.logbook.start()
            self._started = True

    async def stop(self) -> None:
        if self._started:
            self.routes.stop()
            await asyncio.to_thread(self.logbook.stop)
            self._started = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        if not self._started:
            await self.start()
        try:
            response = await self._dispatch(scope, receive)
        except HttpError as error:
            response = Response(error.status, {"error": str(error)}, error.headers)
        except Exception:
            log.exception("inference: request failed")
            response = Response(500, {"error": "Internal error; the request was not scored."})
        self.requests += 1
        if response.status >= 400:
            self.refused[response.status] = self.refused.get(response.status, 0) + 1
        await _send(send, response)
        if response.after is not None:
            try:
                await response.after()
            except Exception:
                log.exception("inference: shadow scoring failed")

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.start()
                except Exception as error:
                    await send({"type": "lifespan.startup.failed", "message": str(error)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return

    # --- Dispatch ---

    async def _dispatch(self, scope: Scope, receive: Receive) -> Response:
        path: str = scope["path"]
        method: str = scope["method"]
        if path == "/v2/health/live":
            return Response(200, {"live": True})
        if path == "/v2/health/ready":
            return self._ready()
        if path == "/metrics":
            return self._metrics()
        headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]}
        if match := _MODEL_PATH.match(path):
            caller = await self._authenticate(scope, headers)
            route = self._route(caller, match["env"], match["name"])
            pinned = self._pinned(route, match["version"])
            if match["action"] == "/infer":
                _require_method(method, "POST")
                body = await self._body(scope, receive, headers)
                return await self._score(self._oip(caller, route, pinned, body, headers))
            _require_method(method, "GET")
            loaded = pinned or route.primary
            if match["action"] == "/ready":
                return Response(200, {"name": match["name"], "version": str(loaded.version_number), "ready": True})
            return Response(200, _model_metadata(match["name"], route, loaded))
        if match := _ROWS_PATH.match(path):
            _require_method(method, "POST")
            caller = await self._authenticate(scope, headers)
            route = self._route(caller, match["env"], match["name"])
            body = await self._body(scope, receive, headers)
            return await self._score(self._rows(caller, route, body, headers))
        if match := _SERVER_PATH.match(path):
            _require_method(method, "GET")
            caller = await self._authenticate(scope, headers)
            self._environment(caller, match["env"])
            return Response(200, {"name": SERVER_NAME, "version": PROTOCOL_VERSION, "extensions": []})
        raise HttpError(404, f"No such endpoint: {method} {path}.")

    def _ready(self) -> Response:
        ready = self._started and self.routes.refreshed_at > 0
        body = {
            "ready": ready,
            "models": sum(len(names) for names in self.routes.snapshot.environments.values()),
            "load_refusals": self.routes.load_refusals,
            "logs_buffered": self.logbook.depth,
            "logs_dropped": self.logbook.dropped,
            "logs_spooled": len(self.logbook.spool_files),
        }
        return Response(200 if ready else 503, body)

    def _metrics(self) -> Response:
        lines = {
            "assay_inference_requests_total": self.requests,
            "assay_inference_load_refusals_total": self.routes.load_refusals,
            "assay_inference_route_refresh_failures_total": self.routes.refresh_failures,
            "assay_inference_logs_buffered": self.logbook.depth,
            "assay_inference_logs_written_total": self.logbook.written,
            "assay_inference_logs_dropped_total": self.logbook.dropped,
            "assay_inference_logs_spooled_total": self.logbook.spooled,
            "assay_inference_logs_rejected_total": self.logbook.rejected,
            "assay_inference_logs_spool_files": len(self.logbook.spool_files),
        }
        text = "".join(f"{name} {value}\n" for name, value in lines.items())
        text += "".join(f'assay_inference_refused_total{{status="{s}"}} {n}\n' for s, n in sorted(self.refused.items()))
        return Response(200, {"text": text}, {"content-type": "text/plain; version=0.0.4"})

    # --- Who, what, how much ---

    async def _authenticate(self, scope: Scope, headers: dict[str, str]) -> Caller:
        challenge = {"www-authenticate": 'Bearer realm="inference"'}
        query = scope.get("query_string", b"").decode("latin-1")
        if query and any(ApiToken.parse(value) is not None for _, value in parse_qsl(query)):
            raise HttpError(401, "Send the token in the Authorization header, never in the URL.", challenge)
        scheme, _, raw = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not raw.strip():
            raise HttpError(401, "Authentication required: 'Authorization: Bearer <service token>'.", challenge)
        raw = raw.strip()
        now = time.monotonic()
        try:
            caller, stale = self.tokens.lookup(raw, now)
            if caller is None:
                caller = await asyncio.to_thread(self.tokens.verify, raw)
            elif stale:
                self.tokens.refresh_in_background(raw)
        except Unauthenticated as error:
            raise HttpError(401, str(error), challenge) from None
        except NotAllowed as error:
            raise HttpError(403, str(error)) from None
        except AuthUnavailable as error:
            raise HttpError(503, str(error), {"retry-after": "5"}) from None
        wait = self.limits.wait(caller.token_id, caller.requests_per_second, caller.burst, now)
        if wait > 0:
            raise HttpError(
                429,
                f"Rate limit of {caller.requests_per_second} requests per second (bursts of {caller.burst}) reached.",
                {"retry-after": str(max(1, math.ceil(wait)))},
            )
        return caller

    def _environment(self, caller: Caller, environment: str) -> dict[str, LoadedRoute]:
        routes = self.routes.snapshot.environments.get(environment)
        if not routes:
            raise HttpError(404, f"Nothing is served in environment {environment!r}.")
        if next(iter(routes.values())).environment_id not in caller.environment_ids:
            raise HttpError(403, f"This token may not score in environment {environment!r}.")
        return routes

    def _route(self, caller: Caller, environment: str, name: str) -> LoadedRoute:
        route = self._environment(caller, environment).get(name)
        if route is None:
            raise HttpError(404, f"No model {name!r} is served in environment {environment!r}.")
        if not caller.may_score(route.environment_id, route.model_id, route.team_id):
            raise HttpError(403, f"This token may not score model {name!r}.")
        return route

    @staticmethod
    def _pinned(route: LoadedRoute, number: str | None) -> LoadedVersion | None:
        if number is None:
            return None
        loaded = route.version(int(number))
        if loaded is None or loaded.role == DeploymentRole.SHADOW:
            raise HttpError(404, f"Version {number} of {route.model_name!r} is not served in {route.environment!r}.")
        return loaded

    async def _body(self, scope: Scope, receive: Receive, headers: dict[str, str]) -> Any:
        """The JSON body, refused with 413 as soon as it is known to exceed the limit (by its Content-Length,
        before reading any of it, or while it streams)."""
        limit = self.max_body_bytes
        declared = headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise HttpError(413, f"The body is {declared} bytes; at most {limit} per request.")
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise HttpError(400, "The client went away before sending its body.")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise HttpError(413, f"The body exceeds {limit} bytes, the most per request.")
            chunks.append(chunk)
            if not message.get("more_body"):
                break
        try:
            body = json.loads(b"".join(chunks))
        except (ValueError, UnicodeDecodeError) as error:
            raise HttpError(400, f"The body is not JSON: {error}.") from None
        if not isinstance(body, dict):
            raise HttpError(400, "The body must be a JSON object.")
        return body

    # --- The two request shapes ---

    def _oip(
        self, caller: Caller, route: LoadedRoute, pinned: LoadedVersion | None, body: dict[str, Any], headers: Any
    ) -> Scoring:
        parameters = body.get("parameters") or {}
        if not isinstance(parameters, dict):
            raise HttpError(400, "'parameters' must be an object.")
        request_id = uuid.uuid4()
        echo = body.get("id")
        inputs = body.get("inputs")
        shape = inputs[0].get("shape") if isinstance(inputs, list) and inputs and isinstance(inputs[0], dict) else None
        rows = shape[0] if isinstance(shape, list) and shape and isinstance(shape[0], int) else 1

        def answer(loaded: LoadedVersion, results: list[Any]) -> dict[str, Any]:
            wanted = contracts.requested_outputs(loaded.contract, body.get("outputs"))
            reply: dict[str, Any] = {
                "model_name": route.model_name,
                "model_version": str(loaded.version_number),
                "outputs": contracts.oip_outputs(loaded.contract, results, wanted),
                "parameters": {"request_id": str(request_id), "deployment": loaded.deployment_id, "role": loaded.role},
            }
            if echo is not None:
                reply["id"] = echo
            return reply

        return Scoring(
            request_id=request_id,
            started=time.perf_counter(),
            caller=caller,
            route=route,
            pinned=pinned,
            key=_text(parameters.get("assay_key") or headers.get("assay-key", ""), "parameters.assay_key"),
            subject=_text(parameters.get("assay_subject") or headers.get("assay-subject", ""), "assay_subject"),
            inputs=inputs,
            rows=rows,
            feeds_of=lambda contract: contracts.oip_feeds(contract, inputs, max_rows=self.max_rows),
            answer=answer,
            rows_of=contracts.feed_rows,
            explain=bool(parameters.get("explain", False)),
        )

    def _rows(self, caller: Caller, route: LoadedRoute, body: dict[str, Any], headers: Any) -> Scoring:
        unknown = sorted(set(body) - {"rows", "key", "subject", "explain"})
        if unknown:
            raise HttpError(400, f"Unknown field {unknown[0]!r}: the rows form takes rows, key, subject and explain.")
        explain = body.get("explain", False)
        if not isinstance(explain, bool):
            raise HttpError(400, "'explain' must be true or false.")
        rows = body.get("rows")
        request_id = uuid.uuid4()

        def answer(loaded: LoadedVersion, results: list[Any]) -> dict[str, Any]:
            count = len(rows) if isinstance(rows, list) else 0
            return {
                "request_id": str(request_id),
                "model": route.model_name,
                "version": loaded.version_number,
                "deployment": loaded.deployment_id,
                "role": loaded.role,
                "predictions": contracts.predictions(loaded.contract, results, count),
                "scores": contracts.scores(loaded.contract, results),
            }

        return Scoring(
            request_id=request_id,
            started=time.perf_counter(),
            caller=caller,
            route=route,
            pinned=None,
            key=_text(body.get("key") or headers.get("assay-key", ""), "key"),
            subject=_text(body.get("subject") or headers.get("assay-subject", ""), "subject"),
            inputs=rows,
            rows=len(rows) if isinstance(rows, list) else 0,
            feeds_of=lambda contract: contracts.rows_feeds(contract, rows, max_rows=self.max_rows),
            answer=answer,
            rows_of=lambda contract, feeds: rows if isinstance(rows, list) else [],
            explain=explain,
        )

    # --- Scoring ---

    async def _score(self, scoring: Scoring) -> Response:
        route = scoring.route
        loaded = scoring.pinned or self._choose(route, scoring.key or str(scoring.request_id))
        try:
            feeds = scoring.feeds_of(loaded.contract)
        except contracts.BadInput as error:
            raise HttpError(400, str(error)) from None
        except contracts.TooManyRows as error:
            raise HttpError(413, str(error)) from None
        feature_rows = scoring.rows_of(loaded.contract, feeds)
        decisions = None
        if scoring.explain or loaded.decision_records_always:
            decisions = await self.decider.decide(loaded, feature_rows)
        results = _run(loaded, feeds)
        body = scoring.answer(loaded, results)
        if decisions is None:
            self.logbook.submit([self._log_row(scoring, loaded, scoring.inputs, feature_rows, body, results)])
        else:
            # A decision record is the decision of one row: each row is logged on its own, with its record, durable
            # before the answer names the records.
            whole = self._log_row(scoring, loaded, scoring.inputs, [], body, results)
            rows = decided_rows(whole, loaded, feature_rows, results, decisions)
            try:
                await asyncio.to_thread(self.logbook.write_now, rows)
            except OSError as error:
                log.error("inference: durable prediction log could not be written: %s", error)
                raise HttpError(503, "The decision cannot be recorded now; it was not answered.") from None
            explained = [
                {"decision_record": str(d.uid), "decision": d.decision, "score": d.score, "reasons": d.reasons}
                for d in decisions
            ]
            if "parameters" in body:  # OIP: what is not a tensor goes in the parameters
                body["parameters"]["decisions"] = explained
            else:
                body["decisions"] = explained
        headers = {"assay-request-id": str(scoring.request_id)}
        shadow = route.shadow if scoring.pinned is None else None
        after = None
        if shadow is not None:

            async def after() -> None:
                self._shadow(scoring, shadow, scoring.inputs)

        return Response(200, body, headers, after)

    @staticmethod
    def _choose(route: LoadedRoute, key: str) -> LoadedVersion:
        canary = route.canary
        if canary is not None and takes_canary(key, canary.traffic_percent):
            return canary
        return route.primary

    def _shadow(self, scoring: Scoring, shadow: LoadedVersion, inputs: Any) -> None:
        started = time.perf_counter()
        try:
            feeds = scoring.feeds_of(shadow.contract)
        except (contracts.BadInput, contracts.TooManyRows) as error:
            log.warning(
                "inference: shadow v%s cannot score request %s: %s", shadow.version_number, scoring.request_id, error
            )
            return
        results = _run(shadow, feeds)
        body = scoring.answer(shadow, results)
        scoring.started = started
        rows = scoring.rows_of(shadow.contract, feeds)
        self.logbook.submit([self._log_row(scoring, shadow, inputs, rows, body, results, returned=False)])

    def _log_row(
        self,
        scoring: Scoring,
        loaded: LoadedVersion,
        inputs: Any,
        feature_rows: list[dict[str, Any]],
        body: dict[str, Any],
        results: list[Any],
        *,
        returned: bool = True,
    ) -> Row:
        route = scoring.route
        keep = loaded.keep_inputs
        outputs = body.get("predictions", body.get("outputs"))
        return {
            "request_id": str(scoring.request_id),
            "logged_at": timezone.now(),
            "environment_id": route.environment_id,
            "model_id": route.model_id,
            "deployment_id": loaded.deployment_id,
            "model_version_id": loaded.version_id,
            "role": loaded.role,
            "returned": returned,
            "token_id": scoring.caller.token_id,
            "caller": scoring.caller.username,
            "routing_key_digest": key_digest(scoring.key) if scoring.key else "",
            "subject_digest": subject_digest(scoring.subject),
            "rows": scoring.rows,
            "inputs": inputs if keep else None,
            # Left to the writer (off the request path) when the inputs are kept; taken now when they are not, so
            # that redacted inputs never wait in memory or reach the spool.
            "inputs_sha256": "" if keep else inputs_digest(inputs),
            "outputs": outputs,
            "scores": body.get("scores", contracts.scores(loaded.contract, results)),
            "latency_us": int((time.perf_counter() - scoring.started) * 1_000_000),
            # Against the version's training statistics (serving.quality), read once when the version was loaded.
            "quality": loaded.profile.assess(feature_rows),
        }


def _run(loaded: LoadedVersion, feeds: dict[str, Any]) -> list[Any]:
    try:
        return loaded.run(feeds)
    except Exception as error:  # ONNX Runtime's InvalidArgument, Fail...: what the contract could not foresee
        raise HttpError(400, f"The model could not score these inputs: {str(error)[:300]}") from None


def _text(value: Any, name: str) -> str:
    if not isinstance(value, str) or len(value) > 256:
        raise HttpError(400, f"'{name}' must be a string of at most 256 characters.")
    return value


def _require_method(method: str, allowed: str) -> None:
    if method != allowed:
        raise HttpError(405, f"{method} is not allowed here; use {allowed}.", {"allow": allowed})


def _model_metadata(name: str, route: LoadedRoute, loaded: LoadedVersion) -> dict[str, Any]:
    served = [v for v in (route.primary, route.canary) if v is not None]
    return {
        "name": name,
        "versions": [str(v.version_number) for v in served],
        "platform": "onnxruntime_onnx",
        "inputs": [spec.as_metadata() for spec in loaded.contract.inputs],
        "outputs": [spec.as_metadata() for spec in loaded.contract.outputs],
        "parameters": {
            "environment": route.environment,
            "version": str(loaded.version_number),
            "deployment": loaded.deployment_id,
            "role": loaded.role,
            "artifact_sha256": loaded.artifact_sha256,
            "features": loaded.contract.features,
        },
    }


async def _send(send: Send, response: Response) -> None:
    if "text" in response.body and response.headers.get("content-type", "").startswith("text/plain"):
        payload = response.body["text"].encode()
    else:
        payload = json.dumps(response.body, separators=(",", ":")).encode()
        response.headers.setdefault("content-type", "application/json")
    headers = [(b"content-length", str(len(payload)).encode())]
    headers += [(name.encode("latin-1"), value.encode("latin-1")) for name, value in response.headers.items()]
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


def process_name() -> str:
    return f"{os.uname().nodename}:{os.getpid()}"
