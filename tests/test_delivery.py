"""The outbox under pressure: lanes, compare-and-set claims, notices of several parts, menus."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlmodel import select

from bot.app import App
from bot.clock import FakeClock
from bot.delivery import PAUSE_MARGIN_SECONDS, DeliveryWorker, Pacer
from bot.messages import Reply
from bot.scheduler import Jobs
from bot.transports.base import Progress, RetryLater
from db.engine import session_scope
from db.models import (
    Broadcast,
    BroadcastStatus,
    ConversationState,
    Event,
    OutboxMessage,
    OutboxStatus,
    User,
)
from db.outbox import (
    BULK_LANE,
    CONVERSATION_LANE,
    URGENT_LANE,
    NewMessage,
    claim_due,
    enqueue_many,
)
from tests.dialog import Dialog
from tests.fakes import NoWaitPacer, RecordingTransport

pytestmark = pytest.mark.both_databases


def _people(app: App, count: int) -> list[User]:
    now = app.clock.now()
    with session_scope(app.engine) as session:
        users = [
            User(
                transport="console",
                external_id=f"p{n}",
                locale="en",
                consent_at=now,
                created_at=now,
                last_seen_at=now,
            )
            for n in range(count)
        ]
        session.add_all(users)
        session.flush()
        return users


def _queue(app: App, users: list[User], kind: str, payload: dict) -> None:
    with session_scope(app.engine) as session:
        enqueue_many(
            session,
            [
                NewMessage(user=user, kind=kind, dedupe_key=f"{kind}:{user.id}", payload=payload)
                for user in users
            ],
            now=app.clock.now(),
        )


def _worker(app: App, clock: FakeClock, transport: RecordingTransport) -> DeliveryWorker:
    """A worker that never waits between messages."""
    return DeliveryWorker(
        conversation=app.conversation,
        transport=transport,
        clock=clock,
        rate=1000,
        max_attempts=3,
        pacer=NoWaitPacer(),
    )


def test_conversation_bound_rows_are_claimed_before_an_earlier_announcement(app: App) -> None:
    users = _people(app, 30)
    _queue(app, users[:25], "broadcast", {"broadcast_id": 1})
    app.clock.advance(timedelta(seconds=5))  # the reminders come later than the announcement
    _queue(app, users[25:], "help_reply", {"text": "Hello"})
    with session_scope(app.engine) as session:
        lanes = {row.kind: row.lane for row in session.exec(select(OutboxMessage)).all()}
        claimed = claim_due(session, transport="console", now=app.clock.now(), limit=5)
        kinds = [session.get(OutboxMessage, message_id).kind for message_id in claimed]
    assert lanes == {"broadcast": BULK_LANE, "help_reply": CONVERSATION_LANE}
    assert kinds == ["help_reply"] * 5


def test_a_claim_takes_only_rows_still_pending(app: App) -> None:
    users = _people(app, 4)
    _queue(app, users, "help_reply", {"text": "Hi"})
    with session_scope(app.engine) as session:
        first = claim_due(session, transport="console", now=app.clock.now(), limit=10)
    with session_scope(app.engine) as session:
        second = claim_due(session, transport="console", now=app.clock.now(), limit=10)
    assert len(first) == 4 and second == []


def test_the_claim_is_small_at_a_slow_messengers_pace(app: App, clock: FakeClock) -> None:
    transport = RecordingTransport()
    slow = DeliveryWorker(
        conversation=app.conversation, transport=transport, clock=clock, rate=1, max_attempts=3
    )
    fast = DeliveryWorker(
        conversation=app.conversation, transport=transport, clock=clock, rate=29, max_attempts=3
    )
    assert slow.batch == 2  # a reminder behind an announcement waits about two seconds at most
    assert fast.batch == 50


class PartlyLimited(RecordingTransport):
    """Sends a notice's text, then meets a rate limit on its second part (the map pin)."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.limited = 1

    async def send(self, user_key: str, replies: list[Reply], progress: Progress) -> None:
        parts = [f"{user_key}:{index}" for index in range(2)]
        for part in parts[progress.sent :]:
            if part.endswith(":1") and self.limited:
                self.limited -= 1
                raise RetryLater(3)
            self.parts.append(part)
            progress.sent += 1


