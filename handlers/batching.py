"""Group commit: updates that wait for the database thread together are answered together.

While the database thread is busy, the updates that arrive wait in a list. When the thread
comes to them it takes all of them (at most `limit`) and answers them in one call, which the
conversation core makes one transaction with one commit (`Conversation.handle_many`). Nobody
waits for a batch to fill: a lone update goes at once, alone, as before. Each caller gets its
own answer back only once the whole call returned, that is once its transaction committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Generic, TypeVar

In = TypeVar("In")
Out = TypeVar("Out")


class Batches(Generic[In, Out]):
    """Runs `many` on `executor` for whatever is waiting, and gives each caller its result."""

    def __init__(
        self, executor: Executor, many: Callable[[list[In]], list[Out]], *, limit: int = 32
    ) -> None:
        self._executor = executor
        self._many = many
        self.limit = limit
        self._waiting: deque[tuple[In, asyncio.Future[Out]]] = deque()
        # Whether a run is queued on the executor that will take what is waiting; guarded by
        # the lock, since the event loop adds and the executor's thread takes.
        self._queued = False
        self._lock = threading.Lock()

    async def run(self, item: In) -> Out:
        """Return `many`'s result for `item`, run together with whatever else is waiting."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Out] = loop.create_future()
        with self._lock:
            self._waiting.append((item, future))
            start = not self._queued
            self._queued = True
        if start:
            self._submit(loop)
        return await future

    def _submit(self, loop: asyncio.AbstractEventLoop) -> None:
        try:
            self._executor.submit(self._run_waiting, loop)
        except RuntimeError as exc:  # the executor was shut down: nobody will take these
            with self._lock:
                taken = list(self._waiting)
                self._waiting.clear()
                self._queued = False
            _call_soon(loop, _fail, taken, exc)

    def _run_waiting(self, loop: asyncio.AbstractEventLoop) -> None:
        """On the executor's thread: take what waits, run it, hand each result back."""
        with self._lock:
            taken = [self._waiting.popleft() for _ in range(min(self.limit, len(self._waiting)))]
            more = bool(self._waiting)
            self._queued = more
        if more:
            # Behind whatever else was queued meanwhile, so other database work is not starved.
            self._submit(loop)
        try:
            results = self._many([item for item, _future in taken])
        except BaseException as exc:
            _call_soon(loop, _fail, taken, exc)
            raise
        _call_soon(loop, _resolve, taken, results)


def _call_soon(
    loop: asyncio.AbstractEventLoop, callback: Callable[..., None], *args: object
) -> None:
    # A closed loop raises RuntimeError: nobody waits for these any more.
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(callback, *args)


def _resolve(taken: list[tuple[object, asyncio.Future[Out]]], results: list[Out]) -> None:
    for (_item, future), result in zip(taken, results, strict=True):
        if not future.done():  # a caller cancelled (a stop) has stopped waiting
            future.set_result(result)


def _fail(taken: list[tuple[object, asyncio.Future[Out]]], exc: BaseException) -> None:
    for _item, future in taken:
        if not future.done():
            future.set_exception(exc)
