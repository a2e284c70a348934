"""The Signal transport against a local fake of `signal-cli daemon --tcp`."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import os
import re
import shutil
import signal as signal_module
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from sqlmodel import select

from bot import cli
from bot.app import App
from bot.clock import FakeClock
from bot.config import SettingsError, load_settings
from bot.delivery import DeliveryWorker
from bot.i18n import RLM
from bot.messages import Attachment, Button, Incoming, Place, Reply
from bot.scheduler import Jobs
from bot.transports.base import RecipientGone, RetryLater, TemporaryFailure
from bot.transports.signal import SignalTransport
from bot.transports.signal_daemon import RateLimiter
from bot.transports.signal_render import render_messages
from db.engine import make_engine, session_scope
from db.models import Event, Offer, OutboxMessage, OutboxStatus, User
from db.outbox import NewMessage, enqueue_many
from tests.conftest import make_settings
from tests.fake_signal_cli import (
    CONTACT,
    PAYMENT,
    POLL,
    UPLOAD_RATE_LIMITED,
    FakeSignalCli,
    data_envelope,
    edit_envelope,
    group_update_envelope,
    receipt_envelope,
    sync_sent_envelope,
    typing_envelope,
    wait_until,
)
from tests.fakes import NoWaitPacer
from tests.running import running_transport, signal_daemon

pytestmark = pytest.mark.both_databases

MAP_LINK = "https://www.openstreetmap.org/?mlat="


def new_aci() -> str:
    return str(uuid.uuid4())


def make_transport(app: App, fake: FakeSignalCli, **options: Any) -> SignalTransport:
    options = {
        "rate": 1000.0,
        "reconnect_initial": 0.01,
        "reconnect_max": 0.05,
        "connect_wait": 3.0,
        "receive_mode": fake.receive_mode,
        "account": fake.account,
        **options,
    }
    return SignalTransport(app.conversation, host=fake.host, port=fake.port, **options)


def running(transport: SignalTransport) -> contextlib.AbstractAsyncContextManager[SignalTransport]:
    """Run the transport until the block ends, from its first connection to the daemon."""
    return running_transport(
        transport, ready=lambda: transport.client.connected, what="the first connection", timeout=5
    )


@pytest.fixture
async def fake(request: pytest.FixtureRequest) -> AsyncIterator[FakeSignalCli]:
    """The daemon, in --receive-mode on-connection unless a test asks for manual (indirect)."""
    async with signal_daemon(getattr(request, "param", "on-connection")) as daemon:
        yield daemon


@pytest.fixture
async def signal(app: App, fake: FakeSignalCli) -> AsyncIterator[SignalTransport]:
    async with running(make_transport(app, fake)) as transport:
        yield transport


class Person:
    """Someone writing to the bot on Signal; `say` returns the one message the bot answers."""

    def __init__(self, fake: FakeSignalCli, *, number: str | None = "+4917612345678") -> None:
        self.fake = fake
        self.aci = new_aci()
        self.number = number
        self.answers = 0

    async def say(self, text: str) -> str:
        got = self.fake.delivered_to(self.aci)
        assert len(got) == self.answers, f"the bot answered more than once: {got[self.answers :]}"
        self.fake.receive(data_envelope(self.aci, text, number=self.number))
        await wait_until(
            lambda: len(self.fake.delivered_to(self.aci)) > self.answers, what=f"answer to {text!r}"
        )
        self.answers += 1
        return self.fake.delivered_to(self.aci)[-1].text


def number_of(text: str, label_part: str) -> str:
    """Return the number to type for the menu line that contains `label_part`."""
    lines = [m for m in re.finditer(r"^\u200f?(\d+)\) (.*)$", text, re.M) if label_part in m[2]]
    assert len(lines) == 1, f"{len(lines)} menu lines match {label_part!r} in:\n{text}"
    return lines[0][1]


# -- conversations -----------------------------------------------------------------------------


async def test_a_resident_finds_offers_and_an_event_by_numbers(
    app: App, fake: FakeSignalCli, signal: SignalTransport
) -> None:
    alice = Person(fake)
    text = await alice.say("start")
    assert app.translations.get("de")._("Choose your language:") in text
    assert "1) Deutsch" in text and "2) English" in text
    text = await alice.say(number_of(text, "English"))
    assert "Do you agree?" in text
    text = await alice.say(number_of(text, "I agree"))
    assert "I will write to you in English." in text
    text = await alice.say(number_of(text, "Volunteer offers"))
    assert "How would you like to look" in text
    text = await alice.say(number_of(text, "By topic"))
    assert "Choose a topic:" in text
    text = await alice.say("1")
    assert "in the topic" in text
    text = await alice.say("1")
    assert "Organisation:" in text and "Contact:" in text
    text = await alice.say("/events")
    assert "upcoming events." in text
    text = await alice.say(number_of(text, "Democracy Café"))
    assert "When:" in text and "Königstraße" in text
    assert "📍 " in text
    assert re.search(r"^https://www\.openstreetmap\.org/\?mlat=[\d.]+&mlon=[\d.]+#map=", text, re.M)


async def test_german_command_words(app: App, fake: FakeSignalCli, signal: SignalTransport) -> None:
    t = app.translations.get("de")
    bernd = Person(fake)
    text = await bernd.say("/start")
    assert t._("Choose your language:") in text
    text = await bernd.say(number_of(text, "Deutsch"))
    await bernd.say(number_of(text, t.pgettext("button", "✅ I agree")))
    text = await bernd.say("hilfe")
    assert t._("I help you find volunteer work and events in your city.") in text
    text = await bernd.say("menü")
    assert t._("What would you like to do?") in text
    assert "1) " + t.pgettext("button", "🤝 Volunteer offers") in text
    text = await bernd.say("sprache")
    assert t._("Choose your language:") in text and "العربية" in text


async def test_arabic_command_words_right_to_left(
    app: App, fake: FakeSignalCli, signal: SignalTransport
) -> None:
    t = app.translations.get("ar")
    amira = Person(fake)
    text = await amira.say("start")
    text = await amira.say(number_of(text, "العربية"))
    assert all(line.startswith(RLM) for line in text.split("\n") if line), text
    text = await amira.say(number_of(text, t.pgettext("button", "✅ I agree")))
    text = await amira.say("مساعدة")
    assert t._("I help you find volunteer work and events in your city.") in text
    assert all(line.startswith(RLM) for line in text.split("\n") if line), text
    text = await amira.say("القائمة")
    assert t._("What would you like to do?") in text
    # Menu lines start right-to-left too, and a typed (Latin) number still presses the button.
    assert re.search(rf"^{RLM}1\) ", text, re.M)
    text = await amira.say(number_of(text, t.pgettext("button", "📅 Upcoming events")))
    text = await amira.say(number_of(text, "Königstraße"))
    lines = [line for line in text.split("\n") if line]
    assert any(line.startswith(MAP_LINK) for line in lines), text
    # Every line reads right to left, but the link, which stays bare so apps recognise it.
    assert all(line.startswith(RLM) for line in lines if not line.startswith(MAP_LINK)), text


async def test_a_hidden_number_works_and_is_never_stored(
    app: App, fake: FakeSignalCli, signal: SignalTransport
) -> None:
    hidden = Person(fake, number=None)
    text = await hidden.say("start")
    assert "1) Deutsch" in text
    with session_scope(app.engine) as session:
        user = session.exec(select(User).where(User.external_id == hidden.aci)).one()
        assert user.transport == "signal"
        stored = " ".join(str(value) for value in user.model_dump().values())
    assert "+49" not in stored


async def test_receipts_typing_and_group_changes_are_not_answered(
    fake: FakeSignalCli, signal: SignalTransport, caplog: pytest.LogCaptureFixture
) -> None:
    quiet = new_aci()
    group = base64.b64encode(b"another-group-id-of-32-bytes!!!!").decode()
    fake.receive(receipt_envelope(quiet, number="+4917600000001"))
    fake.receive(receipt_envelope(quiet, kind="read"))
    fake.receive(typing_envelope(quiet))
    fake.receive(typing_envelope(quiet, action="STOPPED"))
    fake.receive(typing_envelope(quiet, group_id=group))
    fake.receive(group_update_envelope(quiet, group))
    # Notifications are handled in order: once this is answered, those above were seen.
    await Person(fake).say("start")
    assert fake.delivered_to(quiet) == fake.delivered_to(group) == []
    assert all(quiet not in str(call.params) for call in fake.calls)
    assert all(group not in str(call.params) for call in fake.calls)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


async def test_messages_to_another_account_of_the_daemon_are_not_ours(
    fake: FakeSignalCli, signal: SignalTransport
) -> None:
    fake.other_accounts = ("+4963199999999",)
    stranger = new_aci()
    fake.receive(data_envelope(stranger, "hallo"), account="+4963199999999")
    await Person(fake).say("start")
    assert fake.delivered_to(stranger) == []


@pytest.mark.parametrize("fake", ["on-connection", "manual"], indirect=True)
async def test_an_account_configured_by_its_aci_gets_its_messages(
    app: App, fake: FakeSignalCli
) -> None:
    # Notifications carry the number however the account is named; a message already
    # waiting arrives before the bot knows that number, and is answered too.
    early = new_aci()
    fake.receive(data_envelope(early, "start"))
    async with running(make_transport(app, fake, account=fake.aci)) as transport:
        await wait_until(lambda: bool(fake.delivered_to(early)), what="the early answer")
        assert "1) Deutsch" in await Person(fake).say("start")
        assert transport.client.connected
    assert all(c.params.get("account") == fake.aci for c in fake.calls_of("send"))


async def test_an_aci_on_a_daemon_of_several_accounts_says_what_to_do(
    app: App, fake: FakeSignalCli, caplog: pytest.LogCaptureFixture
) -> None:
    fake.other_accounts = ("+4963199999999",)
    async with running(make_transport(app, fake, account=fake.aci)):
        await wait_until(lambda: bool(fake.calls_of("listAccounts")), what="listAccounts")
        stranger = new_aci()
        fake.receive(data_envelope(stranger, "hallo"), account="+4963199999999")
        person = Person(fake)
        fake.receive(data_envelope(person.aci, "start"))
        await asyncio.sleep(0.2)
        assert fake.delivered_to(stranger) == fake.delivered_to(person.aci) == []
    [line] = [r for r in caplog.records if "SIGNAL_ACCOUNT" in r.getMessage()]
    assert line.levelname == "ERROR"
    assert "set SIGNAL_ACCOUNT to the bot's number" in line.getMessage()


async def test_an_edited_command_is_answered(
    app: App, fake: FakeSignalCli, signal: SignalTransport
) -> None:
    t = app.translations.get("de")
    person = Person(fake)
    text = await person.say("start")
    text = await person.say(number_of(text, "Deutsch"))
    await person.say(number_of(text, t.pgettext("button", "✅ I agree")))
    typo = data_envelope(person.aci, "hilef")
    fake.receive(typo)
    await wait_until(lambda: len(fake.delivered_to(person.aci)) == 4, what="the typo's answer")
    fake.receive(edit_envelope(person.aci, "hilfe", typo))
    await wait_until(lambda: len(fake.delivered_to(person.aci)) == 5, what="the edit's answer")
    help_text = t._("I help you find volunteer work and events in your city.")
    assert help_text not in fake.delivered_to(person.aci)[-2].text
    assert help_text in fake.delivered_to(person.aci)[-1].text


@pytest.mark.parametrize(
    "content",
    [{"attachments": 1}, CONTACT, POLL, PAYMENT],
    ids=["photo", "contact", "poll", "payment"],
)
async def test_what_is_not_text_gets_asked_for_text(
    app: App, fake: FakeSignalCli, signal: SignalTransport, content: dict[str, Any]
) -> None:
    aci = new_aci()
    fake.receive(data_envelope(aci, None, **content))
    await wait_until(lambda: bool(fake.delivered_to(aci)), what="the answer")
    expected = app.translations.get("de")._(
        "I can only read text messages. Please choose from the menu."
    )
    assert expected in fake.delivered_to(aci)[0].text


async def test_what_another_device_of_the_account_sent_is_not_answered(
    fake: FakeSignalCli, signal: SignalTransport
) -> None:
    someone = new_aci()
    fake.receive(sync_sent_envelope(fake.aci, someone, "start"))
    await Person(fake).say("start")  # handled after the sync message
    assert fake.delivered_to(fake.aci) == fake.delivered_to(someone) == []


async def test_a_group_gets_one_polite_line_once(
    app: App, fake: FakeSignalCli, signal: SignalTransport
) -> None:
    group = base64.b64encode(b"group-id-of-32-bytes-for-tests!!").decode()
    fake.receive(data_envelope(new_aci(), "Hallo Bot", group_id=group))
    fake.receive(data_envelope(new_aci(), "hilfe", group_id=group))
    await Person(fake).say("start")  # handled after both group messages
    sent = fake.delivered_to(group)
    assert len(sent) == 1
    polite = app.translations.get("de")._(
        "Hello! I only talk one to one. Please write to me in a private chat."
    )
    assert sent[0].text == polite
    assert fake.calls_of("send")[0].params["groupId"] == group
    assert "recipient" not in fake.calls_of("send")[0].params


async def test_a_slow_answer_shows_typing_first(app: App, fake: FakeSignalCli) -> None:
    class SlowConversation:
        async def handle_async(self, incoming: Incoming) -> list[Reply]:
            await asyncio.sleep(0.2)
            return [Reply("Hier ist die Antwort.")]

    transport = make_transport(app, fake, typing_after=0.02)
    transport.conversation = SlowConversation()  # type: ignore[assignment]
    async with running(transport):
        person = Person(fake)
        assert await person.say("hallo") == "Hier ist die Antwort."
    typing, send = fake.calls_of("sendTyping"), fake.calls_of("send")
    assert typing and typing[0].params["recipient"] == [person.aci]
    assert typing[0].at < send[0].at


async def test_a_failed_typing_indicator_does_not_hold_up_the_answer(
    app: App, fake: FakeSignalCli
) -> None:
    class SlowConversation:
        async def handle_async(self, incoming: Incoming) -> list[Reply]:
            await asyncio.sleep(0.1)
            return [Reply("Hier ist die Antwort.")]

    transport = make_transport(app, fake, typing_after=0.02)
    transport.conversation = SlowConversation()  # type: ignore[assignment]
    fake.fail_next("sendTyping", -32603)
    async with running(transport):
        assert await Person(fake).say("hallo") == "Hier ist die Antwort."
    assert len(fake.calls_of("sendTyping")) == 1


# -- proactive messages ------------------------------------------------------------------------


def most_in_window(times: list[float], width: float) -> int:
    times = sorted(times)
    most, start = 0, 0
    for end, moment in enumerate(times):
        while moment - times[start] >= width:
            start += 1
        most = max(most, end - start + 1)
    return most


async def test_proactive_sends_are_paced(app: App, fake: FakeSignalCli) -> None:
    rate = 200.0
    people = [new_aci() for _ in range(200)]
    async with running(make_transport(app, fake, rate=rate)) as transport:
        await asyncio.gather(
            *(transport.send(aci, [Reply("Erinnerung: Demokratie-Café")]) for aci in people)
        )
    times = [call.at for call in fake.calls_of("send")]
    assert sorted(d.to for d in fake.deliveries) == sorted(people)
    # Evenly spaced: any half second holds at most rate/2 + 1 sends (a few ms of slack for the
    # loopback socket), and the whole batch takes as long as the rate says.
    assert most_in_window(times, 0.5 - 0.01) <= rate / 2 + 1
    assert max(times) - min(times) >= (len(people) - 1) / rate - 0.02


async def test_after_a_rate_limit_proactive_sends_go_at_half_the_pace(
    app: App, fake: FakeSignalCli
) -> None:
    rate = 20.0
    async with running(make_transport(app, fake, rate=rate)) as transport:

        async def spacing() -> float:
            before = len(fake.calls_of("send"))
            for _ in range(6):
                await transport.send(new_aci(), [Reply("Erinnerung")])
            times = [call.at for call in fake.calls_of("send")[before:]]
            return (times[-1] - times[0]) / (len(times) - 1)

        assert await spacing() < 1.5 / rate
        fake.fail_next("send", -5)
        with pytest.raises(RetryLater):
            await transport.send(new_aci(), [Reply("Erinnerung")])
        assert await spacing() >= 2 / rate - 0.005


async def test_answers_go_before_waiting_proactive_sends() -> None:
    limiter = RateLimiter(200.0)
    order: list[str] = []

    async def take(name: str, urgent: bool) -> None:
        await limiter.acquire(urgent=urgent)
        order.append(name)

    batch = [asyncio.create_task(take(f"reminder{i}", False)) for i in range(50)]
    await asyncio.sleep(0.02)  # a few reminders are out; the rest wait
    already_out = len(order)
    answer = asyncio.create_task(take("answer", True))
    await asyncio.gather(answer, *batch)
    # Next in line (one reminder may have been let through but not yet have run).
    assert order.index("answer") <= already_out + 1
    assert already_out < 50, "every reminder was out before the answer came"


async def test_a_reminder_keeps_its_buttons_as_numbers(
    fake: FakeSignalCli, signal: SignalTransport
) -> None:
    aci = new_aci()
    reminder = Reply(
        "Morgen: Demokratie-Café",
        buttons=((Button("✅ Ich komme", "e:1"), Button("📅 Alle Termine", "events")),),
    )
    await signal.send(aci, [reminder])
    [delivery] = fake.delivered_to(aci)
    assert delivery.text == "Morgen: Demokratie-Café\n1) ✅ Ich komme\n2) 📅 Alle Termine"


async def test_rate_limit_error_means_retry_later(
    fake: FakeSignalCli, signal: SignalTransport
) -> None:
    aci = new_aci()
    response = {
        "timestamp": 1700000000000,
        "results": [
            {
                "recipientAddress": {"uuid": aci, "number": None, "username": None},
                "type": "RATE_LIMIT_FAILURE",
                "retryAfterSeconds": 42,
            }
        ],
    }
    fake.fail_next("send", -5, data={"response": response})
    with pytest.raises(RetryLater) as hinted:
        await signal.send(aci, [Reply("Neue Angebote")])
    assert hinted.value.retry_after == 42
    fake.fail_next("send", -5)
    with pytest.raises(RetryLater) as unhinted:
        await signal.send(aci, [Reply("Neue Angebote")])
    assert unhinted.value.retry_after == 60
    fake.recipient_results[aci] = "RATE_LIMIT_FAILURE"
    fake.retry_after_seconds = 7
    with pytest.raises(RetryLater) as per_recipient:
        await signal.send(aci, [Reply("Neue Angebote")])
    assert per_recipient.value.retry_after == 7
    assert fake.delivered_to(aci) == []


async def test_a_rate_limited_upload_means_retry_later(
    fake: FakeSignalCli, signal: SignalTransport
) -> None:
    aci = new_aci()
    calendar = Attachment("termin.ics", b"BEGIN:VCALENDAR", "text/calendar", "Kalender")
    fake.fail_next("send", -32603, UPLOAD_RATE_LIMITED)
    with pytest.raises(RetryLater) as limited:
        await signal.send(aci, [Reply("Erinnerung: morgen", attachments=(calendar,))])
    assert limited.value.retry_after == 60
    # A limit on the upload form comes wrapped differently, naming the whole data URI.
    fake.rate_limit_next_upload()
    with pytest.raises(RetryLater) as limited_form:
        await signal.send(aci, [Reply("Erinnerung: morgen", attachments=(calendar,))])
    assert limited_form.value.retry_after == 60
    assert "base64" not in str(limited_form.value)
    # Retried, it goes out whole.
    await signal.send(aci, [Reply("Erinnerung: morgen", attachments=(calendar,))])
    [delivery] = fake.delivered_to(aci)
    assert delivery.attachments[0].startswith("data:text/calendar;")


async def test_a_notice_is_retried_after_a_network_failure_and_as_an_upload_limit_says(
    app: App, clock: FakeClock, fake: FakeSignalCli, signal: SignalTransport
) -> None:
    aci = new_aci()
    now = clock.now()
    with session_scope(app.engine) as session:
        user = User(
            transport="signal",
            external_id=aci,
            locale="de",
            consent_at=now,
            created_at=now,
            last_seen_at=now,
        )
        session.add(user)
        session.flush()
        report = {"delivered": 3, "blocked": 0, "failed": 0}
        message = NewMessage(user=user, kind="broadcast_report", dedupe_key="r:1", payload=report)
        enqueue_many(session, [message], now=now)
    worker = DeliveryWorker(
        conversation=app.conversation,
        transport=signal,
        clock=clock,
        rate=1000,
        max_attempts=5,
        pacer=NoWaitPacer(),
    )

    def row() -> OutboxMessage:
        with session_scope(app.engine) as session:
            return session.exec(select(OutboxMessage)).one()

    fake.fail_next("send", -32603)  # a network blip: back-off
    await worker.deliver_due()
    assert (row().status, row().attempts) == (OutboxStatus.PENDING, 1)
    clock.advance(row().next_attempt_at - clock.now())
    fake.fail_next("send", -32603, UPLOAD_RATE_LIMITED)  # the upload limit: a minute
    await worker.deliver_due()
    assert row().next_attempt_at == clock.now() + timedelta(seconds=60)
    clock.advance(timedelta(seconds=59))
    await worker.deliver_due()
    assert fake.delivered_to(aci) == []
    clock.advance(timedelta(seconds=2))
    await worker.deliver_due()
    assert row().status == OutboxStatus.SENT
    assert len(fake.delivered_to(aci)) == 1
    assert len(fake.calls_of("send")) == 3


async def test_a_reminder_is_retried_after_a_network_failure_and_as_an_upload_limit_says(
    app: App, clock: FakeClock, fake: FakeSignalCli, signal: SignalTransport
) -> None:
    t = app.translations.get("de")
    person = Person(fake)
    text = await person.say("start")
    text = await person.say(number_of(text, "Deutsch"))
    await person.say(number_of(text, t.pgettext("button", "✅ I agree")))
    text = await person.say("/events")
    text = await person.say(number_of(text, "Demokratie-Café"))
    text = await person.say(number_of(text, t.pgettext("button", "✋ I'm going")))
    # One short line with the card's numbered buttons as they are now; no card, no pin again.
    assert "1) " + t.pgettext("button", "❌ Can't come") in text
    assert "📍" not in text and t._("You are going.") not in text
    answers = len(fake.delivered_to(person.aci))
    with session_scope(app.engine) as session:
        cafe = next(e for e in session.exec(select(Event)).all() if "Demokratie-Café" in e.title)
    worker = DeliveryWorker(
        conversation=app.conversation,
        transport=signal,
        clock=clock,
        rate=1000,
        max_attempts=5,
        pacer=NoWaitPacer(),
    )
    jobs = Jobs(conversation=app.conversation, settings=app.settings, clock=clock)
    clock.advance(cafe.starts_at - timedelta(hours=24) - clock.now() + timedelta(minutes=1))
    assert jobs.queue_due() == 1

    def reminder() -> OutboxMessage:
        with session_scope(app.engine) as session:
            return session.exec(select(OutboxMessage).where(OutboxMessage.kind == "reminder")).one()

    # A network blip (SendCommand's IOException, -32603 with data null): back-off, counted.
    fake.fail_next("send", -32603)
    await worker.deliver_due()
    row = reminder()
    assert (row.status, row.attempts) == (OutboxStatus.PENDING, 1)
    backoff = row.next_attempt_at - clock.now()
    assert timedelta(seconds=24) <= backoff <= timedelta(seconds=36)
    clock.advance(backoff)
    # An upload rate limit: a minute, as for a limit without a hint, and not counted.
    fake.fail_next("send", -32603, UPLOAD_RATE_LIMITED)
    await worker.deliver_due()
    row = reminder()
    assert (row.status, row.attempts, row.last_error) == (OutboxStatus.PENDING, 1, "rate limited")
    assert row.next_attempt_at == clock.now() + timedelta(seconds=60)
    clock.advance(timedelta(seconds=59))
    await worker.deliver_due()
    assert len(fake.delivered_to(person.aci)) == answers
    clock.advance(timedelta(seconds=2))
    await worker.deliver_due()
    assert reminder().status == OutboxStatus.SENT
    [sent] = fake.delivered_to(person.aci)[answers:]
    assert "Demokratie-Café" in sent.text and "Königstraße" in sent.text
    assert re.search(r"^1\) ", sent.text, re.M), sent.text  # its buttons, as numbers
    assert len(fake.calls_of("send")) == answers + 3


async def test_an_empty_attachment_is_left_out_before_sending(
    fake: FakeSignalCli, signal: SignalTransport, caplog: pytest.LogCaptureFixture
) -> None:
    aci = new_aci()
    empty = Attachment("leer.ics", b"", "text/calendar", "Kalender")
    await signal.send(aci, [Reply("Erinnerung: morgen", attachments=(empty,))])
    [delivery] = fake.delivered_to(aci)
    assert delivery.text == "Erinnerung: morgen" and delivery.attachments == ()
    assert any("leer.ics" in r.getMessage() for r in caplog.records)
    # What signal-cli does with one: reads "data:...;base64," as a file that is not there.
    fake.calls.clear()
    reader, writer = await asyncio.open_connection(fake.host, fake.port)
    try:
        request = {
            "jsonrpc": "2.0",
            "method": "send",
            "id": 1,
            "params": {"recipient": [aci], "attachments": ["data:text/calendar;base64,"]},
        }
        writer.write(json.dumps(request).encode() + b"\n")
        answer = json.loads(await reader.readline())
        while "method" in answer:  # a receive notification of this connection
            answer = json.loads(await reader.readline())
    finally:
        writer.close()
    assert answer["error"]["code"] == -32603 and answer["error"]["data"] is None
    assert "(AttachmentInvalidException)" in answer["error"]["message"]


async def test_a_proof_required_challenge_names_its_token_and_waits_as_told(
    fake: FakeSignalCli, signal: SignalTransport, caplog: pytest.LogCaptureFixture
) -> None:
    aci = new_aci()
    fake.recipient_results[aci] = "RATE_LIMIT_FAILURE"
    fake.challenge_token = "5f1c9a2e-challenge"
    fake.retry_after_seconds = 86400
    with pytest.raises(RetryLater) as challenged:
        await signal.send(aci, [Reply("Erinnerung")])
    assert challenged.value.retry_after == 86400
    assert len(fake.calls_of("send")) == 1
    assert any("5f1c9a2e-challenge" in r.getMessage() for r in caplog.records)


@pytest.fixture
def admins() -> tuple[str, str]:
    """The ACIs of two admins on Signal (ADMIN_IDS), one German, one Arabic."""
    return new_aci(), new_aci()


@pytest.fixture
def admin_app(database_url: str, clock: FakeClock, admins: tuple[str, str]) -> Iterator[App]:
    settings = make_settings(database_url, admin_ids=",".join(f"signal:{aci}" for aci in admins))
    application = App(settings, clock=clock)
    yield application
    application.close()


async def onboard(fake: FakeSignalCli, app: App, aci: str, language: str) -> None:
    person = Person(fake)
    person.aci = aci
    text = await person.say("start")
    text = await person.say(number_of(text, language))
    t = app.translations.get({"Deutsch": "de", "العربية": "ar"}[language])
    await person.say(number_of(text, t.pgettext("button", "✅ I agree")))


def delivery_worker(app: App, clock: FakeClock, transport: SignalTransport) -> DeliveryWorker:
    return DeliveryWorker(
        conversation=app.conversation,
        transport=transport,
        clock=clock,
        rate=1000,
        max_attempts=5,
        pacer=NoWaitPacer(),
    )


def queued(app: App, kind: str) -> list[OutboxMessage]:
    with session_scope(app.engine) as session:
        return list(session.exec(select(OutboxMessage).where(OutboxMessage.kind == kind)).all())


async def test_a_proof_required_challenge_reaches_the_admins_once_in_their_language(
    admin_app: App, clock: FakeClock, fake: FakeSignalCli, admins: tuple[str, str]
) -> None:
    app = admin_app
    german, arabic = admins
    async with running(make_transport(app, fake)) as transport:
        await onboard(fake, app, german, "Deutsch")
        await onboard(fake, app, arabic, "العربية")
        told = {aci: len(fake.delivered_to(aci)) for aci in admins}
        people = [new_aci() for _ in range(3)]
        for aci in people:
            fake.recipient_results[aci] = "RATE_LIMIT_FAILURE"
        fake.challenge_token = "5f1c9a2e-7d41-4b0a-9c3e-2a1b0c9d8e7f"
        fake.retry_after_seconds = 86400
        for aci in people:
            with pytest.raises(RetryLater):
                await transport.send(aci, [Reply("Erinnerung")])
        await wait_until(lambda: len(queued(app, "send_challenge")) == 2, what="the notices")
        await delivery_worker(app, clock, transport).deliver_due()
        # Another challenge later is news again; the same one is not.
        fake.challenge_token = "0c1d2e3f-4a5b-4c6d-8e7f-901a2b3c4d5e"
        with pytest.raises(RetryLater):
            await transport.send(people[0], [Reply("Erinnerung")])
        await wait_until(lambda: len(queued(app, "send_challenge")) == 4, what="new notices")
    assert not queued(app, "send_limit"), "a challenge is not told twice as a rate limit too"
    notice, commands = fake.delivered_to(german)[told[german] :]
    de = app.translations.get("de")
    assert notice.text.startswith("⚠️ Signal ")
    assert de.duration(timedelta(days=1)) in notice.text
    assert "https://signalcaptchas.org/challenge/generate.html" in notice.text
    lines = commands.text.split("\n")
    request = json.loads(lines[0].split("'")[1])
    assert request["method"] == "submitRateLimitChallenge"
    assert request["params"] == {
        "account": fake.account,
        "challenge": "5f1c9a2e-7d41-4b0a-9c3e-2a1b0c9d8e7f",
        "captcha": "CAPTCHA",
    }
    assert lines[0].endswith(f"| nc {fake.host} {fake.port}")
    assert lines[2] == (
        f"signal-cli -a {fake.account} submitRateLimitChallenge "
        "--challenge 5f1c9a2e-7d41-4b0a-9c3e-2a1b0c9d8e7f --captcha CAPTCHA"
    )
    in_arabic, arabic_commands = fake.delivered_to(arabic)[told[arabic] :]
    assert in_arabic.text != notice.text
    assert all(line.startswith(RLM) for line in in_arabic.text.split("\n") if line)
    # The commands reach an Arabic reader exactly as a German one: no mark breaks them in a shell.
    assert arabic_commands.text == commands.text
    assert app.translations.get("ar").duration(timedelta(days=1)) in in_arabic.text


async def test_the_admins_notice_goes_out_while_everything_else_waits_out_the_limit(
    admin_app: App, clock: FakeClock, fake: FakeSignalCli, admins: tuple[str, str]
) -> None:
    app = admin_app
    german, _ = admins
    people = [new_aci() for _ in range(3)]
    now = clock.now()
    with session_scope(app.engine) as session:
        for aci in people:
            user = User(
                transport="signal",
                external_id=aci,
                locale="de",
                consent_at=now,
                created_at=now,
                last_seen_at=now,
            )
            session.add(user)
            session.flush()
            report = {"delivered": 3, "blocked": 0, "failed": 0}
            key = f"r:{aci}"
            enqueue_many(
                session,
                [NewMessage(user=user, kind="broadcast_report", dedupe_key=key, payload=report)],
                now=now,
            )
    fake.recipient_results[people[0]] = "RATE_LIMIT_FAILURE"
    fake.challenge_token = "5f1c9a2e-7d41-4b0a-9c3e-2a1b0c9d8e7f"
    fake.retry_after_seconds = 86400
    async with running(make_transport(app, fake)) as transport:
        await onboard(fake, app, german, "Deutsch")
        told = len(fake.delivered_to(german))
        # A real pacer: the limit's pause holds every other notice for a day.
        worker = DeliveryWorker(
            conversation=app.conversation,
            transport=transport,
            clock=clock,
            rate=1000,
            max_attempts=5,
        )
        await asyncio.wait_for(worker.deliver_due(), 5)
        await wait_until(lambda: bool(queued(app, "send_challenge")), what="the admin's notice")
        await asyncio.wait_for(worker.deliver_due(), 5)
    notice, commands = fake.delivered_to(german)[told:]
    assert "signalcaptchas.org" in notice.text
    assert "submitRateLimitChallenge" in commands.text
    assert [len(fake.delivered_to(aci)) for aci in people] == [0, 0, 0]
    rows = queued(app, "broadcast_report")
    assert {row.status for row in rows} == {OutboxStatus.PENDING}
    assert len(fake.calls_of("send")) == told + 3  # the limited one, then the admin's notice


async def test_the_admins_hear_once_when_a_rate_limit_begins(
    admin_app: App, clock: FakeClock, fake: FakeSignalCli, admins: tuple[str, str]
) -> None:
    app = admin_app
    german, _ = admins
    async with running(make_transport(app, fake)) as transport:
        await onboard(fake, app, german, "Deutsch")
        told = len(fake.delivered_to(german))
        for _ in range(3):
            fake.fail_next("send", -5)
            with pytest.raises(RetryLater):
                await transport.send(new_aci(), [Reply("Erinnerung")])
        await wait_until(lambda: bool(queued(app, "send_limit")), what="the notice")
        await asyncio.sleep(0.05)
        assert len(queued(app, "send_limit")) == 1, "only the admin who wrote to the bot"
        worker = delivery_worker(app, clock, transport)
        await worker.deliver_due()
        [notice] = fake.delivered_to(german)[told:]
        de = app.translations.get("de")
        assert notice.text == de._(
            "⚠️ %(messenger)s is limiting how many messages the bot may send. Reminders and "
            "announcements there wait about %(wait)s and then go out more slowly.",
            messenger="Signal",
            wait=de.duration(timedelta(seconds=60)),
        )
        # It lifts, and comes back within the hour: the same episode, told already.
        await transport.send(new_aci(), [Reply("Erinnerung")])
        fake.fail_next("send", -5)
        with pytest.raises(RetryLater):
            await transport.send(new_aci(), [Reply("Erinnerung")])
        await asyncio.sleep(0.1)
        assert len(queued(app, "send_limit")) == 1
        # Two hours later it is news again.
        clock.advance(timedelta(hours=2))
        await transport.send(new_aci(), [Reply("Erinnerung")])
        fake.fail_next("send", -5)
        with pytest.raises(RetryLater):
            await transport.send(new_aci(), [Reply("Erinnerung")])
        await wait_until(lambda: len(queued(app, "send_limit")) == 2, what="the second notice")


async def test_answers_in_any_order_reach_the_request_they_belong_to(
    fake: FakeSignalCli, signal: SignalTransport
) -> None:
    fake.answer_delay = 0.05
    people = [new_aci() for _ in range(30)]
    gone = people[7]
    fake.recipient_results[gone] = "UNREGISTERED_FAILURE"
    outcomes = await asyncio.gather(
        *(signal.send(aci, [Reply(f"Erinnerung für {aci}")]) for aci in people),
        return_exceptions=True,
    )
    send_ids = [call.id for call in fake.calls_of("send")]
    assert [i for i in fake.answered if i in send_ids] != send_ids, "answered in order"
    assert [type(o) for o in outcomes] == [
        RecipientGone if aci == gone else type(None) for aci in people
    ]
    assert all(
        fake.delivered_to(aci)[0].text == f"Erinnerung für {aci}" for aci in people if aci != gone
    )
    typing = await signal.client.call("sendTyping", {"recipient": [people[0]]})
    assert set(typing) == {"timestamp", "results"}
    assert typing["results"][0]["type"] == "SUCCESS"


async def test_conversations_and_reminders_while_the_daemon_answers_out_of_order(
    app: App, fake: FakeSignalCli, signal: SignalTransport
) -> None:
    # signal-cli answers each request on its own thread: three people talk, typing
    # indicators and reminders go out, and the answers overtake one another.
    fake.answer_delay = 0.05
    signal.typing_after = 0.0  # every answer is preceded by a typing indicator as well

    async def visit(person: Person) -> str:
        text = await person.say("start")
        text = await person.say(number_of(text, "English"))
        text = await person.say(number_of(text, "I agree"))
        text = await person.say("/events")
        return await person.say(number_of(text, "Democracy Café"))

    people = [Person(fake) for _ in range(3)]
    reminded = [new_aci() for _ in range(20)]
    outcomes = await asyncio.gather(
        *(visit(person) for person in people),
        *(signal.send(aci, [Reply(f"Reminder for {aci}")]) for aci in reminded),
    )
    assert all("When:" in text and "Königstraße" in text for text in outcomes[:3])
    assert all(len(fake.delivered_to(person.aci)) == 5 for person in people)
    assert all(fake.delivered_to(aci)[0].text == f"Reminder for {aci}" for aci in reminded)
    call_ids = [call.id for call in fake.calls]
    assert [i for i in fake.answered if i in call_ids] != call_ids, "answered in order"
    assert fake.calls_of("sendTyping")


async def test_an_unregistered_recipient_is_gone_and_inactive(
    app: App, fake: FakeSignalCli, signal: SignalTransport
) -> None:
    person = Person(fake)
    await person.say("start")
    fake.recipient_results[person.aci] = "UNREGISTERED_FAILURE"
    with pytest.raises(RecipientGone):
        await signal.send(person.aci, [Reply("Erinnerung")])
    with session_scope(app.engine) as session:
        user = session.exec(select(User).where(User.external_id == person.aci)).one()
        assert user.active is False


async def test_a_recipient_signal_cli_cannot_resolve_is_gone(
    fake: FakeSignalCli, signal: SignalTransport
) -> None:
    aci = new_aci()
    fake.fail_next("send", -1, f"The user {aci} is not registered.")
    with pytest.raises(RecipientGone):
        await signal.send(aci, [Reply("Erinnerung")])


async def test_server_errors_and_a_long_outage_are_temporary(
    app: App, fake: FakeSignalCli, caplog: pytest.LogCaptureFixture
) -> None:
    async with running(make_transport(app, fake, connect_wait=0.2)) as transport:
        fake.fail_next("send", -32603)
        with pytest.raises(TemporaryFailure):
            await transport.send(new_aci(), [Reply("Erinnerung")])
        blip = new_aci()
        fake.recipient_results[blip] = "NETWORK_FAILURE"
        with pytest.raises(TemporaryFailure):
            await transport.send(blip, [Reply("Erinnerung")])
        assert not [r for r in caplog.records if r.levelname == "ERROR"]
        await fake.stop()
        with pytest.raises(TemporaryFailure):
            await transport.send(new_aci(), [Reply("Erinnerung")])


@pytest.mark.parametrize("delivered", [True, False], ids=["sent-then-died", "died-before"])
async def test_a_daemon_restart_loses_no_proactive_message(
    app: App, fake: FakeSignalCli, delivered: bool
) -> None:
    people = [new_aci() for _ in range(50)]
    fake.crash_on_send(25, delivered=delivered)
    async with running(make_transport(app, fake)) as transport:
        for aci in people:  # one after another, as the outbox worker sends
            await transport.send(aci, [Reply("Erinnerung: morgen Demokratie-Café")])
    assert fake.connections == 2
    counts = {aci: len(fake.delivered_to(aci)) for aci in people}
    assert all(count >= 1 for count in counts.values()), "a message was lost"
    twice = [aci for aci, count in counts.items() if count > 1]
    # Only the send the daemon carried out but could not confirm goes out twice.
    assert twice == ([people[24]] if delivered else [])


async def test_reconnects_after_a_restart_while_idle(
    fake: FakeSignalCli, signal: SignalTransport
) -> None:
    person = Person(fake)
    assert "1) Deutsch" in await person.say("start")
    await fake.restart()
    assert "2) English" in await person.say("start")
    assert fake.connections == 2


async def test_requests_in_flight_are_written_again_after_a_reconnect(
    fake: FakeSignalCli,
    signal: SignalTransport,
) -> None:
    await fake.stop()
    await wait_until(lambda: not signal.client.connected, what="the connection to drop")
    aci = new_aci()
    sending = asyncio.create_task(signal.send(aci, [Reply("Erinnerung")]))
    await asyncio.sleep(0.05)
    assert not sending.done()
    await fake.start()
    await asyncio.wait_for(sending, 3)
    assert len(fake.delivered_to(aci)) == 1


async def test_engagebot_run_starts_signal_when_an_account_is_set(
    database_url: str, clock: FakeClock, fake: FakeSignalCli
) -> None:
    settings = make_settings(
        database_url,
        signal_account=fake.account,
        signal_cli_endpoint=f"tcp://{fake.host}:{fake.port}",
    )
    app = App(settings, clock=clock)
    running_bot = asyncio.create_task(cli._run(app))
    try:
        assert "1) Deutsch" in await Person(fake).say("start")
    finally:
        running_bot.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running_bot
        app.close()


# -- stopping, and when signal-cli takes messages ------------------------------------------------


class SlowConversation:
    """The real conversation after a pause; a text in `hang_on` never gets an answer."""

    def __init__(self, real: Any, delay: float, hang_on: str | None = None) -> None:
        self.real = real
        self.delay = delay
        self.hang_on = hang_on
        self.started = 0
        self.cancelled = 0

    async def handle_async(self, incoming: Incoming) -> list[Reply]:
        self.started += 1
        try:
            if incoming.text == self.hang_on:
                await asyncio.Event().wait()
            await asyncio.sleep(self.delay)
            return await self.real.handle_async(incoming)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise


async def stop(task: asyncio.Task[None]) -> float:
    """Cancel a running transport as SIGTERM does (once); return how long it took to stop."""
    loop = asyncio.get_running_loop()
    began = loop.time()
    if not task.cancelling():
        task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.wait_for(task, 8)
    return loop.time() - began


@pytest.mark.parametrize("fake", ["on-connection", "manual"], indirect=True)
async def test_a_clean_stop_answers_every_message_signal_cli_took(
    app: App, fake: FakeSignalCli
) -> None:
    slow = SlowConversation(app.conversation, delay=0.3)
    transport = make_transport(app, fake)
    transport.conversation = slow  # type: ignore[assignment]
    task = asyncio.create_task(transport.run())
    await wait_until(lambda: fake.subscribed, what="signal-cli to take messages")
    people = [new_aci() for _ in range(10)]
    for aci in people:
        fake.receive(data_envelope(aci, "start"))
    # Stopped right away: the messages are on the connection, acknowledged, not yet read.
    took = await stop(task)
    assert len(fake.handed_over) == 10
    assert {aci: len(fake.delivered_to(aci)) for aci in people} == dict.fromkeys(people, 1)
    assert "1) Deutsch" in fake.delivered_to(people[-1])[0].text
    assert (slow.started, slow.cancelled) == (10, 0)
    assert took < 3
    if fake.receive_mode == "manual":
        [unsubscribe] = fake.calls_of("unsubscribeReceive")
        assert unsubscribe.params == {"subscription": 0, "account": fake.account}
        assert unsubscribe.at < fake.calls_of("send")[0].at, "took messages while stopping"
        assert not fake.subscribed


async def test_the_time_limit_cuts_a_hung_answer_short_and_says_so(
    app: App, fake: FakeSignalCli, caplog: pytest.LogCaptureFixture
) -> None:
    slow = SlowConversation(app.conversation, delay=0.05, hang_on="hängt")
    transport = make_transport(app, fake, stop_timeout=0.4)
    transport.conversation = slow  # type: ignore[assignment]
    task = asyncio.create_task(transport.run())
    await wait_until(lambda: transport.client.connected, what="the first connection")
    hung, fine = new_aci(), new_aci()
    fake.receive(data_envelope(hung, "hängt"))
    fake.receive(data_envelope(fine, "start"))
    await wait_until(lambda: slow.started == 2, what="both answers to begin")
    took = await stop(task)
    assert 0.4 <= took < 1.5
    assert len(fake.delivered_to(fine)) == 1
    assert fake.delivered_to(hung) == []
    assert slow.cancelled == 1
    [line] = [r.getMessage() for r in caplog.records if "cut short" in r.getMessage()]
    assert line.endswith("unanswered messages cut short: 1")


async def test_on_connection_mode_answers_what_still_arrives_while_stopping(
    app: App, fake: FakeSignalCli
) -> None:
    slow = SlowConversation(app.conversation, delay=0.3)
    transport = make_transport(app, fake)
    transport.conversation = slow  # type: ignore[assignment]
    task = asyncio.create_task(transport.run())
    await wait_until(lambda: transport.client.connected, what="the first connection")
    first, late = new_aci(), new_aci()
    fake.receive(data_envelope(first, "start"))
    await wait_until(lambda: slow.started == 1, what="the first answer to begin")
    task.cancel()
    await asyncio.sleep(0.1)
    # The connection is still open, so signal-cli still takes messages off Signal for us.
    fake.receive(data_envelope(late, "start"))
    await stop(task)
    assert len(fake.delivered_to(first)) == 1
    assert len(fake.delivered_to(late)) == 1
    assert slow.cancelled == 0


@pytest.mark.parametrize("fake", ["manual"], indirect=True)
async def test_a_stopping_bot_in_manual_mode_takes_nothing_more_but_still_sends(
    app: App, fake: FakeSignalCli
) -> None:
    slow = SlowConversation(app.conversation, delay=0.5)
    transport = make_transport(app, fake)
    transport.conversation = slow  # type: ignore[assignment]
    task = asyncio.create_task(transport.run())
    first, later, reminded = new_aci(), new_aci(), new_aci()
    fake.receive(data_envelope(first, "start"))
    await wait_until(lambda: slow.started == 1, what="the first answer to begin")
    task.cancel()
    await wait_until(lambda: not fake.subscribed, what="the subscription to end")
    fake.receive(data_envelope(later, "start"))
    # The outbox's sends keep working while the answers in flight are finished.
    await transport.send(reminded, [Reply("Erinnerung: Demokratie-Café")])
    assert not task.done()
    await stop(task)
    assert len(fake.delivered_to(first)) == 1
    assert len(fake.delivered_to(reminded)) == 1
    # Left on Signal's server for the next start, not taken and dropped.
    assert fake.delivered_to(later) == []
    assert [envelope["sourceUuid"] for envelope in fake.waiting] == [later]
    assert slow.started == 1


@pytest.mark.parametrize("fake", ["manual"], indirect=True)
async def test_manual_mode_receives_once_subscribed_and_again_after_a_reconnect(
    fake: FakeSignalCli, signal: SignalTransport
) -> None:
    person = Person(fake)
    assert "1) Deutsch" in await person.say("start")
    [subscribe] = fake.calls_of("subscribeReceive")
    assert subscribe.params == {"account": fake.account}
    await fake.restart()
    assert "2) English" in await person.say("start")
    assert len(fake.calls_of("subscribeReceive")) == 2
    assert fake.connections == 2


@pytest.mark.parametrize("fake", ["manual"], indirect=True)
async def test_the_fake_daemon_in_manual_mode_sends_nothing_until_subscribed(
    fake: FakeSignalCli,
) -> None:
    reader, writer = await asyncio.open_connection(fake.host, fake.port)

    async def call(line: bytes) -> dict[str, Any]:
        writer.write(line + b"\n")
        return json.loads(await reader.readline())

    async def nothing_arrives() -> bool:
        try:
            await asyncio.wait_for(reader.readline(), 0.1)
        except TimeoutError:
            return True
        return False

    before, after = new_aci(), new_aci()
    try:
        fake.receive(data_envelope(before, "hallo"))
        assert await nothing_arrives()
        subscribed = await call(b'{"jsonrpc":"2.0","method":"subscribeReceive","id":1}')
        assert subscribed == {"jsonrpc": "2.0", "result": 0, "id": 1}
        notification = json.loads(await reader.readline())
        assert set(notification) == {"jsonrpc", "method", "params"}
        assert notification["method"] == "receive"
        assert notification["params"]["subscription"] == 0
        assert notification["params"]["result"]["account"] == fake.account
        assert notification["params"]["result"]["envelope"]["sourceUuid"] == before
        unsubscribe = b'{"jsonrpc":"2.0","method":"unsubscribeReceive","id":2,"params":'
        ended = await call(unsubscribe + b'{"subscription":0}}')
        assert ended == {"jsonrpc": "2.0", "result": {}, "id": 2}
        fake.receive(data_envelope(after, "hallo"))
        assert await nothing_arrives()
        assert [envelope["sourceUuid"] for envelope in fake.waiting] == [after]
        unknown = await call(unsubscribe + b'{"subscription":0}}')
        assert unknown["error"]["code"] == -1
        assert unknown["error"]["message"] == "Unknown subscription id"
    finally:
        writer.close()


@pytest.fixture(scope="module")
def migrated_demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database set up as an operator does: `engagebot db upgrade`, then `demo-data`.

    The commands run in this process (the `engagebot` script calls `cli.main`): two more
    interpreters would double the test's time on a busy machine.
    """
    folder = tmp_path_factory.mktemp("engagebot-run")
    database = folder / "bot.db"
    with (
        contextlib.chdir(folder),  # no .env of the developer's
        mock.patch.dict(os.environ, {"DATABASE_URL": f"sqlite:///{database}"}),
    ):
        assert cli.main(["db", "upgrade"]) == 0
        assert cli.main(["demo-data"]) == 0
    return database


