"""End to end over loopback: the conversation core, the outbox, the delivery worker and the real
Telegram transport (python-telegram-bot's HTTP stack) against the fake Bot API.

Time is injected everywhere it can be: the FakeClock moves the city's calendar, and a virtual
monotonic clock paces the broadcast worker and the fake's flood limits, so 2,000 messages "at
25 a second" take seconds of real time instead of 80.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import select

from bot.app import App
from bot.clock import FakeClock
from bot.delivery import DeliveryWorker, Pacer
from bot.scheduler import Jobs
from bot.transports.telegram import TelegramTransport
from db.broadcasts import queue_broadcast
from db.engine import session_scope
from db.models import (
    Broadcast,
    Event,
    ItemStatus,
    Offer,
    Organisation,
    OutboxMessage,
    OutboxStatus,
    Role,
    Subscription,
    SubscriptionKind,
    User,
)
from db.queries import event_translation
from tests.conftest import make_settings
from tests.fake_bot_api import ApiCall, FakeBotApi
from tests.test_telegram import TOKEN, buttons, onboard, running, say, telegram_settings

pytestmark = pytest.mark.both_databases

ANNA = 4201
SENTINEL = 4299  # a second person whose forged presses show that earlier updates are done
ADMIN, CARLA, RITA = 4301, 4302, 4303
SENDER = 4401
FIRST_SUBSCRIBER = 5_000_000


class VirtualTime:
    """A monotonic clock that only moves when something sleeps on it."""

    def __init__(self, start: float = 10_000.0) -> None:
        self.value = start

    def now(self) -> float:
        return self.value

    async def sleep(self, seconds: float) -> None:
        self.value += max(seconds, 0.0)
        await asyncio.sleep(0)  # still let the loop run, as a real sleep would


@pytest.fixture
async def fake() -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi(TOKEN) as server:
        yield server


def worker_for(app: App, transport: TelegramTransport, clock: FakeClock, pacer: Pacer):
    worker = DeliveryWorker(
        conversation=app.conversation,
        transport=transport,
        clock=clock,
        rate=app.settings.broadcast_rate,
        max_attempts=app.settings.delivery_max_attempts,
        pacer=pacer,
    )
    jobs = Jobs(conversation=app.conversation, settings=app.settings, clock=clock, workers=[worker])
    return worker, jobs


def quick_transport(app: App, database_url: str, fake: FakeBotApi) -> TelegramTransport:
    """The real transport, pacing each chat 50 times faster than Telegram needs: a dialog sends
    a person many messages in a row, and real pacing (a burst of 4, then 1 a second) would make
    these tests wait for seconds. Pacing itself is tested in test_telegram.py."""
    return TelegramTransport(
        app.conversation, telegram_settings(database_url, fake), chat_rate=50.0, chat_burst=20
    )


def sent_since(fake: FakeBotApi, mark: int, chat_id: int, method: str) -> list[ApiCall]:
    return [
        call
        for call in fake.calls[mark:]
        if call.method == method and call.chat_id == chat_id and call.ok
    ]


# -- a. a reminder ------------------------------------------------------------------------------


async def test_a_reminder_arrives_through_the_whole_stack(
    app: App, database_url: str, clock: FakeClock, fake: FakeBotApi
) -> None:
    virtual = VirtualTime()
    transport = quick_transport(app, database_url, fake)
    pacer = Pacer(app.settings.broadcast_rate, monotonic=virtual.now, sleep=virtual.sleep)
    worker, jobs = worker_for(app, transport, clock, pacer)
    uk = app.translations.get("uk")
    async with running(transport, fake):
        await onboard(fake, ANNA, "uk")
        before = len(fake.sent(ANNA))
        fake.queue(fake.callback_query(ANNA, "go:1", language_code="uk"))
        # "I'm going" edits the pressed message, the confirmation in it, and sends nothing.
        await fake.wait_for(
            lambda: fake.calls_to("editMessageText", chat_id=ANNA, ok=True), what="go:1 done"
        )
        assert len(fake.sent(ANNA)) == before

        with session_scope(app.engine) as session:
            event = session.get(Event, 1)
            assert event is not None and event.status == ItemStatus.PUBLISHED
            translated = event_translation(session, event_id=1, locale="uk")
        clock.set(event.starts_at - timedelta(hours=23))
        mark = len(fake.calls)
        assert await app.conversation.run_db(jobs.queue_due) == 1
        assert await worker.deliver_due() == 1

    expected = uk._(
        "Reminder: %(title)s starts %(relative)s, on %(when)s.\nWhere: %(place)s",
        title=translated.title if translated else event.title,
        relative=uk.relative(event.starts_at, clock.now()),
        when=uk.datetime(event.starts_at),
        place=", ".join(filter(None, [event.place_name, event.address])),
    )
    [reminder] = sent_since(fake, mark, ANNA, "sendMessage")
    assert reminder.params["text"] == expected
    assert "parse_mode" not in reminder.params
    data = [b["callback_data"] for b in buttons(reminder.result)]
    assert data == ["stillgo:1", "nogo:1"]
    labels = [b["text"] for b in buttons(reminder.result)]
    assert labels == [
        uk.pgettext("button", "✅ Still going"),
        uk.pgettext("button", "❌ Can't come"),
    ]
    [venue] = sent_since(fake, mark, ANNA, "sendVenue")
    assert (venue.params["latitude"], venue.params["longitude"]) == (
        event.latitude,
        event.longitude,
    )
    # Nothing else went to anyone, and the row is recorded as sent.
    assert [c.method for c in fake.calls[mark:] if c.method.startswith("send")] == [
        "sendMessage",
        "sendVenue",
    ]
    with session_scope(app.engine) as session:
        [row] = session.exec(select(OutboxMessage)).all()
        assert (row.kind, row.status) == ("reminder", OutboxStatus.SENT)


# -- b. a broadcast to 2,000 people -------------------------------------------------------------

LOCALES = ("de", "en", "uk", "ar")
TEXTS = {
    "de": "Am Samstag putzen wir gemeinsam den Gelterswoog. Handschuhe gibt es vor Ort.",
    "en": "On Saturday we clean up the Gelterswoog together. Gloves are provided.",
    "uk": "У суботу ми разом прибираємо Гельтерсвог. Рукавички надамо на місці.",
    "ar": "يوم السبت ننظف معًا بحيرة غيلترسفوغ. القفازات متوفرة في المكان.",
}


def make_audience(app: App, clock: FakeClock, count: int) -> tuple[int, dict[int, str]]:
    """Insert `count` consented Telegram users following topic 1, and the sender; queue the
    broadcast. Return its id and each chat id's language."""
    now = clock.now()
    chats = {FIRST_SUBSCRIBER + n: LOCALES[n % len(LOCALES)] for n in range(count)}
    with session_scope(app.engine) as session:
        users = [
            User(
                transport="telegram",
                external_id=str(chat),
                locale=locale,
                consent_at=now,
                created_at=now,
                last_seen_at=now,
            )
            for chat, locale in chats.items()
        ]
        sender = User(
            transport="telegram",
            external_id=str(SENDER),
            locale="en",
            consent_at=now,
            created_at=now,
            last_seen_at=now,
        )
        session.add_all([*users, sender])
        session.flush()
        session.add_all(
            Subscription(
                user_id=user.id or 0,
                kind=SubscriptionKind.CATEGORY,
                target_id=1,
                created_at=now,
            )
            for user in users
        )
        broadcast = Broadcast(
            sender_id=sender.id,
            organisation_id=1,
            audience="c",
            audience_id=1,
            texts=dict(TEXTS),
            send_at=now,
            created_at=now,
        )
        session.add(broadcast)
        session.flush()
        assert queue_broadcast(session, broadcast=broadcast, now=now) == count
        return broadcast.id or 0, chats


