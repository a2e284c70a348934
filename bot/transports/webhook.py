"""The queue a webhook server puts posted updates on: `put` returns once they are kept.

python-telegram-bot's webhook handler (`telegram.ext._utils.webhookhandler.TelegramHandler.post`)
awaits `update_queue.put(update)` and only then answers the request. With this queue that answer
(the 200 that tells Telegram the update arrived) goes out after the update is stored, so a
kill -9 loses no update: one not yet stored gets no 2xx, and Telegram posts it again (Bot API,
setWebhook: "In case of an unsuccessful request (a request with response HTTP status code
different from 2XY), we will repeat the request"). An error while storing answers 500.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any


class KeepingQueue(asyncio.Queue[Any]):
    """An update queue whose `put` hands each item to `keep` and waits until it is done."""

    def __init__(self, keep: Callable[[Any], Awaitable[None]]) -> None:
        super().__init__()
        self._keep = keep

    async def put(self, item: Any) -> None:
        await self._keep(item)

    def put_nowait(self, item: Any) -> None:
        raise RuntimeError("updates posted to the webhook are kept with `await put(...)`")
