"""Transports under test: run in a task of the test's event loop, stopped when the block ends."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import TypeVar

from bot.transports.base import Transport
from tests.fake_signal_cli import FakeSignalCli

T = TypeVar("T", bound=Transport)


@contextlib.asynccontextmanager
async def running_transport(
    transport: T, *, ready: Callable[[], bool], what: str, timeout: float
) -> AsyncIterator[T]:
    """Run `transport` until the block ends; the block starts once `ready()` holds.

    A transport that stops before (a wrong setting, say) fails the test with its own error;
    one that is not ready within `timeout` seconds fails it naming `what` it waited for.
    """
    task = asyncio.create_task(transport.run())
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not ready() and not task.done() and loop.time() < deadline:
            await asyncio.sleep(0.005)
        if task.done():
            task.result()
        assert ready(), f"timed out waiting for {what}"
        yield transport
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@contextlib.asynccontextmanager
async def signal_daemon(receive_mode: str = "on-connection") -> AsyncIterator[FakeSignalCli]:
    """The fake `signal-cli daemon --tcp` (tests/fake_signal_cli.py), listening on 127.0.0.1."""
    daemon = FakeSignalCli(receive_mode=receive_mode)
    await daemon.start()
    try:
        yield daemon
    finally:
        await daemon.close()
