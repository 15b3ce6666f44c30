"""Token bucket for the downlink bandwidth budget (sans-I/O; time is an argument).

``reserve(n, now)`` takes ``n`` bytes from the bucket, going into debt if needed,
and returns how long the caller must wait before sending them. A message larger
than the burst therefore still goes out, just later: the long-run rate is exact.
"""

from __future__ import annotations

__all__ = ["TokenBucket"]


class TokenBucket:
    def __init__(self, rate: float, burst: float, now: float) -> None:
        if rate <= 0 or burst <= 0:
            raise ValueError(f"expected rate > 0 and burst > 0, got rate={rate}, burst={burst}")
        self.rate = rate
        self.burst = burst
        self._tokens = burst
        self._stamp = now

    def reserve(self, n: int, now: float) -> float:
        """Consume ``n`` tokens; return seconds to wait (0.0 when within budget)."""
        if now > self._stamp:
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
        self._tokens -= n
        return 0.0 if self._tokens >= 0 else -self._tokens / self.rate
