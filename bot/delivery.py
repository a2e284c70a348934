"""The delivery worker: takes due rows from the outbox and sends them, one transport each.

No database transaction is open while a message is on the network: rows are claimed, rendered,
sent, and their outcomes recorded, each step in its own short transaction on the database thread.
Up to `window` messages are in flight at once (on the network, or sent and waiting for their
outcome to be recorded; the runner sizes it to the messenger's pace, `runner.delivery_window`);
the outcomes of messages sent meanwhile are recorded together in one transaction. A crash
therefore sends at most `window` messages again, and one person's messages
still go out one after another.

The messages of an urgent announcement go on a budget of their own where the messenger has one
(`urgent_rate`: Telegram's paid broadcasts, up to 1,000 a second): they are spaced by their own
pacer, so they neither wait for the ordinary pace nor use it up, and reminders claimed beside
them still go out at theirs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable
from functools import partial

from sqlalchemy.exc import OperationalError

from bot.clock import Clock
from bot.transports.base import Progress, RecipientGone, RetryLater, TemporaryFailure, Transport
from db.engine import session_scope
from db.outbox import (
    LIMIT_NOTICE_KINDS,
    claim_due,
    mark_dropped,
    record_failure,
    release_claims,
)
from db.outbox import retry_after as reschedule_after
from handlers.conversation import Conversation, Notice

log = logging.getLogger(__name__)

# How many seconds of sending one claim may hold at the messenger's rate: a row that becomes
# due meanwhile (a reminder behind an announcement) waits at most about this long.
CLAIM_SECONDS = 2.0
MAX_CLAIM = 50
# While the database cannot be written (locked past its busy timeout, read-only), the outcome
# of a message in hand is recorded again after these pauses (doubling up to the longest).
RECORD_RETRY_FIRST = 0.1
# How long a message waits when it could not even be read for sending.
DATABASE_AWAY_SECONDS = 2.0
RECORD_RETRY_LONGEST = 5.0


# Looked again this long after a pause ends, so what it held back is due by then.
PAUSE_MARGIN_SECONDS = 0.05


class Pacer:
    """Spaces calls so that at most `rate` happen per second, and pauses when told to."""

    def __init__(
        self,
        rate: float,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.interval = 1.0 / rate
        self._monotonic = monotonic
        self._sleep = sleep
        self._next = 0.0
        self._paused_until = 0.0

    @property
    def paused(self) -> bool:
        """Whether a pause the messenger asked for is still running."""
        return self._monotonic() < self._paused_until

    async def wait(self, *, through_pause: bool = False) -> None:
        """Return when the next call may happen; `through_pause` keeps only the spacing."""
        now = self._monotonic()
        ready = self._next if through_pause else max(self._next, self._paused_until)
        if now < ready:
            await self._sleep(ready - now)
            now = ready
        self._next = now + self.interval

    def pause(self, seconds: float) -> None:
        self._paused_until = max(self._paused_until, self._monotonic() + seconds)

    def pause_left(self) -> float:
        """Seconds until a pause the messenger asked for ends (0 when there is none)."""
        return max(0.0, self._paused_until - self._monotonic())


class DeliveryWorker:
    """Sends one transport's due outbox rows at that messenger's rate.

    With `recipient`, only the rows of that one person on the transport: a console session
    delivers its own user's messages, and leaves everyone else's for their own sessions.
    """

    def __init__(
        self,
        *,
        conversation: Conversation,
        transport: Transport,
        clock: Clock,
        rate: float,
        max_attempts: int,
        batch: int | None = None,
        pacer: Pacer | None = None,
        rng: random.Random | None = None,
        recipient: str | None = None,
        window: int = 1,
        urgent_rate: float | None = None,
    ) -> None:
        self.conversation = conversation
        self.transport = transport
        self.recipient = recipient
        self.clock = clock
        self.max_attempts = max_attempts
        # Claim little at a time: what is claimed is sent before anything else is looked at.
        seconds_worth = rate * CLAIM_SECONDS
        self.batch = batch or (
            MAX_CLAIM
            if math.isinf(seconds_worth)
            else max(1, min(MAX_CLAIM, math.ceil(seconds_worth)))
        )
        self.pacer = pacer or Pacer(rate)
        # Urgent notices' own pace (None: they keep the ordinary one).
        self.urgent_pacer = Pacer(urgent_rate) if urgent_rate else None
        self.rng = rng or random.Random()
        # Messages on the network or waiting for their outcome to be recorded: a crash sends at
        # most these again (the rows stay claimed until the next holder of the lock takes over).
        self.window = max(1, window)
        self._slots = asyncio.Semaphore(self.window)
        self._tasks: set[asyncio.Task[None]] = set()
        self._in_flight: dict[str, asyncio.Task[None]] = {}
        self._unrecorded: list[tuple[int, list[str] | None, asyncio.Future[None]]] = []
        self._recorder: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._stopped = False

    def wake(self) -> None:
        """Look for due rows now rather than at the next poll."""
        self._wake.set()

    def stop(self) -> None:
        """Finish the messages in flight and send nothing more."""
        self._stopped = True
        self._wake.set()

    def restart(self) -> None:
        """Allow sending again after `stop` (this process took delivery over once more)."""
        self._stopped = False

    async def run(self, *, poll_seconds: float = 2.0) -> None:
        """Deliver until cancelled, looking again when woken or every `poll_seconds`."""
        while not self._stopped:
            try:
                sent = await self.deliver_due()
            except Exception:
                log.exception("%s delivery pass failed; trying again shortly", self.transport.name)
                sent = 0
            if sent:
                continue
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.idle_timeout(poll_seconds))

    def idle_timeout(self, poll_seconds: float) -> float:
        """How long to wait for work: until the next poll, or until a shorter pause ends (a
        homeserver's 429 asks for a fraction of a second), when the rows it held back are due."""
        left = self.pacer.pause_left()
        return min(poll_seconds, left + PAUSE_MARGIN_SECONDS) if left else poll_seconds

    async def deliver_due(self) -> int:
        """Send every row that is due now (in batches); return how many rows were handled."""
        handled = 0
        try:
            while not self._stopped:
                # While the messenger makes us wait, only the admins' notices of that go out.
                paused = self.pacer.paused
                ids = await self.conversation.run_db(self._claim, paused)
                if ids:
                    await self._deliver_claimed(ids, paused)
                handled += len(ids)
                if len(ids) < self.batch:
                    break
        finally:
            await self._settle()
        return handled

    async def _deliver_claimed(self, ids: list[int], paused: bool) -> None:
        """Render a claim in one trip to the database, then send it through the window."""
        rendered = await self.conversation.run_db(self.conversation.render_notices, ids)
        for message_id, notice in zip(ids, rendered, strict=True):
            if not await self._may_go_on(paused):
                return
            if isinstance(notice, OperationalError):
                # The database is away (locked, read-only), not the message at fault: it goes
                # back in the queue for a moment, and the attempt does not count.
                await self._record(self._retry, message_id, DATABASE_AWAY_SECONDS, 0)
                continue
            if isinstance(notice, Exception):
                log.error("could not render outbox message %s", message_id, exc_info=notice)
                await self._record(self._failed, message_id, f"render: {type(notice).__name__}")
                continue
            if notice is None:
                continue
            await self._slots.acquire()
            # One person's messages go out one after another, in the order they were claimed.
            earlier = self._in_flight.get(notice.user_key)
            if earlier is not None:
                await asyncio.wait([earlier])
            # What went out meanwhile may have met a limit, or the worker was told to stop.
            if not await self._may_go_on(paused, holding_slot=True):
                return
            pacer = self.pacer
            if notice.urgent and self.urgent_pacer is not None:
                pacer = self.urgent_pacer
            await pacer.wait(through_pause=paused)
            task = asyncio.create_task(self._send(message_id, notice))
            self._in_flight[notice.user_key] = task
            self._tasks.add(task)
            task.add_done_callback(partial(self._sent_off, notice.user_key))

    async def _may_go_on(self, paused: bool, *, holding_slot: bool = False) -> bool:
        """Return whether the next claimed message may be sent; if not, leave it claimed, or
        put the claims back in the queue when a limit began."""
        if not self._stopped and not (self.pacer.paused and not paused):
            return True
        if holding_slot:
            self._slots.release()
        if not self._stopped:
            # A limit began: the rest go back in the queue to wait it out, where the admins'
            # notice of it can pass them. What is in flight finishes first.
            await self._settle()
            await self._record(self.release_claims)
        # Stopped: the rest stay claimed until the holder of the delivery lock puts them back,
        # this process when it stops, or the next one when it takes over.
        return False

    def _sent_off(self, user_key: str, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if self._in_flight.get(user_key) is task:
            del self._in_flight[user_key]
        self._slots.release()
        if not task.cancelled() and task.exception() is not None:
            log.error(
                "%s delivery: recording an outcome failed",
                self.transport.name,
                exc_info=task.exception(),
            )

    async def _settle(self) -> None:
        """Wait until every message in flight was sent and its outcome recorded."""
        while self._tasks:
            await asyncio.wait(list(self._tasks))

    def _claim(self, paused: bool = False) -> list[int]:
        with session_scope(self.conversation.engine) as session:
            return claim_due(
                session,
                transport=self.transport.name,
                now=self.clock.now(),
                limit=self.batch,
                kinds=LIMIT_NOTICE_KINDS if paused else None,
                recipient=self.recipient,
            )

    def release_claims(self) -> int:
        """Put this worker's claimed but unsent rows back in the queue (lock holder only)."""
        with session_scope(self.conversation.engine) as session:
            return release_claims(session, transport=self.transport.name, recipient=self.recipient)

    async def _send(self, message_id: int, notice: Notice) -> None:
        """Send one rendered message and record its outcome; its window slot is held till then."""
        progress = Progress(notice.parts_sent, key=f"outbox-{message_id}")
        try:
            await self.transport.send(notice.user_key, notice.replies, progress)
        except RetryLater as exc:
            self.pacer.pause(exc.retry_after)
            if self.urgent_pacer is not None:
                self.urgent_pacer.pause(exc.retry_after)
            await self._record(self._retry, message_id, exc.retry_after, progress.sent)
        except RecipientGone:
            await self._record(self.conversation.deactivate, self.transport.name, notice.user_key)
            await self._record(self._drop, message_id, "recipient gone")
        except TemporaryFailure as exc:
            await self._record(self._failed, message_id, f"temporary: {exc}", progress.sent)
        except Exception as exc:
            log.exception("unexpected error sending outbox message %s", message_id)
            await self._record(self._failed, message_id, type(exc).__name__, progress.sent)
        else:
            await self._record_sent(message_id, notice)

    async def _record_sent(self, message_id: int, notice: Notice) -> None:
        """Record a sent message together with the others sent meanwhile (group commit)."""
        done = asyncio.get_running_loop().create_future()
        self._unrecorded.append((message_id, notice.menu, done))
        if self._recorder is None:
            self._recorder = asyncio.create_task(self._record_sent_batches())
        await done

    async def _record_sent_batches(self) -> None:
        try:
            while self._unrecorded:
                batch, self._unrecorded = self._unrecorded, []
                try:
                    await self._record(
                        self.conversation.record_deliveries, [(m, menu) for m, menu, _ in batch]
                    )
                except BaseException as exc:
                    for _m, _menu, done in batch:
                        if not done.done():
                            done.set_exception(exc)
                    if isinstance(exc, asyncio.CancelledError):
                        raise
                    continue
                for _m, _menu, done in batch:
                    if not done.done():
                        done.set_result(None)
        finally:
            self._recorder = None

    async def _record(self, step: Callable[..., object], *args: object) -> None:
        """Record the outcome of a message in hand, waiting for the database if it is away.

        Giving up would leave the row claimed: a message already sent would go out again once
        its claim expires, and the rest of the batch would wait for that too.
        """
        pause = RECORD_RETRY_FIRST
        while True:
            try:
                await self.conversation.run_db(step, *args)
                return
            except OperationalError as exc:
                if self._stopped:
                    raise  # the claim expires and the row is sent again by the next process
                if pause == RECORD_RETRY_FIRST:
                    log.warning(
                        "%s delivery: cannot record an outcome (%s); trying again until I can",
                        self.transport.name,
                        exc.orig if exc.orig is not None else exc,
                    )
                await asyncio.sleep(pause)
                pause = min(pause * 2, RECORD_RETRY_LONGEST)

    def _retry(self, message_id: int, seconds: float, parts_sent: int) -> None:
        with session_scope(self.conversation.engine) as session:
            reschedule_after(
                session,
                message_id=message_id,
                now=self.clock.now(),
                seconds=seconds,
                parts_sent=parts_sent,
            )

    def _drop(self, message_id: int, reason: str) -> None:
        with session_scope(self.conversation.engine) as session:
            mark_dropped(session, message_id=message_id, reason=reason)

    def _failed(self, message_id: int, error: str, parts_sent: int = 0) -> None:
        with session_scope(self.conversation.engine) as session:
            dead = record_failure(
                session,
                message_id=message_id,
                now=self.clock.now(),
                error=error,
                max_attempts=self.max_attempts,
                rng=self.rng,
                parts_sent=parts_sent,
            )
        if dead:
            log.warning(
                "outbox message %s gave up after %s attempts", message_id, self.max_attempts
            )
