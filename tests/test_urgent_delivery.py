"""An urgent announcement on Telegram: every message a paid broadcast, on a budget of its own,
while reminders still go out; through the real HTTP stack against the fake Bot API."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlmodel import select

from bot.app import App
from bot.clock import FakeClock
from bot.delivery import DeliveryWorker
from bot.messages import Attachment, Place, Reply
from bot.transports.telegram import TelegramTransport
from db.broadcasts import queue_broadcast
from db.engine import session_scope
from db.models import Broadcast, BroadcastStatus, Event, OutboxMessage, OutboxStatus, User
from db.outbox import NewMessage, enqueue_many
from tests.chaos.harness import add_event, add_going, add_people
from tests.fake_bot_api import FakeBotApi
from tests.test_telegram import TOKEN, running, telegram_settings

pytestmark = pytest.mark.both_databases

PEOPLE = 300
# Telegram's limits scaled down, so that even a slow machine sends faster than the overall one:
# the fake's overall bucket, TELEGRAM_RATE and BROADCAST_RATE (just under it, as by default).
OVERALL = 10
GOING = 10
FIRST_CHAT = 8_100_000
MARKER = "Hochwasser"
TEXT = "Hochwasser an der Lauter: bitte meidet heute die Uferwege."
EVENT = "Sandsäcke füllen am Betriebshof"


@pytest.fixture
async def fake() -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi(TOKEN) as server:
        yield server


def seed(app: App, clock: FakeClock, *, urgent: bool) -> tuple[list[int], int]:
    """Queue an announcement to PEOPLE on Telegram; return their chats and the event's id."""
    now = clock.now()
    chats = [FIRST_CHAT + n for n in range(PEOPLE)]
    with session_scope(app.engine) as session:
        add_people(session, transport="telegram", keys=[str(c) for c in chats], now=now)
        event_id = add_event(session, title=EVENT, starts_at=now + timedelta(hours=2), now=now)
        ids = session.exec(
            select(User.id).where(
                User.transport == "telegram",
                User.external_id.in_(  # type: ignore[attr-defined]
                    [str(c) for c in chats[:GOING]]
                ),
            )
        ).all()
        add_going(session, event_id=event_id, user_ids=list(ids), now=now)
        broadcast = Broadcast(
            audience="all",
            texts={"de": TEXT},
            urgent=urgent,
            status=BroadcastStatus.SCHEDULED,
            send_at=now,
            created_at=now,
        )
        session.add(broadcast)
        session.flush()
        assert queue_broadcast(session, broadcast=broadcast, now=now) >= PEOPLE
    return chats, event_id


def queue_reminders(app: App, clock: FakeClock, event_id: int) -> None:
    """Queue the reminders of everyone going, due now, as the scheduler's tick does."""
    with session_scope(app.engine) as session:
        event = session.get(Event, event_id)
        assert event is not None
        going = session.exec(
            select(User).where(
                User.external_id.in_(  # type: ignore[attr-defined]
                    [str(FIRST_CHAT + n) for n in range(GOING)]
                )
            )
        ).all()
        enqueue_many(
            session,
            [
                NewMessage(
                    user=user,
                    kind="reminder",
                    dedupe_key=f"reminder:{user.id}:{event_id}:120",
                    payload={"event_id": event_id, "lead_minutes": 120},
                    event_id=event_id,
                )
                for user in going
            ],
            now=clock.now(),
        )


def announcement_calls(fake: FakeBotApi) -> list:
    return [
        call
        for call in fake.calls_to("sendMessage", ok=True)
        if MARKER in str(call.params.get("text"))
    ]


async def deliver(app: App, fake: FakeBotApi, clock: FakeClock, event_id: int, **extra) -> None:
    """Run the Telegram transport and its delivery worker as `engagebot run` builds them, at
    Telegram's limits, queue the reminders once the announcement is under way, and wait until
    everything went out."""
    settings = app.settings
    transport = TelegramTransport(app.conversation, settings)
    worker = DeliveryWorker(
        conversation=app.conversation,
        transport=transport,
        clock=clock,
        rate=settings.broadcast_rate,
        max_attempts=3,
        window=16,
        **extra,
    )
    async with running(transport, fake):
        sending = asyncio.create_task(worker.run(poll_seconds=0.05))
        try:
            await fake.wait_for(lambda: len(announcement_calls(fake)) >= 50, timeout=30)
            queue_reminders(app, clock, event_id)
            worker.wake()

            def done() -> bool:
                with session_scope(app.engine) as session:
                    return not session.exec(
                        select(OutboxMessage.id).where(
                            OutboxMessage.status.in_(  # type: ignore[attr-defined]
                                [OutboxStatus.PENDING, OutboxStatus.SENDING]
                            )
                        )
                    ).first()

            for _ in range(int((PEOPLE / settings.broadcast_rate + 60) / 0.2)):
                if done():
                    break
                await asyncio.sleep(0.2)
            assert done(), f"still to send: {fake.calls[-5:]}"
        finally:
            worker.stop()
            sending.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sending


