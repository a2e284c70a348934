"""The console is a messenger: `engagebot chat --user NAME` shows NAME's messages as they come.

Each test runs the real `engagebot chat` (and, where it says so, the real `engagebot run`) as a
process on one SQLite database, types into the chat through a pipe and reads what it prints.
A reminder falls due a few seconds after its event is added (REMINDER_LEADS=1m, the event
starts a minute and a few seconds later); it must appear in the open chat session of the person
going, once, and nowhere else; typing its button's number must press that button. A reminder
that falls due while the person has no session open waits for their next one, and is not shown
again in the session after that.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import select

from db.attendance import event_changed
from db.models import (
    Attendance,
    Event,
    ItemStatus,
    Offer,
    OutboxMessage,
    OutboxStatus,
    RoleName,
    User,
)
from db.roles import grant
from tests.chaos.harness import (
    BotProcess,
    ChatProcess,
    add_event,
    add_going,
    add_people,
    now_utc,
    until,
)

pytestmark = pytest.mark.chaos

SETTINGS = {"reminder_leads": "1m", "scheduler_tick_seconds": 1}
LEAD = timedelta(minutes=1)
DUE_IN = 3.0  # seconds from adding the event to its reminder falling due
# From falling due to shown: a scheduler tick (1 s) and a delivery poll (2 s), with room.
ARRIVES_WITHIN = DUE_IN + 15


@pytest.fixture
async def chats() -> AsyncIterator[Callable[..., ChatProcess]]:
    """Make chat sessions; whatever still runs is killed afterwards."""
    made: list[ChatProcess] = []

    def make(bot: BotProcess, user: str, **kwargs: Any) -> ChatProcess:
        chat = ChatProcess(bot, user, **kwargs)
        made.append(chat)
        return chat

    try:
        yield make
    finally:
        for chat in made:
            await chat.kill()


async def add_console_people(bot: BotProcess, *names: str) -> dict[str, int]:
    return await bot.db(lambda s: add_people(s, transport="console", keys=list(names)))


async def add_event_going(bot: BotProcess, title: str, user_ids: list[int]) -> tuple[int, float]:
    """Add an event whose reminder falls due in DUE_IN seconds, these people going; return its
    id and when its reminder falls due (epoch seconds)."""
    starts_at = now_utc() + LEAD + timedelta(seconds=DUE_IN)

    def seed(session) -> int:
        event_id = add_event(session, title=title, starts_at=starts_at, with_map_pin=False)
        add_going(session, event_id=event_id, user_ids=user_ids)
        return event_id

    return await bot.db(seed), (starts_at - LEAD).timestamp()


async def reminders(bot: BotProcess, event_id: int) -> dict[str, list[str]]:
    """The reminder rows of an event by console name: their statuses."""

    def read(session) -> dict[str, list[str]]:
        rows = session.exec(
            select(User.external_id, OutboxMessage.status)
            .join(User, User.id == OutboxMessage.user_id)
            .where(OutboxMessage.kind == "reminder", OutboxMessage.event_id == event_id)
        ).all()
        found: dict[str, list[str]] = {}
        for name, status in rows:
            found.setdefault(name, []).append(str(status))
        return found

    return await bot.db(read)


async def is_going(bot: BotProcess, user_id: int, event_id: int) -> bool:
    def read(session) -> bool:
        return (
            session.exec(
                select(Attendance).where(
                    Attendance.user_id == user_id, Attendance.event_id == event_id
                )
            ).first()
            is not None
        )

    return await bot.db(read)


async def run_holds_the_scheduler(bot: BotProcess) -> None:
    run = bot.current
    took = await until(
        lambda: bot.log_lines(run, rf"scheduler: this process \(pid {run.pid}\) does it now"),
        timeout=30,
    )
    assert took is not None, f"engagebot run did not take the scheduler\n{bot.tails()}"


async def answer_reminder_by_number(chat: ChatProcess, title: str, *, after: int) -> float:
    """The reminder is on screen with its buttons; 2 is "Can't come", 2 again confirms.

    Return when it was seen (epoch seconds, to within the 20 ms the output is looked at)."""
    shown = await chat.expect(f"Reminder: {title} starts", after=after, timeout=ARRIVES_WITHIN)
    seen = time.time()
    await chat.expect("1) ✅ Still going", after=shown)
    await chat.expect("2) ❌ Can't come", after=shown)
    mark = await chat.type("2")
    await chat.expect(f"Give up your place at {title}?", after=mark)
    mark = await chat.type("2")
    await chat.expect(f"You are no longer signed up for {title}.", after=mark)
    return seen


@pytest.mark.parametrize("messenger", ["telegram", "none"])
async def test_a_reminder_arrives_live_in_the_chat_beside_a_running_bot(
    messenger, telegram, bots, chats, figures
) -> None:
    """`engagebot run` holds the scheduler (and its own console, with no messenger); the
    reminder for rita is shown in rita's chat, not in the terminal of `engagebot run`."""
    bot = bots(telegram=telegram if messenger == "telegram" else None, settings=SETTINGS)
    await bot.prepare()
    # With no messenger, `engagebot run` is the chat of the user "console" in its terminal.
    ids = await add_console_people(bot, "rita", "console")
    await bot.start(terminal=messenger == "none")
    await run_holds_the_scheduler(bot)
    chat = chats(bot, "rita")
    await chat.start()

    title = "Konsolen-Café am Stiftsplatz"
    mark = chat.mark()
    event_id, due = await add_event_going(bot, title, [ids["rita"], ids["console"]])
    seen = await answer_reminder_by_number(chat, title, after=mark)
    figures.update(messenger=messenger, shown_after_due_s=seen - due)
    figures.publish()

    assert not await is_going(bot, ids["rita"], event_id), "pressing 2, 2 did not cancel"
    assert chat.text.count(f"Reminder: {title}") == 1, chat.text
    in_run = bot.current.text()
    if messenger == "none":
        # The terminal of `engagebot run` shows its own user's reminder, and only that one.
        await until(lambda: f"Reminder: {title}" in bot.current.text(), timeout=ARRIVES_WITHIN)
        in_run = bot.current.text()
        assert in_run.count(f"Reminder: {title}") == 1, in_run
    else:
        assert title not in in_run, f"engagebot run printed rita's reminder:\n{in_run}"
    assert "[to rita]" not in in_run and "rita" not in in_run
    statuses = await reminders(bot, event_id)
    assert statuses["rita"] == [OutboxStatus.SENT], statuses
    assert await chat.close() == 0, chat.text
    await bot.stop()


