"""Updates are kept before Telegram is told they arrived, handled once, and answered in order.

Through python-telegram-bot's real HTTP stack against the fake Bot API (tests/fake_bot_api.py),
which holds updates until a getUpdates with a higher `offset` confirms them, as Telegram does
(Bot API, "getUpdates": "An update is considered confirmed as soon as getUpdates is called with
an offset higher than its update_id").
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from sqlmodel import select

from bot.app import App
from bot.messages import Incoming, Reply, replies_to_json
from bot.transports.telegram import TelegramTransport
from db.engine import session_scope
from db.inbox import Fetched, store_fetched
from db.models import InboxUpdate
from tests.chaos.harness import add_people
from tests.fake_bot_api import FakeBotApi
from tests.test_telegram import ANNA, BORYS, onboard, running, telegram_settings

pytestmark = pytest.mark.both_databases


@pytest.fixture
async def fake() -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi("123:ABC") as server:
        yield server


def _inbox(app: App) -> list[InboxUpdate]:
    with session_scope(app.engine) as session:
        return list(session.exec(select(InboxUpdate)).all())


async def test_answered_updates_leave_nothing_in_the_inbox(
    app: App, database_url: str, fake
) -> None:
    transport = TelegramTransport(app.conversation, telegram_settings(database_url, fake))
    async with running(transport, fake):
        await onboard(fake, ANNA)
        await fake.wait_for(lambda: not _inbox(app), what="the inbox to empty")
        await fake.wait_for(lambda: not fake.pending_updates, what="Telegram to be told")


async def test_what_a_killed_process_left_is_handled_or_sent_on_restart(
    app: App, database_url: str, fake
) -> None:
    # A process stored two updates and died: one not handled yet, one handled whose answer
    # (kept in the same transaction) was not sent. Telegram already counts both as confirmed.
    unhandled = {"update_id": 90001, **fake.private_text(ANNA, "/help")}
    handled = {"update_id": 90002, **fake.private_text(BORYS, "/start")}
    with session_scope(app.engine) as session:
        store_fetched(
            session,
            transport="telegram",
            updates=[
                Fetched(unhandled["update_id"], str(ANNA), unhandled),
                Fetched(handled["update_id"], str(BORYS), handled),
            ],
            now=app.clock.now(),
        )
        kept = session.get(InboxUpdate, ("telegram", handled["update_id"]))
        kept.payload = None
        kept.replies = replies_to_json([Reply("The answer that was kept")])
    transport = TelegramTransport(app.conversation, telegram_settings(database_url, fake))
    async with running(transport, fake):
        await fake.wait_for(
            lambda: fake.sent(ANNA) and fake.sent(BORYS), what="both people to be answered"
        )
        await fake.wait_for(lambda: not _inbox(app), what="the inbox to empty")
    assert [m["text"] for m in fake.sent(BORYS)] == ["The answer that was kept"]
    assert len(fake.sent(ANNA)) == 1, "the /help stored before the kill is answered once"
    # The stored offset is where polling went on: neither update was fetched again.
    first = fake.calls_to("getUpdates")[0].params.get("offset")
    assert first == handled["update_id"] + 1


async def test_an_answer_to_a_press_kept_over_a_kill_still_edits_the_pressed_message(
    app: App, database_url: str, fake
) -> None:
    # A process stored a press, handled it (its answer kept with what it changed) and died
    # before the edit went out. After the restart the kept answer edits that same message,
    # as it would have at once, instead of arriving as a new message below it.
    with session_scope(app.engine) as session:
        add_people(session, transport="telegram", keys=[str(BORYS)], locale="en")
    fake.add_chat(BORYS)
    pressed = fake._outgoing(BORYS, {"text": "Main menu"})["message_id"]
    press = {"update_id": 90003, **fake.callback_query(BORYS, "offers", message_id=pressed)}
    with session_scope(app.engine) as session:
        store_fetched(
            session,
            transport="telegram",
            updates=[Fetched(press["update_id"], str(BORYS), press)],
            now=app.clock.now(),
        )
    answer = app.conversation.handle(
        Incoming(
            "telegram",
            str(BORYS),
            action="offers",
            update_id=press["update_id"],
            can_edit=True,
            pressed_message=str(pressed),
        )
    )
    assert answer and answer[0].replace
    transport = TelegramTransport(app.conversation, telegram_settings(database_url, fake))
    async with running(transport, fake):
        await fake.wait_for(lambda: not _inbox(app), what="the kept answer to go out")
    assert fake.message(BORYS, pressed)["text"] == answer[0].text
    assert not fake.sent(BORYS), "the kept answer edited the pressed message"


def test_an_update_is_handled_once_even_if_offered_twice(app: App) -> None:
    with session_scope(app.engine) as session:
        store_fetched(
            session,
            transport="telegram",
            updates=[Fetched(7, str(ANNA), {"update_id": 7})],
            now=app.clock.now(),
        )
    first = app.conversation.handle(Incoming("telegram", str(ANNA), text="/help", update_id=7))
    assert first
    (entry,) = _inbox(app)
    assert entry.payload is None and entry.replies == replies_to_json(first)
    again = app.conversation.handle(Incoming("telegram", str(ANNA), text="/help", update_id=7))
    assert again == [], "a copy of a handled update is not handled again"


async def test_one_person_flooding_does_not_hold_up_another(
    app: App, database_url: str, fake
) -> None:
    # Each chat gets a burst of 4 messages, then one a second (the transport's pacing).
    transport = TelegramTransport(app.conversation, telegram_settings(database_url, fake))
    async with running(transport, fake):
        await onboard(fake, ANNA)
        await onboard(fake, BORYS)
        for number in range(40):
            fake.queue(fake.private_text(ANNA, f"/help {number}"))
        await asyncio.sleep(0.2)
        began = time.monotonic()
        fake.queue(fake.private_text(BORYS, "/help"))
        before = len(fake.sent(BORYS))
        await fake.wait_for(lambda: len(fake.sent(BORYS)) > before, what="Borys's answer")
        waited = time.monotonic() - began
        # Anna's answers are paced at one a second; Borys's must not queue behind them.
        assert waited < 2.0, f"Borys waited {waited:.1f} s behind Anna's flood"
        assert len(fake.sent(ANNA)) < 40


async def test_the_inbox_keeps_an_update_as_telegram_sent_it(
    app: App, database_url: str, fake
) -> None:
    transport = TelegramTransport(app.conversation, telegram_settings(database_url, fake))
    kept: list[Fetched] = []
    keep = transport.inbox.keep

    async def recording(fetched, **options):
        kept.extend(fetched)
        return await keep(fetched, **options)

    transport.inbox.keep = recording  # type: ignore[method-assign]
    # A field python-telegram-bot does not know (a newer Bot API) is kept all the same.
    sent = {**fake.private_text(ANNA, "/help"), "a_field_of_a_newer_bot_api": {"n": [1, 2]}}
    async with running(transport, fake):
        (update_id,) = fake.queue(sent)
        await fake.wait_for(lambda: fake.sent(ANNA), what="the answer")
    (entry,) = [f for f in kept if f.update_id == update_id]
    assert entry.payload == {"update_id": update_id, **sent}
    assert entry.chat_key == str(ANNA)