async def test_an_urgent_announcement_goes_as_paid_broadcasts_and_reminders_pass_it(
    database_url: str, clock: FakeClock, fake: FakeBotApi
) -> None:
    settings = telegram_settings(
        database_url,
        fake,
        telegram_paid_broadcasts=True,
        telegram_rate=OVERALL,
        broadcast_rate=OVERALL - 1,
    )
    app = App(settings, clock=clock)
    try:
        chats, event_id = seed(app, clock, urgent=True)
        for chat in chats:
            fake.add_chat(chat)
        # OVERALL a second, 1,000 paid ones (Telegram's), a burst of 4 then 1 a second per chat.
        fake.enforce_limits(
            overall_rate=OVERALL, overall_burst=OVERALL, chat_rate=1.0, chat_burst=4
        )
        await deliver(app, fake, clock, event_id, urgent_rate=settings.telegram_paid_rate)
    finally:
        app.close()

    announced = announcement_calls(fake)
    assert sorted(call.chat_id for call in announced) == chats  # each once, nobody lost
    assert all(call.params.get("allow_paid_broadcast") is True for call in announced)
    assert fake.limits_hit == 0
    assert fake.paid_accepted == PEOPLE
    # More than the overall budget would have taken: the paid ones had their own.
    assert fake.paid_beyond_overall > 0
    reminders = [
        call
        for call in fake.calls
        if call.ok and call.chat_id in chats[:GOING] and MARKER not in str(call.params.get("text"))
    ]
    reminded = {call.chat_id for call in reminders if EVENT in str(call.params.get("text"))}
    assert reminded == set(chats[:GOING])
    # Reminders are no paid broadcasts (their map pins neither), and they did not wait for the
    # announcement to end: the next claim took them first.
    assert reminders and not any("allow_paid_broadcast" in call.params for call in reminders)
    assert max(call.at for call in reminders) < max(call.at for call in announced)


async def test_with_paid_broadcasts_off_an_urgent_announcement_goes_at_the_usual_pace(
    database_url: str, clock: FakeClock, fake: FakeBotApi
) -> None:
    # The operator turned paid broadcasts off after it was queued: no Stars are spent.
    settings = telegram_settings(database_url, fake, broadcast_rate=1000, telegram_rate=1000)
    app = App(settings, clock=clock)
    try:
        chats, event_id = seed(app, clock, urgent=True)
        for chat in chats:
            fake.add_chat(chat)
        await deliver(app, fake, clock, event_id)
    finally:
        app.close()
    announced = announcement_calls(fake)
    assert sorted(call.chat_id for call in announced) == chats
    assert not any("allow_paid_broadcast" in call.params for call in announced)
    assert fake.paid_accepted == 0


@pytest.mark.parametrize("paid", [True, False])
async def test_every_bot_api_message_of_an_urgent_notice_is_a_paid_broadcast(
    app: App, database_url: str, fake: FakeBotApi, paid: bool
) -> None:
    settings = telegram_settings(database_url, fake, telegram_paid_broadcasts=paid)
    transport = TelegramTransport(app.conversation, settings)
    chat = 8_200_001
    fake.add_chat(chat)
    urgent = Reply(
        "x" * 5000,  # two text messages
        place=Place("Betriebshof", "Daennerstraße 1", 49.44, 7.76),
        attachments=(Attachment("karte.pdf", b"%PDF-1.4", "application/pdf", "Karte"),),
        urgent=True,
    )
    async with running(transport, fake):
        await transport.send(str(chat), [urgent])
        await transport.send(str(chat), [Reply("Reminder: Sandsäcke füllen")])
    sends = [call for call in fake.calls if call.ok and call.method.startswith("send")]
    assert [call.method for call in sends] == [
        "sendMessage",
        "sendMessage",
        "sendVenue",
        "sendDocument",
        "sendMessage",
    ]
    flags = [call.params.get("allow_paid_broadcast") for call in sends]
    assert flags == ([True] * 4 if paid else [None] * 4) + [None]
    assert fake.paid_accepted == (4 if paid else 0)