async def test_a_broadcast_to_2000_people_keeps_telegrams_limits(
    app: App, database_url: str, clock: FakeClock
) -> None:
    virtual = VirtualTime()
    count = 2000
    async with FakeBotApi(TOKEN, clock=virtual.now) as fake:
        # Telegram's limits, measured on the same virtual clock as the worker's pacing.
        fake.enforce_limits(overall_rate=30.0, overall_burst=30, chat_rate=1.0, chat_burst=1)
        broadcast_id, chats = make_audience(app, clock, count)
        for chat in [*chats, SENDER]:
            fake.add_chat(chat)
        # The worker paces itself, so PTB's own real-time limiter for the whole bot is off.
        transport = TelegramTransport(
            app.conversation, telegram_settings(database_url, fake), overall_rate=0
        )
        pacer = Pacer(app.settings.broadcast_rate, monotonic=virtual.now, sleep=virtual.sleep)
        worker, jobs = worker_for(app, transport, clock, pacer)
        async with running(transport, fake):
            virtual_start = virtual.now()
            assert await worker.deliver_due() == count
            virtual_took = virtual.now() - virtual_start
            mark = len(fake.calls)
            await app.conversation.run_db(jobs.queue_due)
            assert await worker.deliver_due() == 1

    sends = [c for c in fake.calls[:mark] if c.method == "sendMessage"]
    assert len(sends) == count
    assert all(c.status == 200 for c in sends)
    assert fake.limits_hit == 0
    assert not [c for c in fake.calls if c.status == 429]
    assert {c.chat_id for c in sends} == set(chats)

    with session_scope(app.engine) as session:
        organisation = session.get(Organisation, 1)
        assert organisation is not None
        statuses = session.exec(
            select(OutboxMessage.status).where(OutboxMessage.broadcast_id == broadcast_id)
        ).all()
    assert len(statuses) == count and set(statuses) == {OutboxStatus.SENT}

    for call in sends:
        locale = chats[call.chat_id]  # type: ignore[index]
        t = app.translations.get(locale)
        heading = t._("📣 Announcement from %(sender)s:", sender=organisation.name)
        text = call.params["text"]
        assert text == t.directed(f"{heading}\n\n{t.isolate(TEXTS[locale])}"), (locale, text)
        if locale == "ar":
            assert text.startswith("\u200f") and heading in text
    arabic_heading = app.translations.get("ar")._("📣 Announcement from %(sender)s:", sender="X")
    assert arabic_heading != "📣 Announcement from X:"  # really translated

    # The achieved rate on the virtual clock: within 30 a second overall and in every second.
    moments = sorted(c.at for c in sends)
    assert (len(moments) - 1) / (moments[-1] - moments[0]) <= 30.0
    window_start = 0
    for index, moment in enumerate(moments):
        while moments[window_start] <= moment - 1.0:
            window_start += 1
        assert index - window_start + 1 <= 30
    assert virtual_took >= (count - 1) / app.settings.broadcast_rate - 1e-6

    # The next tick closes the broadcast and tells the sender, once.
    en = app.translations.get("en")
    report = en._(
        "Your announcement has gone out: %(delivered)s delivered, %(blocked)s blocked the bot, "
        "%(failed)s failed.",
        delivered=en.number(count),
        blocked=en.number(0),
        failed=en.number(0),
    )
    assert "2,000 delivered" in report
    to_sender = [c for c in fake.calls if c.chat_id == SENDER and c.method.startswith("send")]
    assert [c.params["text"] for c in to_sender] == [report]
    assert [c.status for c in to_sender] == [200]
    assert not [c for c in fake.calls[mark:] if c.method == "sendMessage" and c.chat_id != SENDER]


