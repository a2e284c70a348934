"""Database faults while people write and a broadcast goes out, through the real Telegram stack.

A second SQLite connection holds the database locked (BEGIN EXCLUSIVE) far past the bot's busy
timeout, or the bot's own connections become read-only (PRAGMA query_only). People must get the
friendly "try again" answer in their language, nothing may crash, and every queued broadcast
message must arrive exactly once when the database is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from sqlmodel import select

from bot.app import App
from bot.clock import FakeClock
from bot.delivery import DeliveryWorker, Pacer
from bot.scheduler import Jobs
from bot.transports.telegram import TelegramTransport
from db.engine import reading, session_scope
from db.models import Organisation, OutboxMessage, OutboxStatus
from tests.conftest import make_settings
from tests.fake_bot_api import FakeBotApi
from tests.test_e2e_telegram import SENDER, TEXTS, VirtualTime, make_audience
from tests.test_telegram import TOKEN, onboard, running, telegram_settings

# People who wrote before, each with the language they chose; their phones all say English.
RESIDENTS = {4501: "de", 4502: "en", 4503: "uk", 4504: "ar"}
SORRY = "Sorry, I cannot answer right now. Please try again in a few minutes."
# What may be logged as an error while the database is away: the core's and the worker's own
# reports of it. Anything else (a transport failure, a crash) fails the test.
EXPECTED_ERRORS = (
    "database unavailable while answering",
    "delivery pass failed",
    "could not render outbox message",
)


@pytest.fixture
def fragile(db_path: Path, clock: FakeClock) -> Iterator[App]:
    """The demo city with a busy timeout of 100 ms."""
    application = App(make_settings(db_path, sqlite_busy_timeout_ms=100), clock=clock)
    yield application
    application.close()


@pytest.fixture
async def fake() -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi(TOKEN) as server:
        yield server


class Errors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(f"{record.name}: {record.getMessage()}")

    def unexpected(self) -> list[str]:
        return [m for m in self.messages if not any(e in m for e in EXPECTED_ERRORS)]


@pytest.fixture
def errors() -> Iterator[Errors]:
    handler = Errors()
    logging.getLogger().addHandler(handler)
    yield handler
    logging.getLogger().removeHandler(handler)


class World:
    """The transport, a delivery worker running in the background, and a queued broadcast."""

    def __init__(self, app: App, db_path: Path, clock: FakeClock, fake: FakeBotApi) -> None:
        self.app, self.clock, self.fake = app, clock, fake
        self.virtual = VirtualTime()
        self.transport = TelegramTransport(
            app.conversation,
            telegram_settings(db_path, fake),
            chat_rate=50.0,
            chat_burst=20,
            overall_rate=0,
        )
        self.worker = DeliveryWorker(
            conversation=app.conversation,
            transport=self.transport,
            clock=clock,
            rate=app.settings.broadcast_rate,
            max_attempts=app.settings.delivery_max_attempts,
            pacer=Pacer(
                app.settings.broadcast_rate, monotonic=self.virtual.now, sleep=self.virtual.sleep
            ),
        )
        self.jobs = Jobs(
            conversation=app.conversation, settings=app.settings, clock=clock, workers=[self.worker]
        )
        self.broadcast_id = 0
        self.chats: dict[int, str] = {}

    def queue_broadcast(self, count: int) -> None:
        self.broadcast_id, self.chats = make_audience(self.app, self.clock, count)
        for chat in [*self.chats, SENDER]:
            self.fake.add_chat(chat)

    def broadcast_sends(self) -> list[int]:
        return [
            c.chat_id  # type: ignore[misc]
            for c in self.fake.calls
            if c.method == "sendMessage" and c.ok and c.chat_id in self.chats
        ]

    def statuses(self) -> Counter[str]:
        with session_scope(reading(self.app.engine)) as session:
            return Counter(
                session.exec(
                    select(OutboxMessage.status).where(
                        OutboxMessage.broadcast_id == self.broadcast_id
                    )
                ).all()
            )

    async def ask_everyone(self, text: str) -> dict[int, list[str]]:
        """Each resident writes `text` (from a phone set to English); return their answers."""
        before = {person: len(self.fake.sent(person)) for person in RESIDENTS}
        for person in RESIDENTS:
            self.fake.queue(self.fake.private_text(person, text, language_code="en"))
        await self.fake.wait_for(
            lambda: all(len(self.fake.sent(p)) > before[p] for p in RESIDENTS),
            timeout=15,
            what=f"answers to {text!r}",
        )
        await asyncio.sleep(0.2)  # a second message of an answer, if any
        return {p: self.fake.sent_texts(p)[before[p] :] for p in RESIDENTS}

    def sorry(self, locale: str) -> str:
        t = self.app.translations.get(locale)
        return t.directed(t._(SORRY))

    def check_broadcast_arrived_once(self) -> None:
        sends = Counter(self.broadcast_sends())
        assert set(sends) == set(self.chats), "someone got nothing"
        assert set(sends.values()) == {1}, {c: n for c, n in sends.items() if n > 1}
        assert self.statuses() == Counter({OutboxStatus.SENT: len(self.chats)})
        with session_scope(self.app.engine) as session:
            organisation = session.get(Organisation, 1)
            assert organisation is not None
        for call in self.fake.calls:
            if call.method == "sendMessage" and call.chat_id in self.chats:
                locale = self.chats[call.chat_id]  # type: ignore[index]
                t = self.app.translations.get(locale)
                assert call.params["text"] == t.directed(
                    t._("📣 Announcement from %(sender)s:", sender=organisation.name)
                    + "\n\n"
                    + t.isolate(TEXTS[locale])
                )


@contextlib.asynccontextmanager
async def delivering(world: World) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(world.worker.run(poll_seconds=0.05))
    try:
        yield task
    finally:
        assert not task.done(), "the delivery worker stopped"
        world.worker.stop()
        await asyncio.wait_for(task, 10)


class ExclusiveLock:
    """Another process's connection that takes the database's write lock and keeps it."""

    def __init__(self, path: Path) -> None:
        self.connection = sqlite3.connect(
            path, timeout=5, isolation_level=None, check_same_thread=False
        )
        self.held = False

    def hold(self) -> None:
        self.connection.execute("BEGIN EXCLUSIVE")
        self.held = True

    def release(self) -> None:
        self.connection.execute("COMMIT")
        self.held = False

    def close(self) -> None:
        if self.held:
            self.release()
        self.connection.close()


async def test_a_locked_database_gets_a_friendly_answer_and_loses_no_broadcast(
    fragile: App, db_path: Path, clock: FakeClock, fake: FakeBotApi, errors: Errors
) -> None:
    world = World(fragile, db_path, clock, fake)
    lock = ExclusiveLock(db_path)
    # The lock comes right after Telegram took the 10th announcement: the worker has sent it
    # and has yet to record that, the worst moment.
    original = fake._api_sendmessage

    async def send_then_lock(params: dict[str, Any]) -> dict[str, Any]:
        result = await original(params)
        if params.get("chat_id") in world.chats and len(world.broadcast_sends()) == 9:
            lock.hold()
        return result

    fake._api_sendmessage = send_then_lock  # type: ignore[method-assign]
    try:
        async with running(world.transport, fake) as transport_task:
            for person, locale in RESIDENTS.items():
                await onboard(fake, person, locale)
            world.queue_broadcast(60)
            async with delivering(world):
                await fake.wait_for(lambda: lock.held, timeout=15, what="the lock")
                answers = await world.ask_everyone("Hallo, gibt es heute etwas?")
                for person, locale in RESIDENTS.items():
                    assert answers[person] == [world.sorry(locale)], (locale, answers[person])
                await asyncio.sleep(0.5)  # the worker keeps trying against the lock meanwhile
                assert len(world.broadcast_sends()) == 10  # nothing went out while locked
                assert world.statuses()[OutboxStatus.PENDING] > 0
                lock.release()

                await fake.wait_for(lambda: not world.statuses()[OutboxStatus.PENDING], timeout=15)
                await asyncio.sleep(0.5)  # the worker finishes what it holds
                # Later ticks put back rows whose sender stopped mid-way (claimed more than 5
                # minutes ago) and close the broadcast; none of that may send anything twice.
                for _ in range(2):
                    clock.advance(timedelta(minutes=6))
                    await fragile.conversation.run_db(world.jobs.queue_due)
                    world.worker.wake()
                    await asyncio.sleep(0.3)
                await fake.wait_for(
                    lambda: world.statuses() == Counter({OutboxStatus.SENT: 60}), timeout=15
                )
                await fake.wait_for(lambda: fake.sent(SENDER), timeout=15, what="the report")

                answers = await world.ask_everyone("/help")
                for person, locale in RESIDENTS.items():
                    assert world.sorry(locale) not in answers[person]
            assert not transport_task.done()
    finally:
        lock.close()

    world.check_broadcast_arrived_once()
    assert len(fake.sent(SENDER)) == 1
    assert not errors.unexpected(), errors.unexpected()
    assert any("database unavailable while answering" in m for m in errors.messages)


class ReadOnly:
    """Makes every connection the bot takes from its pool read-only while `on` is set."""

    def __init__(self, app: App) -> None:
        self.on = False
        event.listen(app.engine, "checkout", self._checkout)

    def _checkout(self, dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        dbapi_connection.execute(f"PRAGMA query_only = {int(self.on)}")


async def test_a_read_only_database_gets_a_friendly_answer_and_recovers(
    fragile: App, db_path: Path, clock: FakeClock, fake: FakeBotApi, errors: Errors
) -> None:
    world = World(fragile, db_path, clock, fake)
    read_only = ReadOnly(fragile)
    async with running(world.transport, fake) as transport_task:
        for person, locale in RESIDENTS.items():
            await onboard(fake, person, locale)
        world.queue_broadcast(20)
        read_only.on = True
        async with delivering(world):
            answers = await world.ask_everyone("Was gibt es Neues?")
            for person, locale in RESIDENTS.items():
                assert answers[person] == [world.sorry(locale)], (locale, answers[person])
            await asyncio.sleep(0.3)
            assert world.broadcast_sends() == []
            assert world.statuses() == Counter({OutboxStatus.PENDING: 20})

            read_only.on = False
            world.worker.wake()
            await fake.wait_for(
                lambda: world.statuses() == Counter({OutboxStatus.SENT: 20}), timeout=15
            )
            answers = await world.ask_everyone("/help")
            for person, locale in RESIDENTS.items():
                assert answers[person] and world.sorry(locale) not in answers[person]
        assert not transport_task.done()

    world.check_broadcast_arrived_once()
    assert not errors.unexpected(), errors.unexpected()
