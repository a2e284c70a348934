"""Telegram's limits: how long it asks us to wait, and the pace of messages to each person."""

from __future__ import annotations

import asyncio
import warnings
from collections import OrderedDict
from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Any

from aiolimiter import AsyncLimiter
from telegram.error import RetryAfter
from telegram.ext import AIORateLimiter
from telegram.warnings import PTBDeprecationWarning


def retry_after(exc: RetryAfter) -> float:
    """Return how many seconds Telegram asked us to wait."""
    with warnings.catch_warnings():
        # PTB 22 warns that this becomes a timedelta in its next major version; both work here.
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class ChatPacer:
    """Let each private chat get a short burst, then about `rate` messages a second."""

    def __init__(self, *, rate: float, burst: int, remember: int = 10_000) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("the rate must be positive and the burst at least 1")
        self.rate = rate
        self.burst = burst
        self.remember = remember
        # chat id -> (tokens, when counted); least recently used first.
        self._buckets: OrderedDict[int, tuple[float, float]] = OrderedDict()

    async def wait(self, chat_id: int) -> None:
        """Wait until `chat_id` may receive one more message, and count it."""
        loop = asyncio.get_running_loop()
        while True:
            now = loop.time()
            tokens, counted = self._buckets.pop(chat_id, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - counted) * self.rate)
            if tokens >= 1.0:
                self._buckets[chat_id] = (tokens - 1.0, now)
                # A forgotten chat starts with a full burst again: harmless for idle chats.
                while len(self._buckets) > self.remember:
                    self._buckets.popitem(last=False)
                return
            self._buckets[chat_id] = (tokens, now)
            await asyncio.sleep((1.0 - tokens) / self.rate)


class PacedRateLimiter(AIORateLimiter):
    """PTB's limiter (about 30 messages/s overall, 20/min per group), plus pacing per person.

    Messages sent with `allow_paid_broadcast` pass PTB's overall limit on a budget of their own
    (PTB's 1,000 a second, the Bot API's most); `paid_rate` holds them to fewer (0: no more).
    """

    def __init__(self, pacer: ChatPacer, *, paid_rate: float = 0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.pacer = pacer
        self._paid = AsyncLimiter(paid_rate, time_period=1) if paid_rate else None

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        """Pace messages to a person, then apply PTB's limits and retries."""
        chat_id = data.get("chat_id")
        # Positive chat ids are people; groups already get the group limit from PTB's limiter.
        if endpoint.startswith("send") and isinstance(chat_id, int) and chat_id > 0:
            await self.pacer.wait(chat_id)
        if self._paid is not None and data.get("allow_paid_broadcast"):
            async with self._paid:
                return await super().process_request(
                    callback, args, kwargs, endpoint, data, rate_limit_args
                )
        return await super().process_request(
            callback, args, kwargs, endpoint, data, rate_limit_args
        )