ENGAGEBOT = Path(sys.executable).with_name("engagebot")


def bot_environment(database: Path, **settings: str) -> dict[str, str]:
    """The environment of an `engagebot` process: only what it needs, no token, no .env."""
    variables = {"PATH": os.environ.get("PATH", ""), "HOME": str(database.parent)}
    return {
        **variables,
        "DATABASE_URL": f"sqlite:///{database}",
        "TELEGRAM_BOT_TOKEN": "",
        **settings,
    }


@pytest.mark.parametrize("fake", ["on-connection", "manual"], indirect=True)
async def test_engagebot_run_answers_everything_it_took_before_sigterm(
    tmp_path: Path, migrated_demo: Path, fake: FakeSignalCli
) -> None:
    database = tmp_path / "bot.db"
    shutil.copyfile(migrated_demo, database)
    environment = bot_environment(
        database,
        SIGNAL_ACCOUNT=fake.account,
        SIGNAL_CLI_ENDPOINT=f"tcp://{fake.host}:{fake.port}",
        SIGNAL_RECEIVE_MODE=fake.receive_mode,
        # Ten answers take two seconds, so most are still to go out when the stop begins (at
        # the default of one a second they would take ten).
        SIGNAL_RATE="5",
    )
    bot = await asyncio.create_subprocess_exec(
        ENGAGEBOT,
        "run",
        env=environment,
        cwd=tmp_path,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        await wait_until(lambda: fake.subscribed, timeout=8, what="the bot to connect")
        people = [new_aci() for _ in range(10)]
        for aci in people:
            fake.receive(data_envelope(aci, "start"))
        bot.send_signal(signal_module.SIGTERM)
        _, log = await asyncio.wait_for(bot.communicate(), 8)
    finally:
        if bot.returncode is None:
            bot.kill()
            await bot.wait()
    assert bot.returncode == 0, log.decode()
    assert {aci: len(fake.delivered_to(aci)) for aci in people} == dict.fromkeys(people, 1)
    assert all("1) Deutsch" in fake.delivered_to(aci)[0].text for aci in people)
    assert b"cut short" not in log


async def test_engagebot_run_tells_an_admin_of_a_captcha_challenge(
    tmp_path: Path, migrated_demo: Path, fake: FakeSignalCli
) -> None:
    database = tmp_path / "bot.db"
    shutil.copyfile(migrated_demo, database)
    admin, limited = new_aci(), new_aci()
    engine = make_engine(f"sqlite:///{database}")
    try:
        with session_scope(engine) as session:
            now = datetime.now(UTC)
            users = {}
            for aci in (admin, limited):
                users[aci] = User(
                    transport="signal",
                    external_id=aci,
                    locale="de",
                    consent_at=now,
                    created_at=now,
                    last_seen_at=now,
                )
                session.add(users[aci])
            session.flush()
            report = {"delivered": 3, "blocked": 0, "failed": 0}
            message = NewMessage(
                user=users[limited], kind="broadcast_report", dedupe_key="r:1", payload=report
            )
            enqueue_many(session, [message], now=now)
    finally:
        engine.dispose()
    fake.recipient_results[limited] = "RATE_LIMIT_FAILURE"
    fake.challenge_token = "5f1c9a2e-7d41-4b0a-9c3e-2a1b0c9d8e7f"
    fake.retry_after_seconds = 86400
    environment = bot_environment(
        database,
        SIGNAL_ACCOUNT=fake.account,
        SIGNAL_CLI_ENDPOINT=f"tcp://{fake.host}:{fake.port}",
        ADMIN_IDS=f"signal:{admin}",
    )
    bot = await asyncio.create_subprocess_exec(
        ENGAGEBOT,
        "run",
        env=environment,
        cwd=tmp_path,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        await wait_until(lambda: len(fake.delivered_to(admin)) == 2, timeout=15, what="the notice")
        await asyncio.sleep(0.5)  # nothing more comes
        bot.send_signal(signal_module.SIGTERM)
        _, log = await asyncio.wait_for(bot.communicate(), 15)
    finally:
        if bot.returncode is None:
            bot.kill()
            await bot.wait()
    assert bot.returncode == 0, log.decode()
    notice, commands = fake.delivered_to(admin)
    assert "signalcaptchas.org" in notice.text and "submitRateLimitChallenge" in commands.text
    assert fake.delivered_to(limited) == []
    assert len(fake.calls_of("send")) == 3


# -- rendering and settings --------------------------------------------------------------------


def test_rendering_place_attachment_and_only_the_last_menu_numbered() -> None:
    ics = Attachment("demokratie-café;1.ics", b"BEGIN:VCALENDAR", "text/calendar", "Kalender")
    replies = [
        Reply("Erst das.", buttons=((Button("Alt", "menu"),),)),
        Reply(
            "Demokratie-Café",
            buttons=((Button("Ich komme", "e:1"), Button("Zurück", "events")),),
            place=Place("Café", "Königstraße 12", 49.4446, 7.7689),
            attachments=(ics,),
        ),
    ]
    [message] = render_messages(replies)
    assert message.text.split("\n\n")[0] == "Erst das.\n• Alt"
    assert "📍 Café, Königstraße 12\nhttps://www.openstreetmap.org/?mlat=49.44460" in message.text
    assert message.text.endswith("📎 Kalender\n1) Ich komme\n2) Zurück")
    [uri] = message.attachments
    assert uri.startswith("data:text/calendar;filename=demokratie-caf_1.ics;base64,")
    assert base64.b64decode(uri.rsplit(",", 1)[1]) == b"BEGIN:VCALENDAR"


def test_rendering_keeps_right_to_left_marks() -> None:
    reply = Reply(
        f"{RLM}مقهى الديمقراطية",
        buttons=((Button(f"{RLM}رجوع", "events"),),),
        place=Place("Café", "Königstraße 12", 49.4446, 7.7689),
        rtl=True,
    )
    [message] = render_messages([reply])
    lines = message.text.split("\n")
    assert lines[0] == f"{RLM}مقهى الديمقراطية"
    assert lines[1] == f"{RLM}📍 \u2068Café, Königstraße 12\u2069"
    assert lines[2].startswith(MAP_LINK)
    assert lines[3] == f"{RLM}1) {RLM}رجوع"


def utf8_size(text: str) -> int:
    return len(text.encode())


def test_replies_are_joined_up_to_signals_message_size_in_bytes() -> None:
    replies = [Reply("x" * 1500), Reply("y" * 1500)]
    assert [utf8_size(m.text) for m in render_messages(replies)] == [1500, 1500]
    assert len(render_messages([Reply("a"), Reply("b")])) == 1
    # 600 Cyrillic letters are 1,200 bytes: two of them do not fit in one message.
    assert len(render_messages([Reply("ж" * 600), Reply("ж" * 600)])) == 2


CYRILLIC_LINE = "Волонтёры читают детям в библиотеке по субботам"  # 47 characters
ARABIC_LINE = f"{RLM}يقرأ المتطوعون للأطفال في المكتبة كل يوم سبت"  # 45 characters


@pytest.mark.parametrize("line", [CYRILLIC_LINE, ARABIC_LINE], ids=["cyrillic", "arabic"])
def test_a_long_answer_is_split_at_lines_below_2000_bytes(line: str) -> None:
    lines = [line] * (1900 // (len(line) + 1))
    text = "\n".join(lines)
    assert len(text) > 1800 and utf8_size(text) > 3000
    attachment = Attachment("termin.ics", b"BEGIN:VCALENDAR", "text/calendar", "Kalender")
    messages = render_messages([Reply(text, attachments=(attachment,))])
    assert len(messages) == 2
    assert all(utf8_size(m.text) < 2000 for m in messages)
    # Whole lines: nothing lost, nothing cut in the middle, the attachment with the last part.
    assert "\n".join(m.text for m in messages).split("\n")[: len(lines)] == lines
    assert [len(m.attachments) for m in messages] == [0, 1]


def test_paragraphs_are_kept_whole_when_they_fit() -> None:
    paragraph = "\n".join(["Предложение номер один."] * 30)  # about 1,300 bytes
    messages = render_messages([Reply(f"{paragraph}\n\n{paragraph}")])
    assert [m.text for m in messages] == [paragraph, paragraph]
    assert render_messages([Reply("ж" * 2500)])[0].text == "ж" * 1000  # no space at all


@pytest.mark.parametrize("line", [CYRILLIC_LINE, ARABIC_LINE], ids=["cyrillic", "arabic"])
async def test_a_long_reminder_goes_without_a_long_text_upload(
    fake: FakeSignalCli, signal: SignalTransport, line: str
) -> None:
    aci = new_aci()
    text = "\n\n".join(["\n".join([line] * 10)] * 4)  # about 1,900 characters
    assert 1800 < len(text) < 2000 and utf8_size(text) > 3000
    await signal.send(aci, [Reply(text)])
    sent = fake.delivered_to(aci)
    # The daemon would have cut a longer body and uploaded the whole text as a file.
    assert len(sent) == 2 and all(not d.attachments for d in sent)
    assert all(utf8_size(d.text) < 2000 for d in sent)
    assert "\n\n".join(d.text for d in sent) == text


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("signal_account", "0151 1234567"),
        ("signal_cli_endpoint", "localhost:7583"),
        ("signal_rate", "0"),
        ("signal_receive_mode", "on-start"),
    ],
)
def test_bad_signal_settings_name_the_setting_in_one_line(setting: str, value: str) -> None:
    with pytest.raises(SettingsError) as error:
        load_settings(_env_file=None, **{setting: value})
    assert str(error.value).startswith(f"invalid setting {setting.upper()}: ")
    assert "\n" not in str(error.value)


def test_signal_settings_defaults() -> None:
    settings = load_settings(_env_file=None, signal_account=" +4963112345678 ")
    assert settings.signal_account == "+4963112345678"
    assert settings.signal_cli_endpoint == "tcp://127.0.0.1:7583"
    assert settings.signal_rate == 1.0
    assert settings.signal_receive_mode == "on-connection"
    assert load_settings(_env_file=None, signal_receive_mode=" Manual ").signal_receive_mode == (
        "manual"
    )
    assert load_settings(_env_file=None, signal_account="").signal_account is None


async def test_a_new_user_becomes_a_coordinator_with_join_as_the_first_message(
    app: App, fake: FakeSignalCli, signal: SignalTransport, clock: FakeClock
) -> None:
    from db.models import Organisation, Role
    from db.roles import create_invitation

    with session_scope(app.engine) as session:
        asz = session.exec(select(Organisation).where(Organisation.id == 1)).one()
        name = asz.name
        code = create_invitation(session, organisation=asz, created_by=None, now=clock.now()).code
    ar = app.translations.get("ar")
    nour = Person(fake)
    text = await nour.say(f"/join {code}")
    assert "1) Deutsch" in text
    text = await nour.say(number_of(text, "العربية"))
    assert "/mydata" in text
    text = await nour.say(number_of(text, ar.pgettext("button", "✅ I agree")))
    granted = ar._(
        "You are now a coordinator of %(organisation)s. You can publish offers and events, "
        "send announcements and answer requests to help: choose “Coordinator tools” in the "
        "menu, or send /coordinator.",
        organisation=name,
    )
    assert ar.directed(granted) in text
    text = await nour.say(number_of(text, ar.pgettext("button", "🧰 Coordinator tools")))
    assert name in text
    with session_scope(app.engine) as session:
        user = session.exec(select(User).where(User.external_id == nour.aci)).one()
        assert user.locale == "ar"
        assert [r.user_id for r in session.exec(select(Role)).all()] == [user.id]


async def test_a_request_to_help_reaches_an_admin_and_the_answer_comes_back_on_signal(
    admin_app: App, clock: FakeClock, fake: FakeSignalCli, admins: tuple[str, str]
) -> None:
    """No demo organisation has a coordinator: a Ukrainian resident's request reaches the German
    admin with the number she agreed to share, and his answer reaches her in Ukrainian."""
    app = admin_app
    german, _arabic = admins
    uk, de = app.translations.get("uk"), app.translations.get("de")
    with session_scope(app.engine) as session:
        offer = session.exec(select(Offer).where(Offer.organisation_id == 1)).first()
        assert offer is not None
        offer_id = offer.id
    async with running(make_transport(app, fake)) as transport:
        await onboard(fake, app, german, "Deutsch")
        olena = Person(fake, number="+4917655501234")
        text = await olena.say("start")
        text = await olena.say(number_of(text, "Українська"))
        await olena.say(number_of(text, uk.pgettext("button", "✅ I agree")))
        text = await olena.say(f"/start o_{offer_id}")
        text = await olena.say(number_of(text, uk.pgettext("button", "🙋 I'd like to help")))
        assert "+4917655501234" in text and "Signal" in text
        text = await olena.say(number_of(text, uk.pgettext("button", "✅ Yes, share my contact")))
        assert "адміністраторам бота" in text

        worker = delivery_worker(app, clock, transport)
        before = len(fake.delivered_to(german))
        assert await worker.deliver_due() == 1
        [notice] = fake.delivered_to(german)[before:]
        assert "+4917655501234 über Signal" in notice.text
        assert "Sprache der Person: Ukrainisch." in notice.text
        assert "als Administrator" in notice.text
        admin = Person(fake)
        admin.aci, admin.answers = german, len(fake.delivered_to(german))
        # The notice's buttons are the admin's typed numbers once it was delivered.
        text = await admin.say(number_of(notice.text, de.pgettext("button", "✍️ Write a message")))
        assert "auf Deutsch" in text
        text = await admin.say("Komm gern am Dienstag um 10 ins Büro.")
        assert "unterwegs" in text

        before = len(fake.delivered_to(olena.aci))
        assert await worker.deliver_due() == 1
        [answer] = fake.delivered_to(olena.aci)[before:]
        assert "(мова: німецька)" in answer.text
        assert "Komm gern am Dienstag um 10 ins Büro." in answer.text
