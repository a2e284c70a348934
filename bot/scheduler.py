"""APScheduler inside the bot's event loop: a short tick for reminders and alerts, a weekly
digest. Jobs are plain methods over the database, so tests call them with an injected clock;
no per-reminder job is ever stored (the database is the one source of truth)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bot.clock import Clock
from bot.config import Settings
from bot.delivery import DeliveryWorker
from bot.jobs import DigestRun, queue_due_reminders, queue_new_item_alerts
from db.broadcasts import finish_broadcasts
from db.engine import session_scope
from db.privacy import RetentionPolicy, RetentionRun
from handlers.conversation import Conversation

log = logging.getLogger(__name__)


class Jobs:
    """What the scheduler runs."""

    def __init__(
        self,
        *,
        conversation: Conversation,
        settings: Settings,
        clock: Clock,
        workers: Sequence[DeliveryWorker] = (),
    ) -> None:
        self.conversation = conversation
        self.settings = settings
        self.clock = clock
        # This process's delivery workers, woken when something was queued. Workers of other
        # processes find it at their next look (every few seconds).
        self.workers = list(workers)

    def queue_due(self) -> int:
        """Queue due reminders and alerts; finish announcements that were sent."""
        now = self.clock.now()
        with session_scope(self.conversation.engine) as session:
            queued = queue_due_reminders(session, now=now, leads=self.settings.leads)
            queued += queue_new_item_alerts(session, now=now, settings=self.settings)
            finish_broadcasts(session, now=now)
        return queued

    def queue_digest(self) -> int:
        """Queue the weekly digests, one short transaction per slice of readers."""
        run = DigestRun(now=self.clock.now(), settings=self.settings)
        while run.next_slice(self.conversation.engine):
            pass
        return run.queued

    async def tick(self) -> None:
        """Queue what fell due and wake the delivery workers."""
        queued = await self.conversation.run_db(self.queue_due)
        if queued:
            log.info("queued %s messages", queued)
        for worker in self.workers:
            worker.wake()

    def retention(self) -> dict[str, int]:
        """Delete what is kept no longer, one short transaction per slice."""
        policy = RetentionPolicy.from_settings(self.settings)
        run = RetentionRun(now=self.clock.now(), policy=policy)
        while run.next_slice(self.conversation.engine):
            pass
        return run.done

    async def clean_up(self) -> None:
        """Delete what is kept no longer (daily), a slice at a time."""
        policy = RetentionPolicy.from_settings(self.settings)
        run = RetentionRun(now=self.clock.now(), policy=policy)
        # Each slice is queued on the database thread behind the updates waiting by then, so
        # people are answered between two slices instead of after the whole job.
        while await self.conversation.run_db(run.next_slice, self.conversation.engine):
            pass
        log.info(
            "retention: %(messages)s messages, %(users)s users and %(audit)s audit entries "
            "deleted, %(warned)s users told",
            run.done,
        )

    async def digest(self) -> None:
        """Queue the weekly digests, a slice of readers at a time; wake the delivery workers."""
        run = DigestRun(now=self.clock.now(), settings=self.settings)
        # As in `clean_up`: conversations are answered between two slices.
        while await self.conversation.run_db(run.next_slice, self.conversation.engine):
            pass
        log.info("queued %s weekly digests", run.queued)
        for worker in self.workers:
            worker.wake()


def build_scheduler(jobs: Jobs, settings: Settings) -> AsyncIOScheduler:
    """Create the scheduler with the tick and the weekly digest, in the city's time zone."""
    scheduler = AsyncIOScheduler(timezone=settings.tz)
    scheduler.add_job(
        jobs.tick,
        IntervalTrigger(seconds=settings.scheduler_tick_seconds, timezone=settings.tz),
        id="tick",
        coalesce=True,
        max_instances=1,
        misfire_grace_time=None,
    )
    hour, minute = settings.digest_time.split(":")
    scheduler.add_job(
        jobs.digest,
        CronTrigger(
            day_of_week=settings.digest_weekday,
            hour=int(hour),
            minute=int(minute),
            timezone=settings.tz,
        ),
        id="digest",
        coalesce=True,
        max_instances=1,
        misfire_grace_time=6 * 3600,
    )
    scheduler.add_job(
        jobs.clean_up,
        CronTrigger(hour=3, minute=30, timezone=settings.tz),
        id="retention",
        coalesce=True,
        max_instances=1,
        misfire_grace_time=12 * 3600,
    )
    return scheduler