async def test_a_reminder_arrives_live_in_the_chat_without_a_running_bot(
    bots, chats, figures
) -> None:
    """With no `engagebot run`, the chat session takes the scheduler and its user's delivery."""
    bot = bots(settings=SETTINGS)
    await bot.prepare()
    ids = await add_console_people(bot, "rita")
    chat = chats(bot, "rita")
    await chat.start()
    assert bot.path.with_name(f"{bot.path.name}.scheduler.lock").read_text().strip() == str(
        chat.pid
    ), "the chat session does not hold the scheduler"

    title = "Lesepaten-Treffen in der Stadtbibliothek"
    mark = chat.mark()
    event_id, due = await add_event_going(bot, title, [ids["rita"]])
    shown = await chat.expect(f"Reminder: {title} starts", after=mark, timeout=ARRIVES_WITHIN)
    figures.update(shown_after_due_s=time.time() - due)
    figures.publish()
    await chat.expect("1) ✅ Still going", after=shown)
    answer = await chat.type("1")
    await chat.expect(f"Wonderful, see you at {title}!", after=answer)

    assert await is_going(bot, ids["rita"], event_id)
    assert chat.text.count(f"Reminder: {title}") == 1, chat.text
    assert (await reminders(bot, event_id))["rita"] == [OutboxStatus.SENT]

    # The organiser cancels it (as the coordinator tools do): rita hears at once.
    def cancel(session) -> None:
        event = session.get(Event, event_id)
        event.status = ItemStatus.CANCELLED
        event_changed(session, event=event, now=now_utc(), change="cancelled")

    mark = chat.mark()
    await bot.db(cancel)
    shown = await chat.expect(f"Unfortunately {title} on", after=mark, timeout=ARRIVES_WITHIN)
    await chat.expect("1) 📅 Other events", after=shown)
    answer = await chat.type("1")
    await chat.expect("\n> ", after=answer + 1)
    assert title not in chat.text[answer:], "a cancelled event is still listed"
    assert await chat.close() == 0, chat.text


