"""Signed webhook deliveries (docs/notifications.md, "Webhooks").

A delivery is a JSON POST of the event fixed when it was raised, plus ``delivery`` (its uid, also the
``X-Assay-Delivery`` header) and ``timestamp`` (seconds, when this attempt was sent) inside the body, signed as a
whole: ``X-Assay-Signature: sha256=<hex HMAC-SHA256 of the exact body bytes, keyed with the endpoint's secret>``. A
receiver verifies the signature over the bytes it received, refuses a timestamp older than a few minutes (replay)
and drops a delivery uid it has seen (a retry of a delivery it already took).

Where it may go: the URL passes core.urlpolicy and ``WEBHOOK_ALLOWED_HOSTS`` when the endpoint is saved
(``check_webhook_url``) and again when sent: the host is resolved once, every address is checked
(``urlpolicy.check_address``) and the connection is made to that checked address, never resolved again (DNS
rebinding). Redirects are never followed (a 3xx is a failure), timeouts are short, the response status is recorded.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import socket
import time
import urllib.parse
from datetime import timedelta

import urllib3
from django.conf import settings
from django.db import models
from django.utils import timezone

from core import outbox, urlpolicy
from core.choices import WebhookStatus
from core.models import WebhookDelivery

logger = logging.getLogger(__name__)

SCHEMES = frozenset({"https", "http"})
SEND_LEASE = timedelta(minutes=2)
SWEEP_BATCH = 500
USER_AGENT = "Assay-Webhooks/1"


class WebhookRefused(ValueError):
    """The URL may not receive webhooks (the message says why)."""


def host_allowed(host: str) -> bool:
    """Whether ``WEBHOOK_ALLOWED_HOSTS`` lets webhooks go to ``host`` (a normalised name or address)."""
    for entry in settings.WEBHOOK_ALLOWED_HOSTS:
        entry = entry.strip().lower().rstrip(".")
        if entry == "*" or entry == host or (entry.startswith(".") and (host.endswith(entry) or host == entry[1:])):
            return True
    return False


def _loopback_allowed(address: urlpolicy.Address) -> bool:
    # Tests only: their receiver listens on 127.0.0.1 (settings.WEBHOOK_ALLOW_LOOPBACK is never read from the env).
    return bool(settings.WEBHOOK_ALLOW_LOOPBACK) and address.is_loopback


def check_webhook_url(url: str) -> urllib.parse.SplitResult:
    """Refuse (WebhookRefused) a URL that may not receive webhooks; at save time, before any DNS lookup."""
    if not settings.WEBHOOK_ALLOWED_HOSTS:
        raise WebhookRefused("Webhooks are off on this server: WEBHOOK_ALLOWED_HOSTS allows no host.")
    if len(url) > 500:
        raise WebhookRefused("The URL is longer than 500 characters.")
    try:
        parsed = urllib.parse.urlsplit(url)
        host = urlpolicy.parse_host(urlpolicy.host_of(parsed.netloc))
        if host.address is None or not _loopback_allowed(host.address):
            parsed = urlpolicy.check_url(url, schemes=SCHEMES)
        elif parsed.scheme.lower() not in SCHEMES or "@" in parsed.netloc:
            raise urlpolicy.UrlRefused("Use an http(s) URL without credentials.")
    except (urlpolicy.UrlRefused, ValueError) as error:
        raise WebhookRefused(str(error)) from None
    if not host_allowed(host.name):
        raise WebhookRefused(f"The host {host.name!r} is not in WEBHOOK_ALLOWED_HOSTS.")
    return parsed


def resolve_checked(host: str, port: int) -> str:
    """Resolve ``host`` once and return an address that passes the policy; refuse if any address does not (a name
    that resolves to an internal address among public ones is refused whole)."""
    parsed = urlpolicy.parse_host(host)
    if parsed.address is not None:
        addresses: list[urlpolicy.Address] = [parsed.address]
    else:
        try:
            infos = socket.getaddrinfo(parsed.name, port, type=socket.SOCK_STREAM)
        except socket.gaierror as error:
            raise WebhookRefused(f"The host {host!r} does not resolve: {error}.") from None
        addresses = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
    if not addresses:
        raise WebhookRefused(f"The host {host!r} does not resolve.")
    for address in addresses:
        if not _loopback_allowed(address):
            try:
                urlpolicy.check_address(address)
            except urlpolicy.UrlRefused as error:
                raise WebhookRefused(f"{host} resolves to a refused address: {error}") from None
    return str(addresses[0])


def sign(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signed_request(delivery: WebhookDelivery) -> tuple[bytes, dict[str, str]]:
    """The body and headers of one attempt of ``delivery``."""
    timestamp = int(time.time())
    body = json.dumps(
        {**delivery.payload, "delivery": str(delivery.uid), "timestamp": timestamp},
        sort_keys=True,
        separators=(",", ":"),
    ).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Assay-Delivery": str(delivery.uid),
        "X-Assay-Kind": delivery.kind,
        "X-Assay-Timestamp": str(timestamp),
        "X-Assay-Signature": sign(body, delivery.endpoint.secret),
    }
    return body, headers


def post(url: str, body: bytes, headers: dict[str, str]) -> int:
    """POST ``body`` to ``url`` through a connection to the checked address; returns the response status."""
    parsed = check_webhook_url(url)
    host = urlpolicy.host_of(parsed.netloc).strip("[]")
    https = parsed.scheme.lower() == "https"
    port = parsed.port or (443 if https else 80)
    address = resolve_checked(host, port)
    timeout = urllib3.Timeout(connect=settings.WEBHOOK_TIMEOUT_SECONDS, read=settings.WEBHOOK_TIMEOUT_SECONDS)
    pool: urllib3.HTTPConnectionPool
    if https:
        # Connect to the checked address; verify the certificate (and SNI) for the name in the URL.
        pool = urllib3.HTTPSConnectionPool(
            address, port, timeout=timeout, retries=False, server_hostname=host, assert_hostname=host
        )
    else:
        pool = urllib3.HTTPConnectionPool(address, port, timeout=timeout, retries=False)
    netloc_host = f"[{host}]" if ":" in host else host
    default_port = port == (443 if https else 80)
    target = urllib.parse.urlunsplit(("", "", parsed.path or "/", parsed.query, ""))
    try:
        response = pool.urlopen(
            "POST",
            target,
            body=body,
            headers={**headers, "Host": netloc_host if default_port else f"{netloc_host}:{port}"},
            redirect=False,
            retries=False,
            preload_content=True,
        )
    finally:
        pool.close()
    return int(response.status)


def send_delivery(delivery_id: int) -> bool:
    """Send one pending webhook delivery that is due; True on a 2xx answer."""
    pending = WebhookDelivery.objects.filter(pk=delivery_id, status=WebhookStatus.PENDING)
    if outbox.lease(pending, duration=SEND_LEASE) is None:
        return False
    delivery = WebhookDelivery.objects.select_related("endpoint").get(pk=delivery_id)
    status: int | None = None
    try:
        if not delivery.endpoint.active:
            raise WebhookRefused("The endpoint was deactivated.")
        body, headers = signed_request(delivery)
        status = post(delivery.endpoint.url, body, headers)
        if not 200 <= status < 300:
            note = " (redirects are not followed)" if 300 <= status < 400 else ""
            raise WebhookRefused(f"The receiver answered {status}{note}.")
    except Exception as error:  # network errors, refusals and non-2xx answers alike: recorded and retried
        record_failure(delivery, error, status=status)
        return False
    WebhookDelivery.objects.filter(pk=delivery.pk, status=WebhookStatus.PENDING).update(
        status=WebhookStatus.SENT,
        sent_at=timezone.now(),
        attempts=models.F("attempts") + 1,
        response_status=status,
        last_error="",
        next_attempt_at=None,
    )
    return True


def record_failure(delivery: WebhookDelivery, error: Exception, *, status: int | None) -> None:
    now = timezone.now()
    attempts = delivery.attempts + 1
    failed = attempts >= settings.NOTIFICATION_MAX_ATTEMPTS
    message = f"{type(error).__name__}: {error}"[:10_000]
    WebhookDelivery.objects.filter(pk=delivery.pk, status=WebhookStatus.PENDING).update(
        attempts=attempts,
        last_error=message,
        response_status=status,
        status=WebhookStatus.FAILED if failed else WebhookStatus.PENDING,
        next_attempt_at=None
        if failed
        else now
        + outbox.backoff(
            attempts,
            base_seconds=settings.NOTIFICATION_BACKOFF_SECONDS,
            max_seconds=settings.NOTIFICATION_MAX_BACKOFF_SECONDS,
        ),
    )
    logger.warning("webhook delivery %s failed (attempt %s): %s", delivery.pk, attempts, message)


def send_due(*, limit: int = SWEEP_BATCH) -> tuple[int, int]:
    due = list(
        WebhookDelivery.objects.filter(outbox.due(), status=WebhookStatus.PENDING)
        .order_by("created_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )
    sent = sum(send_delivery(pk) for pk in due)
    return sent, len(due) - sent
