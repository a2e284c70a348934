"""Concurrent across chats, in order within each: what a transport needs to answer updates.

Each chat with work waiting has one task that handles its updates one after another, so one
person's messages are answered in the order sent, while a person who floods the bot, or whose
answers wait for their chat's pacing, holds up nobody else. The backlog (updates taken from the
messenger and not yet finished) is bounded: a transport stops fetching while it is full, and
the messenger keeps the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")


class ChatQueues(Generic[T]):
    """Runs `handle` for each item, concurrently across chat keys, in order within one."""

    def __init__(self, handle: Callable[[T], Awaitable[None]], *, bound: int = 1000) -> None:
        self.handle = handle
        self.bound = bound
        self._waiting: dict[str, deque[T]] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._backlog = 0
        self._room = asyncio.Event()
        self._room.set()
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def backlog(self) -> int:
        """Return how many items were taken and are not finished."""
        return self._backlog

    def put(self, key: str, item: T) -> None:
        """Queue an item behind the others of its chat."""
        self._waiting.setdefault(key, deque()).append(item)
        self._backlog += 1
        self._idle.clear()
        if self._backlog >= self.bound:
            self._room.clear()
        if key not in self._tasks:
            self._tasks[key] = asyncio.create_task(self._work(key), name=f"chat-{key}")

    async def room(self) -> None:
        """Return once the backlog is below its bound."""
        await self._room.wait()

    async def drain(self, timeout: float) -> int:
        """Wait until every item is finished, at most `timeout` seconds; cancel what is left.

        Returns how many items were cut short.
        """
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._idle.wait()
        left = self._backlog
        for task in list(self._tasks.values()):
            task.cancel()
        for task in list(self._tasks.values()):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        return left

    async def _work(self, key: str) -> None:
        waiting = self._waiting[key]
        try:
            while waiting:
                item = waiting.popleft()
                try:
                    await self.handle(item)
                except Exception:
                    log.exception("failed to handle an update")
                finally:
                    self._done_one()
        finally:
            # Cancelled (a stop past its time limit): what still waits stays in the backlog.
            del self._tasks[key]
            if not waiting:
                del self._waiting[key]

    def _done_one(self) -> None:
        self._backlog -= 1
        if self._backlog < self.bound:
            self._room.set()
        if self._backlog == 0:
            self._idle.set()