async def test_a_reminder_waits_for_the_next_session_and_is_shown_once(
    telegram, bots, chats
) -> None:
    """Due while rita has no chat open: `engagebot run` leaves it queued; rita's next session
    shows it after the greeting, and the session after that does not show it again."""
    bot = bots(telegram=telegram, settings=SETTINGS)
    await bot.prepare()
    ids = await add_console_people(bot, "rita")
    await bot.start()
    await run_holds_the_scheduler(bot)

    title = "Stadtteilputz im Volkspark"
    event_id, _due = await add_event_going(bot, title, [ids["rita"]])
    deadline = asyncio.get_running_loop().time() + ARRIVES_WITHIN
    while not (await reminders(bot, event_id)).get("rita"):
        assert asyncio.get_running_loop().time() < deadline, f"not queued\n{bot.tails()}"
        await asyncio.sleep(0.2)
    await asyncio.sleep(3)  # longer than a delivery poll: nobody takes it meanwhile
    assert (await reminders(bot, event_id))["rita"] == [OutboxStatus.PENDING]
    assert title not in bot.current.text()

    first = chats(bot, "rita")
    await first.start()
    await answer_reminder_by_number(first, title, after=0)
    assert first.text.count(f"Reminder: {title}") == 1, first.text
    assert await first.close() == 0, first.text
    assert (await reminders(bot, event_id))["rita"] == [OutboxStatus.SENT]

    second = chats(bot, "rita")
    await second.start()
    mark = await second.type("/menu")
    await second.expect("> ", after=mark + 1)
    await asyncio.sleep(3)  # a delivery poll and more
    assert title not in second.text, second.text
    assert await second.close() == 0, second.text
    await bot.stop()


async def until_all_sent(bot: BotProcess, name: str, timeout: float = 10.0) -> bool:
    """Wait until no message for console user `name` is pending or being sent."""

    def unsent(session) -> int:
        return len(
            session.exec(
                select(OutboxMessage.id)
                .join(User, User.id == OutboxMessage.user_id)
                .where(
                    User.transport == "console",
                    User.external_id == name,
                    OutboxMessage.status.in_([OutboxStatus.PENDING, OutboxStatus.SENDING]),
                )
            ).all()
        )

    began = time.monotonic()
    while time.monotonic() - began < timeout:
        if await bot.db(unsent) == 0:
            return True
        await asyncio.sleep(0.05)
    return False