# -- c. coordinators through Telegram -----------------------------------------------------------


@pytest.fixture
def city(database_url: str, clock: FakeClock) -> Iterator[App]:
    """The demo city with one admin, on Telegram."""
    settings = make_settings(
        database_url, admin_ids=f"telegram:{ADMIN}", telegram_bot_username="EngagebotTestBot"
    )
    application = App(settings, clock=clock)
    yield application
    application.close()


class Chat:
    """Drives one person over the fake Bot API and waits until each update is fully answered."""

    def __init__(self, fake: FakeBotApi, user_id: int, transport: TelegramTransport) -> None:
        self.fake = fake
        self.user_id = user_id
        self.transport = transport
        self.last: list[dict[str, Any]] = []

    async def _exchange(self, update: dict[str, Any]) -> list[dict[str, Any]]:
        mark = len(self.fake.calls)
        self.fake.queue(update)
        # Updates are taken in order: once the sentinel's forged press is acknowledged, this
        # update was taken; chats are answered concurrently, so wait until all are answered.
        sentinel = self.fake.callback_query(SENTINEL, "zz:0")
        self.fake.queue(sentinel)
        query_id = sentinel["callback_query"]["id"]
        await self.fake.wait_for(
            lambda: any(
                c.params.get("callback_query_id") == query_id
                for c in self.fake.calls_to("answerCallbackQuery")
            ),
            what="the sentinel",
        )
        await self.fake.wait_for(lambda: self.transport.backlog == 0, what="every answer")
        ours = [
            c
            for c in self.fake.calls[mark:]
            if c.chat_id == self.user_id and c.method in ("sendMessage", "editMessageText")
        ]
        assert all(c.ok for c in ours), ours
        assert all("parse_mode" not in c.params for c in ours)
        self.last = [c.result for c in ours]
        return self.last

    async def say(self, text: str) -> list[dict[str, Any]]:
        return await self._exchange(self.fake.private_text(self.user_id, text))

    async def press(self, data: str) -> list[dict[str, Any]]:
        """Press the button with this callback data on the latest message that shows it."""
        shown = [m for m in self.last if data in [b["callback_data"] for b in buttons(m)]]
        assert shown, f"no button {data!r} in {[m.get('text') for m in self.last]}"
        update = self.fake.callback_query(self.user_id, data, message_id=shown[-1]["message_id"])
        return await self._exchange(update)

    def data(self, label_part: str) -> str:
        found = [
            b["callback_data"] for m in self.last for b in buttons(m) if label_part in b["text"]
        ]
        assert len(found) == 1, (label_part, [b["text"] for m in self.last for b in buttons(m)])
        return found[0]

    @property
    def text(self) -> str:
        return "\n---\n".join(m.get("text", "") for m in self.last)


