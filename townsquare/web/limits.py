"""Per-key rate limits (token buckets) and the request size limit.

Written by hand: a token bucket is ten lines, and the limiting libraries bring storage backends we
do not need. Limits are per process: with N workers a key may make N times the rate.
"""

from __future__ import annotations

import threading
import time


class TokenBucketLimiter:
    """``allow(key)``: True while ``key`` has a token; tokens refill at ``rate`` per second."""

    def __init__(self, rate: float, burst: int, max_keys: int = 100_000) -> None:
        self.rate, self.burst, self.max_keys = rate, float(burst), max_keys
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def allow(self, key: str) -> bool:
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            allowed = tokens >= 1.0
            if len(self._buckets) >= self.max_keys and key not in self._buckets:
                self._buckets.clear()  # a flood of distinct keys: start over rather than grow
            self._buckets[key] = (tokens - 1.0 if allowed else tokens, now)
            return allowed