async def announce(bot: BotProcess, text: str) -> None:
    await bot.cli("broadcast", "--audience", "all", "--text", text)


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
async def test_two_sessions_of_one_person_show_each_message_once(
    database, request, bots, chats, figures
) -> None:
    """The first session of rita shows her messages; a second one waits, and takes over when
    the first ends (closed, or killed with SIGKILL): each message in one terminal, once. On
    PostgreSQL the lock per person is an advisory lock (TEST_DATABASE_URL, else skipped)."""
    url = request.getfixturevalue("pg_url") if database == "postgresql" else None
    bot = bots(settings=SETTINGS, database_url=url)
    await bot.prepare()
    await add_console_people(bot, "rita")
    first, second = chats(bot, "rita"), chats(bot, "rita")
    await first.start()
    await second.start()
    assert "Another terminal has rita open" in second.text
    assert "Another terminal" not in first.text

    await announce(bot, "Erste Nachricht: Der Stiftsplatz wird am Samstag bepflanzt.")
    await first.expect("Erste Nachricht", timeout=ARRIVES_WITHIN)
    await asyncio.sleep(3)  # a delivery poll and more: the second session does not show it
    assert "Erste Nachricht" not in second.text

    assert await first.close() == 0
    closed = time.monotonic()
    await announce(bot, "Zweite Nachricht: Helfende für das Fest im Volkspark gesucht.")
    await second.expect("Zweite Nachricht", timeout=ARRIVES_WITHIN)
    figures.update(
        database=database, second_session_shows_after_first_closed_s=time.monotonic() - closed
    )
    figures.publish()

    # Shown and recorded: a kill between a terminal's print and the record of it would show
    # that message once more in the next session (at least once, as on every messenger; the
    # crash suite covers that gap). Here the hand-over itself must repeat nothing.
    assert await until_all_sent(bot, "rita"), "the second message was never recorded as shown"
    await second.kill()  # its lock dies with it; nothing it held is lost
    await announce(bot, "Dritte Nachricht: Das Repair-Café öffnet wieder.")
    third = chats(bot, "rita")
    await third.start()
    await third.expect("Dritte Nachricht", timeout=ARRIVES_WITHIN)
    await asyncio.sleep(3)
    assert await third.close() == 0
    shown = first.text + second.text + third.text
    for text in ("Erste Nachricht", "Zweite Nachricht", "Dritte Nachricht"):
        assert shown.count(text) == 1, f"{text!r} was shown {shown.count(text)} times"
    assert "Erste" not in third.text and "Zweite" not in third.text


async def test_a_coordinator_and_a_resident_talk_in_two_terminals(bots, chats) -> None:
    """A help request and its answer go from one console session to the other, live."""
    bot = bots(settings=SETTINGS)
    await bot.prepare()
    ids = await add_console_people(bot, "rita", "cora")

    def make_coordinator(session) -> tuple[int, str]:
        offer = session.exec(
            select(Offer).where(Offer.status == ItemStatus.PUBLISHED).order_by(Offer.id)
        ).first()
        cora = session.get(User, ids["cora"])
        grant(
            session,
            user=cora,
            role=RoleName.COORDINATOR,
            organisation_id=offer.organisation_id,
            now=now_utc(),
        )
        return offer.id, offer.title

    offer_id, offer_title = await bot.db(make_coordinator)
    rita, cora = chats(bot, "rita"), chats(bot, "cora")
    await rita.start()
    await cora.start()

    mark = await rita.type(f"/start o_{offer_id}")
    await rita.expect("1) 🙋 I'd like to help", after=mark)
    mark = await rita.type("1")
    # The console tells no contact to pass on: the organisation answers through the bot.
    await rita.expect("1) ✅ Yes, send it", after=mark)
    mark = await rita.type("1")
    await rita.expect("to the coordinators of", after=mark)

    shown = await cora.expect(f"New request to help with {offer_title}", timeout=ARRIVES_WITHIN)
    await cora.expect("1) ✍️ Write a message", after=shown)
    mark = await cora.type("1")
    await cora.expect("Write your message to", after=mark)
    mark = await cora.type("Komm gern am Dienstag um 10 ins Büro.")
    await cora.expect("is on its way.", after=mark)

    shown = await rita.expect("Komm gern am Dienstag um 10 ins Büro.", timeout=ARRIVES_WITHIN)
    assert "writes (in English)" in rita.text
    assert "New request to help" not in rita.text  # the coordinator's notice is theirs only
    assert "Komm gern am Dienstag" not in cora.text  # a pipe does not echo; nor is it sent back
    # and back: the resident answers from the notice's own menu
    await rita.expect("1) ✍️ Write a message", after=shown)
    mark = await rita.type("1")
    await rita.expect("Write your message to", after=mark)
    mark = await rita.type("Gern, bis Dienstag!")
    await rita.expect("is on its way.", after=mark)
    await cora.expect("Gern, bis Dienstag!", timeout=ARRIVES_WITHIN)
    assert await rita.close() == 0 and await cora.close() == 0