def granted(t: Any, organisation: str) -> str:
    return t._(
        "You are now a coordinator of %(organisation)s. You can publish offers and events, "
        "send announcements and answer requests to help: choose “Coordinator tools” in the "
        "menu, or send /coordinator.",
        organisation=organisation,
    )


async def test_a_new_user_becomes_a_coordinator_through_a_deep_link(
    city: App, database_url: str, fake: FakeBotApi
) -> None:
    uk = city.translations.get("uk")
    transport = quick_transport(city, database_url, fake)
    async with running(transport, fake):
        await say(fake, SENTINEL, "/start")
        admin, carla = Chat(fake, ADMIN, transport), Chat(fake, CARLA, transport)
        await onboard(fake, ADMIN)
        await admin.say("/coordinator")
        await admin.press("inv_new")
        await admin.press(admin.data("ASZ"))
        link = admin.text.split("https://t.me/")[1].split()[0]
        code = link.split("?start=c_")[1]

        # Telegram sends "/start c_CODE" when a new person opens the link and presses Start.
        await carla.say(f"/start c_{code}")
        await carla.press("lang_set:uk")
        assert "/mydata" in carla.text
        await carla.press("agree")
        with session_scope(city.engine) as session:
            asz = session.exec(select(Organisation).where(Organisation.id == 1)).one()
        assert granted(uk, asz.name) in carla.text
        labels = [b["text"] for m in carla.last for b in buttons(m)]
        assert uk.pgettext("button", "🧰 Coordinator tools") in labels
        await carla.say("/coordinator")
        assert asz.name in carla.text

    with session_scope(city.engine) as session:
        carla_user = session.exec(select(User).where(User.external_id == str(CARLA))).one()
        assert carla_user.locale == "uk"
        assert [r.organisation_id for r in session.exec(select(Role)).all()] == [1]


