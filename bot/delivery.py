"""The delivery worker: takes due rows from the outbox and sends them, one transport each.

No database transaction is open while a message is on the network: a row is claimed, rendered,
sent, and its outcome recorded, each step in its own short transaction on the database thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta

from sqlalchemy.exc import OperationalError

from bot.clock import Clock
from bot.transports.base import RecipientGone, RetryLater, TemporaryFailure, Transport
from db.engine import session_scope
from db.outbox import (
    acquire_lease,
    claim_due,
    mark_dropped,
    mark_sent,
    record_failure,
    release_lease,
)
from db.outbox import retry_after as reschedule_after
from handlers.conversation import Conversation

log = logging.getLogger(__name__)

LEASE_NAME = "delivery"
# While the database cannot be written (locked past its busy timeout, read-only), the outcome
# of a message in hand is recorded again after these pauses (doubling up to the longest).
RECORD_RETRY_FIRST = 0.1
RECORD_RETRY_LONGEST = 5.0


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

    async def wait(self) -> None:
        """Return when the next call may happen."""
        now = self._monotonic()
        if now < self._next:
            await self._sleep(self._next - now)
            now = self._next
        self._next = now + self.interval

    def pause(self, seconds: float) -> None:
        self._next = max(self._next, self._monotonic() + seconds)


class DeliveryWorker:
    """Sends one transport's due outbox rows at that messenger's rate."""

    def __init__(
        self,
        *,
        conversation: Conversation,
        transport: Transport,
        clock: Clock,
        rate: float,
        max_attempts: int,
        batch: int = 50,
        pacer: Pacer | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.conversation = conversation
        self.transport = transport
        self.clock = clock
        self.max_attempts = max_attempts
        self.batch = batch
        self.pacer = pacer or Pacer(rate)
        self.rng = rng or random.Random()
        self._wake = asyncio.Event()
        self._stopped = False

    def wake(self) -> None:
        """Look for due rows now rather than at the next poll."""
        self._wake.set()

    def stop(self) -> None:
        """Finish the message in hand and send nothing more."""
        self._stopped = True
        self._wake.set()

    async def run(self, *, poll_seconds: float = 5.0) -> None:
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
                await asyncio.wait_for(self._wake.wait(), timeout=poll_seconds)

    async def deliver_due(self) -> int:
        """Send every row that is due now (in batches); return how many rows were handled."""
        handled = 0
        while not self._stopped:
            ids = await self.conversation.run_db(self._claim)
            for message_id in ids:
                if self._stopped:
                    # The rest stay claimed; once the claim is old, whoever delivers sends them.
                    break
                await self._deliver(message_id)
            handled += len(ids)
            if len(ids) < self.batch:
                break
        return handled

    def _claim(self) -> list[int]:
        with session_scope(self.conversation.engine) as session:
            rows = claim_due(
                session, transport=self.transport.name, now=self.clock.now(), limit=self.batch
            )
            return [row.id for row in rows if row.id is not None]

    async def _deliver(self, message_id: int) -> None:
        run_db = self.conversation.run_db
        try:
            notice = await run_db(self.conversation.render_notice, message_id)
        except Exception as exc:
            log.exception("could not render outbox message %s", message_id)
            await self._record(self._failed, message_id, f"render: {type(exc).__name__}")
            return
        if notice is None:
            return
        await self.pacer.wait()
        try:
            await self.transport.send(notice.user_key, notice.replies)
        except RetryLater as exc:
            self.pacer.pause(exc.retry_after)
            await self._record(self._retry, message_id, exc.retry_after)
        except RecipientGone:
            await self._record(self.conversation.deactivate, self.transport.name, notice.user_key)
            await self._record(self._drop, message_id, "recipient gone")
        except TemporaryFailure as exc:
            await self._record(self._failed, message_id, f"temporary: {exc}")
        except Exception as exc:
            log.exception("unexpected error sending outbox message %s", message_id)
            await self._record(self._failed, message_id, type(exc).__name__)
        else:
            await self._record(self._sent, message_id)

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

    def _sent(self, message_id: int) -> None:
        with session_scope(self.conversation.engine) as session:
            mark_sent(session, message_id=message_id, now=self.clock.now())

    def _retry(self, message_id: int, seconds: float) -> None:
        with session_scope(self.conversation.engine) as session:
            reschedule_after(session, message_id=message_id, now=self.clock.now(), seconds=seconds)

    def _drop(self, message_id: int, reason: str) -> None:
        with session_scope(self.conversation.engine) as session:
            mark_dropped(session, message_id=message_id, reason=reason)

    def _failed(self, message_id: int, error: str) -> None:
        with session_scope(self.conversation.engine) as session:
            dead = record_failure(
                session,
                message_id=message_id,
                now=self.clock.now(),
                error=error,
                max_attempts=self.max_attempts,
                rng=self.rng,
            )
        if dead:
            log.warning(
                "outbox message %s gave up after %s attempts", message_id, self.max_attempts
            )


class DeliveryLocked(RuntimeError):
    """Another bot process delivers from this database already."""


class DeliveryLease:
    """Makes sure one process at a time delivers from a database."""

    def __init__(
        self, conversation: Conversation, clock: Clock, ttl: timedelta = timedelta(minutes=2)
    ) -> None:
        self.conversation = conversation
        self.clock = clock
        self.ttl = ttl
        self.holder = f"{os.getpid()}-{uuid.uuid4().hex[:12]}"

    def acquire(self) -> None:
        """Take the lease, or raise DeliveryLocked while another process holds it."""
        with session_scope(self.conversation.engine) as session:
            if not acquire_lease(
                session, name=LEASE_NAME, holder=self.holder, now=self.clock.now(), ttl=self.ttl
            ):
                raise DeliveryLocked(
                    "another engagebot process is delivering from this database; "
                    "this one will not send reminders or broadcasts"
                )

    def release(self) -> None:
        with session_scope(self.conversation.engine) as session:
            release_lease(session, name=LEASE_NAME, holder=self.holder)
