"""Rate limits per token: a token bucket of ``burst`` requests refilled at ``requests_per_second``, per process.

Each inference process keeps its own buckets (no shared state between replicas): with N processes a token may reach
N times its rate in all. The clock is passed in, so that the arithmetic is tested without waiting.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field


@dataclass
class TokenBucket:
    rate: float
    burst: float
    tokens: float = field(init=False)
    updated: float = field(init=False, default=-math.inf)

    def __post_init__(self) -> None:
        self.tokens = self.burst

    def take(self, now: float) -> float:
        """0 when a request may go now (one token taken); otherwise the seconds until one may."""
        if self.updated != -math.inf:
            self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


class RateLimits:
    """One bucket per token id, re-made when the token's scope changes its rate or burst."""

    def __init__(self) -> None:
        self._buckets: dict[int, TokenBucket] = {}
        self._lock = threading.Lock()

    def wait(self, token_id: int, rate: int, burst: int, now: float) -> float:
        with self._lock:
            bucket = self._buckets.get(token_id)
            if bucket is None or (bucket.rate, bucket.burst) != (rate, burst):
                bucket = self._buckets[token_id] = TokenBucket(float(rate), float(burst))
            return bucket.take(now)