async def test_a_coordinator_is_invited_and_publishes_an_event_through_telegram(
    city: App, database_url: str, fake: FakeBotApi
) -> None:
    t = city.translations.get("en")
    transport = quick_transport(city, database_url, fake)
    title = "Nachbarschafts-<b>Fest</b> *x* _y_ [z](https://example.org) &amp;"
    async with running(transport, fake):
        await say(fake, SENTINEL, "/start")
        admin, carla, rita = (Chat(fake, who, transport) for who in (ADMIN, CARLA, RITA))
        for person in (admin, carla, rita):
            await onboard(fake, person.user_id)

        await admin.say("/coordinator")
        await admin.press("inv_new")
        assert t._("For which organisation?") in admin.text
        await admin.press(admin.data("ASZ"))
        code = admin.text.split("/join ")[1].split()[0]

        await carla.say(f"/join {code}")
        with session_scope(city.engine) as session:
            asz = session.exec(select(Organisation).where(Organisation.id == 1)).one()
        assert granted(t, asz.name) in carla.text

        await carla.say("/coordinator")
        await carla.press("pub_new:event")
        assert t._("Which topic fits best?") in carla.text
        await carla.press(buttons(carla.last[-1])[0]["callback_data"])
        assert t._("What is the title? Short and clear, please.") in carla.text
        await carla.say(title)
        assert t._("In one sentence: what will volunteers do?") in carla.text
        await carla.say("Wir *grillen* und <i>lernen</i> uns kennen.")
        await carla.press("pub_skip")
        assert t._("In which district?") in carla.text
        await carla.press(carla.data("Innenstadt-West"))
        await carla.say("Stadtteilwerkstatt")
        await carla.say("Pfaffstraße 3, 67655 Kaiserslautern")
        await carla.say("morgen 17 Uhr")
        await carla.say("2")
        await carla.say("20")
        card, confirm = carla.last
        assert title in card["text"]
        assert "Wir *grillen* und <i>lernen</i> uns kennen." in card["text"]
        assert t._("This is how residents will see it.") in confirm["text"]
        assert t._("Places: %(count)s.", count=t.number(20)) in confirm["text"]
        assert t._("Publish it now?") in confirm["text"]
        await carla.press("pub_ok")
        assert title in carla.text

        await rita.say("/events")
        labels = [b["text"] for m in rita.last for b in buttons(m)]
        assert len([label for label in labels if title in label]) == 1
        await rita.press(rita.data(title))
        assert title in rita.text

    with session_scope(city.engine) as session:
        event = session.exec(select(Event).where(Event.title == title)).one()
        assert event.status == ItemStatus.PUBLISHED and event.organisation_id == 1
        assert event.capacity == 20 and event.ends_at - event.starts_at == timedelta(hours=2)
    # Plain text everywhere: no parse mode on anything the bot sent, so nothing was escaped.
    assert not [c for c in fake.calls if "parse_mode" in c.params]


async def test_a_request_to_help_goes_to_the_admin_and_the_answer_back_through_telegram(
    city: App, database_url: str, clock: FakeClock, fake: FakeBotApi
) -> None:
    """No demo organisation has a coordinator: the admin is told, in English, of a Ukrainian
    resident; the admin's answer reaches her in Ukrainian, naming English; hers comes back."""
    en = city.translations.get("en")
    transport = quick_transport(city, database_url, fake)
    virtual = VirtualTime()
    pacer = Pacer(city.settings.broadcast_rate, monotonic=virtual.now, sleep=virtual.sleep)
    worker, _jobs = worker_for(city, transport, clock, pacer)
    with session_scope(city.engine) as session:
        offer = session.exec(select(Offer).where(Offer.organisation_id == 1)).first()
        assert offer is not None
        offer_id, title = offer.id, offer.title
    async with running(transport, fake):
        await say(fake, SENTINEL, "/start")
        admin, rita = Chat(fake, ADMIN, transport), Chat(fake, RITA, transport)
        await onboard(fake, ADMIN)
        await onboard(fake, RITA, "uk")
        await rita.say(f"/start o_{offer_id}")  # the offer's deep link
        await rita.press(f"hr_ask:{offer_id}")
        # Telegram gives the name and, without a username, a link that opens the chat.
        assert f"tg://user?id={RITA}" in rita.text
        await rita.press(f"hr_yes:{offer_id}")
        assert "адміністраторам бота" in rita.text

        mark = len(fake.calls)
        assert await worker.deliver_due() == 1
        [notice] = sent_since(fake, mark, ADMIN, "sendMessage")
        assert f"{title} (" in notice.params["text"]
        assert en._("Their language: %(language)s.", language="Ukrainian") in notice.params["text"]
        assert f"tg://user?id={RITA} on Telegram" in notice.params["text"]
        write = next(b["callback_data"] for b in buttons(notice.result))
        assert write.startswith("hr_write:")
        admin.last = [notice.result]
        await admin.press(write)
        await admin.say("Thank you! Come by on Tuesday at 10.")

        mark = len(fake.calls)
        assert await worker.deliver_due() == 1
        [answer] = sent_since(fake, mark, RITA, "sendMessage")
        assert "(мова: англійська)" in answer.params["text"]
        assert "Come by on Tuesday at 10." in answer.params["text"]
        rita.last = [answer.result]
        await rita.press(write)
        await rita.say("Дякую, буду!")
        assert "уже в дорозі" in rita.text

        mark = len(fake.calls)
        assert await worker.deliver_due() == 1
        [back] = sent_since(fake, mark, ADMIN, "sendMessage")
        assert "writes (in Ukrainian)" in back.params["text"]
        assert "Дякую, буду!" in back.params["text"]
    with session_scope(city.engine) as session:
        assert {row.status for row in session.exec(select(OutboxMessage)).all()} == {
            OutboxStatus.SENT
        }