async def test_a_retry_sends_only_the_parts_that_did_not_go_out(app: App, clock: FakeClock) -> None:
    users = _people(app, 1)
    _queue(app, users, "broadcast_report", {"delivered": 3, "blocked": 0, "failed": 0})
    transport = PartlyLimited()
    worker = _worker(app, clock, transport)
    await worker.deliver_due()
    with session_scope(app.engine) as session:
        row = session.exec(select(OutboxMessage)).one()
        assert (row.status, row.parts_sent) == (OutboxStatus.PENDING, 1)
    clock.advance(timedelta(seconds=5))
    await worker.deliver_due()
    key = users[0].external_id
    assert transport.parts == [f"{key}:0", f"{key}:1"], "the text went out once, the pin once"
    with session_scope(app.engine) as session:
        assert session.exec(select(OutboxMessage)).one().status == OutboxStatus.SENT


async def test_a_notice_that_was_not_delivered_does_not_change_what_typed_numbers_press(
    app: App, clock: FakeClock
) -> None:
    with session_scope(app.engine) as session:
        event = session.exec(select(Event).order_by(Event.starts_at)).first()
        event_id, starts = event.id, event.starts_at
    resident = Dialog(app.conversation, user="typist")
    resident.onboard("en")
    resident.press(f"go:{event_id}")
    menu = resident.say("/menu")
    second_button = menu[-1].flat_buttons()[1].action
    expected = [reply.text for reply in resident.press(second_button)]
    resident.say("/menu")

    transport = RecordingTransport()
    world = _worker(app, clock, transport)
    jobs = Jobs(conversation=app.conversation, settings=app.settings, clock=clock)
    clock.set(starts - timedelta(hours=2) + timedelta(minutes=1))
    transport.fail_next["typist"] = [RetryLater(60)]
    assert jobs.queue_due() >= 1
    await world.deliver_due()  # the reminder met a rate limit: the person has not seen it
    assert transport.sent == []
    assert [reply.text for reply in resident.say("2")] == expected

    clock.advance(timedelta(minutes=2))
    await world.deliver_due()  # now it arrives, and its buttons are what numbers press
    ((_, replies),) = transport.sent
    with session_scope(app.engine) as session:
        user = session.exec(select(User).where(User.external_id == "typist")).one()
        state = session.get(ConversationState, user.id)
        assert state.menu == [button.action for button in replies[-1].flat_buttons()]


