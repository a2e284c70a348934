"""Reminders, alerts, digests and the outbox, travelling in time with the injected clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from bot.app import App
from bot.clock import FakeClock
from bot.delivery import DeliveryWorker
from bot.scheduler import Jobs, build_scheduler
from bot.transports.base import RecipientGone, RetryLater, TemporaryFailure
from db.attendance import event_changed
from db.engine import session_scope
from db.models import Event, ItemStatus, Offer, OutboxMessage, OutboxStatus, User
from db.outbox import claim_due
from tests.conftest import make_settings
from tests.dialog import Dialog
from tests.fakes import NoWaitPacer, RecordingTransport

pytestmark = pytest.mark.both_databases


class World:
    """The app, a recording transport, its delivery worker and the jobs, on one clock."""

    def __init__(self, app: App, clock: FakeClock) -> None:
        self.app = app
        self.clock = clock
        self.transport = RecordingTransport()
        self.worker = DeliveryWorker(
            conversation=app.conversation,
            transport=self.transport,
            clock=clock,
            rate=1000,
            max_attempts=3,
            pacer=NoWaitPacer(),
        )
        self.jobs = Jobs(
            conversation=app.conversation, settings=app.settings, clock=clock, workers=[self.worker]
        )

    def user(self, name: str, locale: str = "en") -> Dialog:
        dialog = Dialog(self.app.conversation, user=name)
        dialog.onboard(locale)
        return dialog

    async def run_until(self, moment: datetime, step: timedelta = timedelta(minutes=30)) -> None:
        """Tick and deliver every `step` until `moment`, as the scheduler would."""
        while self.clock.now() < moment:
            self.clock.advance(min(step, moment - self.clock.now()))
            await self.tick()

    async def tick(self) -> None:
        self.jobs.queue_due()
        await self.worker.deliver_due()

    def event(self, title_part: str) -> Event:
        with session_scope(self.app.engine) as session:
            return next(e for e in session.exec(select(Event)).all() if title_part in e.title)

    def outbox(self) -> list[OutboxMessage]:
        with session_scope(self.app.engine) as session:
            return list(session.exec(select(OutboxMessage).order_by(OutboxMessage.id)).all())


@pytest.fixture
def world(app: App, clock: FakeClock) -> World:
    return World(app, clock)


async def test_reminders_at_each_lead_in_the_recipients_language(world: World) -> None:
    cafe = world.event("Demokratie-Café")
    olena = world.user("olena", "uk")
    james = world.user("james", "en")
    for dialog in (olena, james):
        dialog.press(f"go:{cafe.id}")
    await world.run_until(cafe.starts_at - timedelta(hours=24) - timedelta(minutes=1))
    assert world.transport.sent == []
    await world.run_until(cafe.starts_at - timedelta(hours=23))
    assert len(world.transport.texts_for("olena")) == 1
    english = world.transport.texts_for("james")
    assert len(english) == 1
    assert "Reminder: Democracy Café" in english[0]
    assert "in 24 hours" in english[0] or "in 1 day" in english[0]
    assert "6:00" in english[0] and "Königstraße" in english[0]
    uk = world.app.translations.get("uk")
    assert uk.pgettext("button", "❌ Can't come") in [
        b.label for b in world.transport.sent[0][1][0].flat_buttons()
    ] or uk.pgettext("button", "❌ Can't come") in [
        b.label for b in world.transport.sent[1][1][0].flat_buttons()
    ]
    await world.run_until(cafe.starts_at + timedelta(hours=3))
    assert len(world.transport.texts_for("james")) == 2
    assert "in 2 hours" in world.transport.texts_for("james")[1]
    assert len(world.transport.sent) == 4, "never after the start, never twice"


async def test_no_reminder_once_the_event_started(world: World) -> None:
    cafe = world.event("Sprachcafé")
    james = world.user("james")
    james.press(f"go:{cafe.id}")
    world.clock.set(cafe.starts_at - timedelta(hours=3))
    world.jobs.queue_due()  # the 2h reminder is not due yet
    world.clock.set(cafe.starts_at - timedelta(hours=1, minutes=59))
    world.jobs.queue_due()  # now it is queued...
    world.clock.set(cafe.starts_at + timedelta(minutes=1))
    await world.worker.deliver_due()  # ...but the worker only gets to it after the start
    assert world.transport.sent == []
    assert [m.status for m in world.outbox() if m.kind == "reminder"][-1] == OutboxStatus.DROPPED


async def test_a_paused_user_gets_no_reminder(world: World) -> None:
    cafe = world.event("Sprachcafé")
    james = world.user("james")
    james.press(f"go:{cafe.id}")
    james.say("/stop")
    await world.run_until(cafe.starts_at)
    assert world.transport.sent == []


async def test_rescheduling_moves_the_reminders_and_tells_people(world: World) -> None:
    cafe = world.event("Demokratie-Café")
    james = world.user("james")
    james.press(f"go:{cafe.id}")
    await world.run_until(cafe.starts_at - timedelta(hours=23))
    assert len(world.transport.sent) == 1
    new_start = cafe.starts_at + timedelta(days=2)
    with session_scope(world.app.engine) as session:
        event = session.get(Event, cafe.id)
        event.starts_at = new_start
        event.ends_at = new_start + timedelta(hours=2)
        event_changed(session, event=event, now=world.clock.now(), change="time")
    await world.tick()
    assert "has changed" in world.transport.texts_for("james")[-1]
    await world.run_until(cafe.starts_at + timedelta(hours=1))
    assert len(world.transport.sent) == 2, "no reminder at the old time"
    await world.run_until(new_start + timedelta(minutes=1))
    texts = world.transport.texts_for("james")
    assert len(texts) == 4 and "December 7" in texts[2] and "in 2 hours" in texts[3]


async def test_cancellation_tells_everyone_going(world: World) -> None:
    cafe = world.event("Demokratie-Café")
    people = [world.user(name) for name in ("a", "b", "c")]
    for dialog in people:
        dialog.press(f"go:{cafe.id}")
    with session_scope(world.app.engine) as session:
        event = session.get(Event, cafe.id)
        event.status = ItemStatus.CANCELLED
        event_changed(session, event=event, now=world.clock.now(), change="cancelled")
    await world.tick()
    assert sorted(key for key, _ in world.transport.sent) == ["a", "b", "c"]
    assert all(
        "has been cancelled" in text
        for _, replies in world.transport.sent
        for text in [replies[0].text]
    )
    await world.run_until(cafe.starts_at)
    assert len(world.transport.sent) == 3


async def test_waiting_list_promotion(world: World) -> None:
    small = world.event("Lesepatinnen")  # capacity 12
    goers = [world.user(f"u{i}") for i in range(12)]
    for dialog in goers:
        dialog.press(f"go:{small.id}")
    late = world.user("late")
    late.press(f"go:{small.id}")
    assert "number 1 on the waiting list" in late.text
    later = world.user("later")
    later.press(f"go:{small.id}")
    assert "number 2 on the waiting list" in later.text
    goers[3].press(f"nogo:{small.id}")
    await world.tick()
    assert world.transport.sent == [], "asking whether they really cannot come frees nothing"
    goers[3].press(f"nogo_yes:{small.id}")
    await world.tick()
    assert [key for key, _ in world.transport.sent] == ["late"]
    assert "a place became free" in world.transport.texts_for("late")[0]
    later.press(f"e:{small.id}")
    assert "number 1 on the waiting list" in later.text


async def test_crash_between_claim_and_send(database_url: str, clock: FakeClock) -> None:
    first = App(make_settings(database_url), clock=clock)
    world = World(first, clock)
    cafe = world.event("Sprachcafé")
    world.user("james").press(f"go:{cafe.id}")
    clock.set(cafe.starts_at - timedelta(hours=23))
    world.jobs.queue_due()
    with session_scope(first.engine) as session:
        assert len(claim_due(session, transport="console", now=clock.now(), limit=10)) == 1
    first.close()  # the process dies with the row claimed and nothing sent

    second = App(make_settings(database_url), clock=clock)
    after = World(second, clock)
    await after.tick()
    assert after.transport.sent == [], "a claimed row is not the next sender's until it takes over"
    # Taking delivery over (the lock of the dead process is free) puts its claims back at once.
    assert await second.conversation.run_db(after.worker.release_claims) == 1
    await after.tick()
    assert len(after.transport.sent) == 1
    await after.run_until(cafe.starts_at - timedelta(hours=3))
    assert len(after.transport.sent) == 1
    second.close()


async def test_downtime_catch_up_sends_only_the_latest_reminder(world: World) -> None:
    cafe = world.event("Demokratie-Café")
    james = world.user("james")
    james.press(f"go:{cafe.id}")
    await world.tick()
    world.clock.set(cafe.starts_at - timedelta(hours=1))  # down through both lead times
    await world.tick()
    texts = world.transport.texts_for("james")
    assert len(texts) == 1 and "in 1 hour" in texts[0]
    kinds = [(m.kind, m.status) for m in world.outbox()]
    assert ("reminder", OutboxStatus.SKIPPED) in kinds


async def test_rate_limit_waits_without_counting_as_failure(world: World) -> None:
    cafe = world.event("Sprachcafé")
    world.user("james").press(f"go:{cafe.id}")
    world.transport.fail_next["james"] = [RetryLater(7)]
    world.clock.set(cafe.starts_at - timedelta(hours=23, minutes=59))
    await world.tick()
    row = next(m for m in world.outbox() if m.kind == "reminder")
    assert row.status == OutboxStatus.PENDING and row.attempts == 0
    assert row.next_attempt_at == world.clock.now() + timedelta(seconds=7)
    world.clock.advance(timedelta(seconds=6))
    await world.tick()
    assert world.transport.sent == []
    world.clock.advance(timedelta(seconds=2))
    await world.tick()
    assert len(world.transport.sent) == 1


async def test_blocked_user_is_deactivated_and_dropped(world: World) -> None:
    cafe = world.event("Demokratie-Café")
    james = world.user("james")
    james.press(f"go:{cafe.id}")
    world.transport.fail_next["james"] = [RecipientGone("blocked")]
    await world.run_until(cafe.starts_at)
    with session_scope(world.app.engine) as session:
        user = session.exec(select(User).where(User.external_id == "james")).one()
        assert user.active is False
    assert world.transport.sent == []
    assert all(m.status in (OutboxStatus.DROPPED, OutboxStatus.SKIPPED) for m in world.outbox())


async def test_server_errors_back_off_then_dead_letter(world: World) -> None:
    cafe = world.event("Demokratie-Café")
    world.user("james").press(f"go:{cafe.id}")
    world.transport.fail_next["james"] = [TemporaryFailure("502")] * 5
    world.clock.set(cafe.starts_at - timedelta(hours=23))
    await world.tick()
    row = next(m for m in world.outbox() if m.kind == "reminder")
    assert row.attempts == 1 and row.status == OutboxStatus.PENDING
    assert row.next_attempt_at > world.clock.now() + timedelta(seconds=20)
    for _ in range(4):
        world.clock.advance(timedelta(hours=1))
        await world.tick()
    row = next(m for m in world.outbox() if m.kind == "reminder")
    assert row.status == OutboxStatus.DEAD and row.attempts == 3


async def test_quiet_hours_hold_instant_alerts_until_morning(world: World) -> None:
    james = world.user("james")
    james.press("amode:instant")
    james.press("fol:c:1")
    world.clock.set(datetime(2026, 11, 26, 21, 30, tzinfo=UTC))  # 22:30 in Kaiserslautern
    await world.tick()  # first run marks where alerts start
    with session_scope(world.app.engine) as session:
        offer = session.exec(select(Offer).where(Offer.category_id == 1)).first()
        offer.published_at = world.clock.now() + timedelta(minutes=1)
    world.clock.advance(timedelta(minutes=5))
    await world.tick()
    assert world.transport.sent == []
    await world.run_until(datetime(2026, 11, 27, 6, 59, tzinfo=UTC))  # 07:59 local
    assert world.transport.sent == []
    await world.run_until(datetime(2026, 11, 27, 7, 1, tzinfo=UTC))
    assert "New volunteer offer for you" in world.transport.texts_for("james")[0]


async def test_weekly_digest_lists_what_is_new(world: World) -> None:
    james = world.user("james")
    james.press("fol:c:1")
    assert "Once a week" in james.text
    world.clock.advance(timedelta(days=1))
    with session_scope(world.app.engine) as session:
        offer = session.exec(select(Offer).where(Offer.category_id == 1)).first()
        offer.published_at = world.clock.now()
        title = offer.title
    world.clock.advance(timedelta(days=4))
    world.jobs.queue_digest()
    await world.worker.deliver_due()
    [(key, replies)] = world.transport.sent
    assert key == "james" and "New this week" in replies[0].text
    assert any(title in b.label or b.action.startswith("o:") for b in replies[0].flat_buttons())
    world.jobs.queue_digest()
    await world.worker.deliver_due()
    assert len(world.transport.sent) == 1, "nothing new since the last digest"


@pytest.mark.parametrize(
    "local_start",
    [
        datetime(2026, 3, 29, 4, 30),  # 2h before is 02:30, an hour that does not exist
        datetime(2026, 10, 25, 4, 30),  # 2h before is 02:30, an hour that happens twice
        datetime(2026, 10, 25, 3, 30),
    ],
)
async def test_daylight_saving_transitions_remind_exactly_once(
    app: App, local_start: datetime
) -> None:
    from zoneinfo import ZoneInfo

    starts = local_start.replace(tzinfo=ZoneInfo("Europe/Berlin")).astimezone(UTC)
    clock = FakeClock(starts - timedelta(days=2))
    world = World(App(make_settings(app.settings.database_url), clock=clock), clock)
    with session_scope(world.app.engine) as session:
        event = session.exec(select(Event)).first()
        event.starts_at = starts
        event.ends_at = starts + timedelta(hours=1)
        event_id = event.id
    world.user("night").press(f"go:{event_id}")
    await world.run_until(starts + timedelta(hours=1), step=timedelta(minutes=10))
    texts = world.transport.texts_for("night")
    assert len(texts) == 2 and "in 2 hours" in texts[1]
    world.app.close()


async def test_the_scheduler_runs_the_tick_and_the_digest_in_the_city_time_zone(app: App) -> None:
    jobs = Jobs(conversation=app.conversation, settings=app.settings, clock=app.clock)
    scheduler = build_scheduler(jobs, app.settings)
    scheduler.start(paused=True)
    try:
        tick = scheduler.get_job("tick")
        digest = scheduler.get_job("digest")
        assert tick.trigger.interval == timedelta(seconds=30)
        assert str(digest.trigger.timezone) == "Europe/Berlin"
        assert "day_of_week='mon'" in str(digest.trigger) and "hour='9'" in str(digest.trigger)
        await jobs.tick()  # the job itself runs in this loop
    finally:
        scheduler.shutdown(wait=False)


async def test_an_all_day_event_is_reminded_of_by_its_day_without_a_countdown(
    world: World,
) -> None:
    from db.imports import import_events_ics
    from tests.test_cli_admin import _feed

    feed = _feed("UID:day@x\nSUMMARY:Stadtfest\nDTSTART;VALUE=DATE:20261212\nLOCATION:Markt")
    with session_scope(world.app.engine) as session:
        import_events_ics(
            session,
            data=feed,
            now=world.clock.now(),
            tz=world.app.settings.tz,
            organisation_slug="asz",
        )
    fest = world.event("Stadtfest")
    anna = world.user("anna", "de")
    anna.press(f"go:{fest.id}")
    await world.run_until(fest.starts_at - timedelta(hours=1), step=timedelta(hours=1))
    texts = world.transport.texts_for("anna")
    assert len(texts) == 2, "both leads"
    for text in texts:
        assert text.startswith("Erinnerung: Stadtfest ist am Samstag, 12. Dezember, ganztägig.")
        assert "Stunden" not in text and "00:00" not in text and "Markt" in text
