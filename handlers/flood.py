"""Per-user flood control: a token bucket per user, so one person cannot drown the bot."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from bot.clock import Clock


@dataclass
class _Bucket:
    tokens: float
    updated: float
    warned: bool = False


class FloodGate:
    """Let each user send a burst of messages, then about one a second; others are unaffected."""

    def __init__(
        self, clock: Clock, *, burst: int, per_second: float = 1.0, remembered: int = 50_000
    ) -> None:
        self.clock = clock
        self.burst = burst
        self.per_second = per_second
        self.remembered = remembered
        self._buckets: OrderedDict[tuple[str, str], _Bucket] = OrderedDict()

    def admit(self, key: tuple[str, str]) -> str:
        """Return "ok" to answer, "warn" to say once to slow down, or "drop" to stay silent."""
        now = self.clock.now().timestamp()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = _Bucket(tokens=float(self.burst), updated=now)
            self._buckets[key] = bucket
            while len(self._buckets) > self.remembered:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
            bucket.tokens = min(
                self.burst, bucket.tokens + (now - bucket.updated) * self.per_second
            )
            bucket.updated = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            bucket.warned = False
            return "ok"
        if bucket.warned:
            return "drop"
        bucket.warned = True
        return "warn"