class Gated(RecordingTransport):
    """Holds every send until released, counting how many are on the network at once."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.on_network = 0
        self.most_on_network = 0

    async def send(self, user_key: str, replies: list[Reply], progress: Progress) -> None:
        self.on_network += 1
        self.most_on_network = max(self.most_on_network, self.on_network)
        try:
            await self.gate.wait()
            await asyncio.sleep(0.01)  # on the network for a moment
            await super().send(user_key, replies, progress)
        finally:
            self.on_network -= 1


async def test_a_window_of_messages_is_in_flight_and_their_outcomes_are_recorded_together(
    app: App, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    users = _people(app, 40)
    _queue(app, users, "broadcast_report", {"delivered": 3, "blocked": 0, "failed": 0})
    transport = Gated()
    worker = DeliveryWorker(
        conversation=app.conversation,
        transport=transport,
        clock=clock,
        rate=1000,
        max_attempts=3,
        pacer=NoWaitPacer(),
        window=8,
    )
    batches: list[int] = []
    record = app.conversation.record_deliveries
    monkeypatch.setattr(
        app.conversation,
        "record_deliveries",
        lambda sent: (batches.append(len(sent)), record(sent))[1],
    )
    delivering = asyncio.create_task(worker.deliver_due())
    for _ in range(200):
        if transport.on_network >= 8:
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)
    assert transport.on_network == 8, "no more than the window is sent before outcomes come"
    with session_scope(app.engine) as session:
        sent = session.exec(select(OutboxMessage).where(OutboxMessage.status == "sent")).all()
        assert sent == [], "nothing is recorded as sent before it was"
    transport.gate.set()
    assert await delivering == 40
    assert transport.most_on_network == 8
    assert sorted(key for key, _ in transport.sent) == sorted(u.external_id for u in users)
    assert sum(batches) == 40 and len(batches) < 40, batches
    with session_scope(app.engine) as session:
        statuses = session.exec(select(OutboxMessage.status)).all()
        assert set(statuses) == {OutboxStatus.SENT}


async def test_one_persons_messages_go_out_one_after_another_within_the_window(
    app: App, clock: FakeClock
) -> None:
    (person,) = _people(app, 1)
    with session_scope(app.engine) as session:
        enqueue_many(
            session,
            [
                NewMessage(
                    user=person,
                    kind="broadcast_report",
                    dedupe_key=f"report:{n}",
                    payload={"delivered": n, "blocked": 0, "failed": 0},
                )
                for n in range(1, 4)
            ],
            now=clock.now(),
        )
    transport = Gated()
    transport.gate.set()
    worker = DeliveryWorker(
        conversation=app.conversation,
        transport=transport,
        clock=clock,
        rate=1000,
        max_attempts=3,
        pacer=NoWaitPacer(),
        window=8,
    )
    assert await worker.deliver_due() == 3
    assert transport.most_on_network == 1
    delivered = [replies[0].text.split(": ")[1].split(" ")[0] for _key, replies in transport.sent]
    assert delivered == ["1", "2", "3"]


def test_a_short_pause_is_waited_out_to_its_end_not_to_the_next_poll(
    app: App, clock: FakeClock
) -> None:
    """A homeserver's 429 asks for a fraction of a second: the worker looks again then, not at
    its next poll; a pause longer than the poll leaves the poll as it is."""
    moment = [100.0]
    pacer = Pacer(10, monotonic=lambda: moment[0])
    worker = DeliveryWorker(
        conversation=app.conversation,
        transport=RecordingTransport(),
        clock=clock,
        rate=10,
        max_attempts=3,
        pacer=pacer,
    )
    assert worker.idle_timeout(2.0) == 2.0
    pacer.pause(0.2)
    assert worker.idle_timeout(2.0) == pytest.approx(0.2 + PAUSE_MARGIN_SECONDS)
    moment[0] += 0.2
    assert worker.idle_timeout(2.0) == 2.0, "the pause is over"
    pacer.pause(30)
    assert worker.idle_timeout(2.0) == 2.0


def _broadcast(app: App, *, urgent: bool) -> int:
    now = app.clock.now()
    with session_scope(app.engine) as session:
        broadcast = Broadcast(
            audience="all",
            texts={"de": "Dringend" if urgent else "Gewöhnlich"},
            urgent=urgent,
            status=BroadcastStatus.SENDING,
            send_at=now,
            created_at=now,
        )
        session.add(broadcast)
        session.flush()
        return broadcast.id or 0


def test_urgent_announcements_wait_between_conversation_and_bulk_rows(app: App) -> None:
    users = _people(app, 12)
    ordinary = _broadcast(app, urgent=False)
    _queue(app, users[:4], "broadcast", {"broadcast_id": ordinary})
    app.clock.advance(timedelta(seconds=5))  # the urgent one comes later than the ordinary one
    urgent = _broadcast(app, urgent=True)
    with session_scope(app.engine) as session:
        enqueue_many(
            session,
            [
                NewMessage(
                    user=user,
                    kind="broadcast",
                    dedupe_key=f"urgent:{user.id}",
                    payload={"broadcast_id": urgent},
                    lane=URGENT_LANE,
                )
                for user in users[4:8]
            ],
            now=app.clock.now(),
        )
    app.clock.advance(timedelta(seconds=5))  # and the answers later still
    _queue(app, users[8:], "help_reply", {"text": "Hello"})
    with session_scope(app.engine) as session:
        claimed = claim_due(session, transport="console", now=app.clock.now(), limit=12)
        order = [session.get(OutboxMessage, message_id).lane for message_id in claimed]
    assert order == [CONVERSATION_LANE] * 4 + [URGENT_LANE] * 4 + [BULK_LANE] * 4


class CountingPacer(NoWaitPacer):
    def __init__(self) -> None:
        self.waits = 0

    async def wait(self, *, through_pause: bool = False) -> None:
        self.waits += 1


async def test_urgent_notices_are_paced_apart_from_the_others(app: App, clock: FakeClock) -> None:
    users = _people(app, 7)
    urgent = _broadcast(app, urgent=True)
    _queue(app, users[:4], "broadcast", {"broadcast_id": urgent})
    last = users.pop()
    _queue(app, users[4:], "broadcast_report", {"broadcast_id": urgent, "delivered": 4})
    transport = RecordingTransport()
    ordinary = CountingPacer()
    worker = DeliveryWorker(
        conversation=app.conversation,
        transport=transport,
        clock=clock,
        rate=29,
        max_attempts=3,
        pacer=ordinary,
        urgent_rate=1000,
    )
    assert worker.urgent_pacer is not None and worker.urgent_pacer.interval == 1 / 1000
    paid = worker.urgent_pacer = CountingPacer()  # type: ignore[assignment]
    assert await worker.deliver_due() == 6
    assert (ordinary.waits, paid.waits) == (2, 4)
    urgent_flags = {key: all(r.urgent for r in replies) for key, replies in transport.sent}
    assert urgent_flags == {
        "p0": True,
        "p1": True,
        "p2": True,
        "p3": True,
        "p4": False,
        "p5": False,
    }
    # Without a budget of their own (Signal, Matrix, or paid broadcasts off): the usual pace.
    with session_scope(app.engine) as session:
        enqueue_many(
            session,
            [
                NewMessage(
                    user=last, kind="broadcast", dedupe_key="late", payload={"broadcast_id": urgent}
                )
            ],
            now=app.clock.now(),
        )
    plain = DeliveryWorker(
        conversation=app.conversation,
        transport=transport,
        clock=clock,
        rate=29,
        max_attempts=3,
        pacer=(usual := CountingPacer()),
    )
    assert plain.urgent_pacer is None
    assert await plain.deliver_due() == 1 and usual.waits == 1


def test_the_telegram_window_covers_its_pace_for_a_round_trip_within_bounds() -> None:
    from types import SimpleNamespace

    from bot.runner import MAX_WINDOW, ROUND_TRIP_SECONDS, TELEGRAM_WINDOW, delivery_window

    telegram = SimpleNamespace(name="telegram")
    assert delivery_window(telegram) == TELEGRAM_WINDOW  # type: ignore[arg-type]
    assert delivery_window(telegram, 30.0) == TELEGRAM_WINDOW  # type: ignore[arg-type]
    assert delivery_window(telegram, 200.0) == round(200 * ROUND_TRIP_SECONDS)  # type: ignore[arg-type]
    assert delivery_window(telegram, 1_000.0) == MAX_WINDOW  # type: ignore[arg-type]
    assert delivery_window(telegram, float("inf")) == MAX_WINDOW  # type: ignore[arg-type]
    # One message at a time where the messenger takes them so.
    assert delivery_window(SimpleNamespace(name="signal"), 1_000.0) == 1  # type: ignore[arg-type]
