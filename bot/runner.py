"""Run the bot: every transport, its delivery worker and the scheduler, in one event loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

from bot.app import App
from bot.delivery import DeliveryLease, DeliveryLocked, DeliveryWorker
from bot.scheduler import Jobs, build_scheduler
from bot.transports.base import Transport

log = logging.getLogger(__name__)


def delivery_rate(app: App, transport: Transport) -> float:
    """Return how many proactive messages per second a messenger gets from us."""
    if transport.name == "signal":
        return app.settings.signal_rate
    if transport.name == "telegram":
        return app.settings.broadcast_rate
    return 100.0


async def serve(app: App, transports: Sequence[Transport]) -> None:
    """Serve until a transport stops (the console at end of input) or the task is cancelled."""
    workers = [
        DeliveryWorker(
            conversation=app.conversation,
            transport=transport,
            clock=app.clock,
            rate=delivery_rate(app, transport),
            max_attempts=app.settings.delivery_max_attempts,
        )
        for transport in transports
    ]
    lease = DeliveryLease(app.conversation, app.clock)
    try:
        await app.conversation.run_db(lease.acquire)
    except DeliveryLocked as exc:
        log.error("%s", exc)
        workers = []
    jobs = Jobs(
        conversation=app.conversation,
        settings=app.settings,
        clock=app.clock,
        workers=workers,
        lease=lease if workers else None,
    )
    scheduler = build_scheduler(jobs, app.settings) if workers else None
    serving = [asyncio.create_task(t.run(), name=f"{t.name}-transport") for t in transports]
    helpers = [asyncio.create_task(w.run(), name=f"{w.transport.name}-delivery") for w in workers]
    if scheduler is not None:
        scheduler.start()
        await jobs.tick()  # catch up on what fell due while the bot was down
    try:
        done, _pending = await asyncio.wait(serving, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            task.result()  # a transport that failed stops the bot with its error
    finally:
        if scheduler is not None:
            scheduler.shutdown(wait=False)
        for task in (*serving, *helpers):
            task.cancel()
        for task in (*serving, *helpers):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if workers:
            await app.conversation.run_db(lease.release)
