"""Which deployment of a route answers a request: the canary for its share of request keys, the primary otherwise.

Deterministic by the request's key (the rows form's ``key``, OIP's ``parameters.assay_key`` or the ``Assay-Key``
header; the request id when none is given), so that one customer always meets the same version while the canary's
share stays put: SHA-256 of the key, its first eight bytes as a number, modulo 100, below ``traffic_percent``.
Raising the share keeps every key that met the canary with it.
"""

from __future__ import annotations

import hashlib


def bucket(key: str) -> int:
    """The key's bucket, 0 to 99, the same in every process and release."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") % 100


def takes_canary(key: str, traffic_percent: int) -> bool:
    return bucket(key) < traffic_percent


def key_digest(key: str) -> str:
    """What a prediction log keeps of the routing key (it may be a customer's identifier)."""
    return hashlib.sha256(key.encode()).hexdigest()
