"""Run the bot: every transport, and the duties this process owns, in one event loop.

Conversations are served by every process. Delivery (one duty per messenger) and the scheduler
are done by the process that holds their lock; see bot/ownership.py. The console is a
messenger of one person per terminal: its delivery duty is that person's alone, with a lock of
their own, so `engagebot chat --user NAME` shows NAME's messages and nobody else's, and a
message for someone without an open session waits in the outbox for their next one.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hashlib
import logging
import math
import re
from collections.abc import Sequence

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.app import App
from bot.delivery import DeliveryWorker
from bot.ownership import hold
from bot.scheduler import Jobs, build_scheduler
from bot.transports.base import Transport
from bot.transports.console import ConsoleTransport
from db.locks import owner_lock

log = logging.getLogger(__name__)

# How long a stopping sender may take to finish the message in hand.
STOP_GRACE_SECONDS = 10.0


def delivery_rate(app: App, transport: Transport) -> float:
    """Return how many proactive messages per second a messenger gets from us."""
    if transport.name == "signal":
        return app.settings.signal_rate
    if transport.name == "telegram":
        return app.settings.broadcast_rate
    if transport.name == "matrix":
        return app.settings.matrix_rate
    return 100.0


def urgent_rate(app: App, transport: Transport) -> float | None:
    """Return the pace of urgent announcements on a messenger that sends them faster for a fee
    (Telegram's paid broadcasts, when the operator enabled them), or None."""
    if transport.name == "telegram" and app.settings.telegram_paid_broadcasts:
        return app.settings.telegram_paid_rate
    return None


# How many messages the delivery worker has in flight on a messenger at once. Telegram takes
# many requests in parallel (and 1,000 a second for paid broadcasts), so one message at a time
# would cap it at one round trip each; Signal and the console get theirs one after another.
# The window covers the pace it serves for one round trip (rate x ROUND_TRIP_SECONDS), at
# least TELEGRAM_WINDOW and at most MAX_WINDOW (also the bound without a pace): a crash sends
# at most the window again.
TELEGRAM_WINDOW = 16
MAX_WINDOW = 64
ROUND_TRIP_SECONDS = 0.25


def delivery_window(transport: Transport, rate: float = 0.0) -> int:
    """Return how many proactive messages may be on their way to a messenger at once, when
    it gets up to `rate` of them a second."""
    if transport.name != "telegram":
        return 1
    if math.isinf(rate) or math.isnan(rate):
        return MAX_WINDOW
    return max(TELEGRAM_WINDOW, min(MAX_WINDOW, math.ceil(rate * ROUND_TRIP_SECONDS)))


# Console names that can stand in a lock file's name as they are.
_PLAIN_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")


def recipient_of(transport: Transport) -> str | None:
    """Return the one person a transport delivers to (a console session), or None for all."""
    return transport.user_key if isinstance(transport, ConsoleTransport) else None


def delivery_lock_name(transport: str, recipient: str | None = None) -> str:
    """Return the name of the lock whose holder sends a messenger's (or one person's) rows."""
    if recipient is None:
        return f"delivery-{transport}"
    if _PLAIN_NAME.fullmatch(recipient):
        return f"delivery-{transport}-{recipient}"
    digest = hashlib.sha256(recipient.encode()).hexdigest()[:16]
    return f"delivery-{transport}~{digest}"


class Delivery:
    """The duty of sending one messenger's outbox."""

    def __init__(self, app: App, worker: DeliveryWorker) -> None:
        self.app = app
        self.worker = worker
        self.name = f"{worker.transport.name} delivery"
        if worker.recipient is not None:  # logs name people by a keyed hash only
            whom = app.conversation.user_ref(worker.transport.name, worker.recipient)
            self.name += f" for {whom}"
        self._running: asyncio.Task[None] | None = None

    async def run(self) -> None:
        worker = self.worker
        # Whoever held the lock before is gone: what it had claimed, nobody else will send.
        released = await self.app.conversation.run_db(worker.release_claims)
        if released:
            log.warning(
                "%s: %s messages claimed by a stopped sender go out again", self.name, released
            )
        worker.restart()
        self._running = asyncio.create_task(worker.run())
        await asyncio.shield(self._running)

    async def stop(self, *, still_owner: bool) -> None:
        self.worker.stop()
        if self._running is not None:
            with contextlib.suppress(TimeoutError, asyncio.CancelledError, Exception):
                await asyncio.wait_for(self._running, timeout=STOP_GRACE_SECONDS)
        if still_owner:
            with contextlib.suppress(Exception):
                await self.app.conversation.run_db(self.worker.release_claims)


class Scheduling:
    """The duty of running the scheduler's jobs (reminders, news, digests, retention)."""

    name = "scheduler"

    def __init__(self, jobs: Jobs, app: App) -> None:
        self.jobs = jobs
        self.app = app
        self._scheduler: AsyncIOScheduler | None = None

    async def run(self) -> None:
        self._scheduler = build_scheduler(self.jobs, self.app.settings)
        self._scheduler.start()
        await self.jobs.tick()  # catch up on what fell due while nobody ran the scheduler
        await asyncio.Event().wait()

    async def stop(self, *, still_owner: bool) -> None:
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None


def _delivery_worker(app: App, transport: Transport) -> DeliveryWorker:
    rate, urgent = delivery_rate(app, transport), urgent_rate(app, transport)
    return DeliveryWorker(
        conversation=app.conversation,
        transport=transport,
        clock=app.clock,
        rate=rate,
        max_attempts=app.settings.delivery_max_attempts,
        recipient=recipient_of(transport),
        window=delivery_window(transport, max(rate, urgent or 0.0)),
        urgent_rate=urgent,
    )


async def serve(app: App, transports: Sequence[Transport]) -> None:
    """Serve until a transport stops (the console at end of input) or the task is cancelled."""
    workers = [_delivery_worker(app, transport) for transport in transports]
    jobs = Jobs(
        conversation=app.conversation, settings=app.settings, clock=app.clock, workers=workers
    )
    duties = [
        *(
            (
                owner_lock(app.engine, delivery_lock_name(worker.transport.name, worker.recipient)),
                Delivery(app, worker),
            )
            for worker in workers
        ),
        (owner_lock(app.engine, "scheduler"), Scheduling(jobs, app)),
    ]
    # Everything loaded so far (modules, catalogs, settings) lives as long as the process: keep
    # it out of the garbage collector's full passes, which otherwise stop every answer for
    # 100-200 ms now and then (benchmarks/RESULTS.md, "Long jobs beside conversations").
    gc.freeze()
    serving = [asyncio.create_task(t.run(), name=f"{t.name}-transport") for t in transports]
    owning = [asyncio.create_task(hold(lock, duty), name=duty.name) for lock, duty in duties]
    try:
        done, _pending = await asyncio.wait(serving, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            task.result()  # a transport that failed stops the bot with its error
    finally:
        # Duties first: senders finish the message in hand while the transports still run.
        for task in owning:
            task.cancel()
        for task in owning:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for task in serving:
            task.cancel()
        for task in serving:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
