"""The Telegram transport through python-telegram-bot's real HTTP stack, against a fake Bot API."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlmodel import select

from bot import cli
from bot.app import App
from bot.clock import FakeClock
from bot.config import SUPPORTED_LOCALES, Settings, SettingsError, load_settings
from bot.messages import Attachment, Button, Incoming, Place, Reply
from bot.transports.base import DeliveryError, RecipientGone, RetryLater, TemporaryFailure
from bot.transports.telegram import TelegramTransport
from bot.transports.telegram_render import MAX_MESSAGE_LENGTH, split_text
from db.engine import session_scope
from db.models import Event, User
from handlers.commands import COMMANDS
from tests.conftest import START
from tests.fake_bot_api import FakeBotApi

pytestmark = pytest.mark.both_databases

TOKEN = "123:ABC"
ANNA, BORYS = 4201, 4202  # two people in private chats
GROUP = -1001234


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def telegram_settings(database: Path | str, fake: FakeBotApi, **extra: Any) -> Settings:
    """Telegram settings on a SQLite file, or on a database URL."""
    # tests.conftest.make_settings pins telegram_bot_token to None, so build these here.
    url = database if isinstance(database, str) and "://" in database else f"sqlite:///{database}"
    return load_settings(
        _env_file=None,
        database_url=url,
        telegram_bot_token=fake.token,
        telegram_api_base_url=fake.base_url,
        **extra,
    )


@pytest.fixture
async def fake() -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi(TOKEN) as server:
        yield server


@pytest.fixture
def transport(app: App, database_url: str, fake: FakeBotApi) -> TelegramTransport:
    return TelegramTransport(app.conversation, telegram_settings(database_url, fake))


async def stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


@asynccontextmanager
async def running(transport: TelegramTransport, fake: FakeBotApi) -> AsyncIterator[asyncio.Task]:
    """Run the transport until the block ends; wait until it receives updates."""
    seen = len(fake.calls)
    task = asyncio.create_task(transport.run())
    try:
        await fake.wait_for(
            lambda: (
                task.done()
                or any(c.method in ("getUpdates", "setWebhook") for c in fake.calls[seen:])
            ),
            what="the transport to start receiving",
        )
        if task.done():
            task.result()  # raise what stopped it
        yield task
    finally:
        await stop(task)


def press(fake: FakeBotApi, user_id: int, data: str, *, message_id: int | None = None) -> str:
    """Press a button (or send forged callback data) on one of the bot's messages."""
    update = fake.callback_query(user_id, data, message_id=message_id)
    fake.queue(update)
    return update["callback_query"]["id"]


def was_answered(fake: FakeBotApi, query_id: str) -> bool:
    return any(
        call.ok and call.params.get("callback_query_id") == query_id
        for call in fake.calls_to("answerCallbackQuery")
    )


async def say(fake: FakeBotApi, user_id: int, text: str, **kwargs: Any) -> list[dict[str, Any]]:
    """Send a private message and return what the bot sent back (once it sent something)."""
    before = len(fake.sent(user_id))
    fake.queue(fake.private_text(user_id, text, **kwargs))
    await fake.wait_for(lambda: len(fake.sent(user_id)) > before, what=f"an answer to {text!r}")
    return fake.sent(user_id)[before:]


def buttons(message: dict[str, Any]) -> list[dict[str, str]]:
    rows = message.get("reply_markup", {}).get("inline_keyboard", [])
    return [button for row in rows for button in row]


async def onboard(fake: FakeBotApi, user_id: int, locale: str = "en") -> dict[str, Any]:
    """Start, pick a language and agree; return the main menu message the bot then sends."""
    await say(fake, user_id, "/start", language_code=locale)
    before = len(fake.sent(user_id))
    press(fake, user_id, f"lang_set:{locale}")
    await fake.wait_for(lambda: len(fake.sent(user_id)) > before, what="the privacy notice")
    before = len(fake.sent(user_id))
    press(fake, user_id, "agree")
    await fake.wait_for(lambda: len(fake.sent(user_id)) > before, what="the main menu")
    return fake.sent(user_id)[-1]


# -- first contact ------------------------------------------------------------------------------


async def test_start_for_a_new_ukrainian_user_offers_every_language(
    app: App, fake: FakeBotApi, transport: TelegramTransport
) -> None:
    async with running(transport, fake):
        [picker] = await say(fake, ANNA, "/start", language_code="uk")

    assert app.translations.get("uk")._("Choose your language:") in picker["text"]
    offered = [button["callback_data"] for button in buttons(picker)]
    assert offered == [f"lang_set:{code}" for code in SUPPORTED_LOCALES]
    [call] = fake.calls_to("sendMessage", chat_id=ANNA)
    # Plain text: no parse mode, so nothing needs escaping; and no link previews.
    assert "parse_mode" not in call.params
    assert call.params["link_preview_options"] == {"is_disabled": True}


async def test_command_menu_is_published_in_every_language(
    app: App, fake: FakeBotApi, transport: TelegramTransport
) -> None:
    async with running(transport, fake):
        pass

    default_scope = '{"type": "default"}'
    for code in [*SUPPORTED_LOCALES, ""]:
        t = app.translations.get(code or app.settings.default_locale)
        published = fake.commands[(default_scope, code)]
        assert published == [
            {"command": command, "description": t._(description)}
            for command, description in COMMANDS
        ], code
    assert len(fake.calls_to("setMyCommands", ok=True)) == len(SUPPORTED_LOCALES) + 1


async def test_deep_link_for_a_new_user_opens_the_event_after_the_language(
    app: App, fake: FakeBotApi, transport: TelegramTransport
) -> None:
    with session_scope(app.engine) as session:
        event = session.get(Event, 1)
        assert event is not None and event.latitude is not None
        where = (event.latitude, event.longitude, event.address)

    async with running(transport, fake):
        [picker] = await say(fake, ANNA, "/start e_1", language_code="uk")
        assert len(buttons(picker)) == len(SUPPORTED_LOCALES)
        press(fake, ANNA, "lang_set:en")
        await fake.wait_for(lambda: len(fake.sent(ANNA)) == 2, what="the privacy notice")
        query = press(fake, ANNA, "agree")
        await fake.wait_for(lambda: fake.calls_to("sendVenue", chat_id=ANNA, ok=True))

    assert was_answered(fake, query)
    confirmation, detail, venue = fake.sent(ANNA)[2:]
    assert confirmation["text"] == app.translations.get("en")._(
        "I will write to you in %(language)s.", language="English"
    )
    assert detail["text"].startswith("📅")
    assert {"callback_data": "events", "text": "◀ All events"} in buttons(detail)
    assert (venue["location"]["latitude"], venue["location"]["longitude"]) == where[:2]
    assert venue["venue"]["address"] == where[2]


# -- buttons ------------------------------------------------------------------------------------


async def test_buttons_edit_their_message_in_place_and_page(
    app: App, fake: FakeBotApi, transport: TelegramTransport
) -> None:
    t = app.translations.get("en")
    async with running(transport, fake):
        menu = await onboard(fake, ANNA)
        sent_before = len(fake.sent(ANNA))

        first = press(fake, ANNA, "events", message_id=menu["message_id"])
        await fake.wait_for(lambda: fake.calls_to("editMessageText", ok=True))
        second = press(fake, ANNA, "evs:1", message_id=menu["message_id"])
        await fake.wait_for(lambda: len(fake.calls_to("editMessageText", ok=True)) == 2)
        # The same page again: Telegram says "message is not modified", which is fine.
        third = press(fake, ANNA, "evs:1", message_id=menu["message_id"])
        await fake.wait_for(lambda: fake.calls_to("editMessageText", ok=False))
        await say(fake, ANNA, "/help")  # answered after the presses, so they are all done

    edits = fake.calls_to("editMessageText")
    assert [call.params["message_id"] for call in edits] == [menu["message_id"]] * 3
    assert all(was_answered(fake, query) for query in (first, second, third))
    page_two = fake.message(ANNA, menu["message_id"])
    assert t._("Page %(page)s of %(pages)s.", page="2", pages="2") in page_two["text"]
    assert "evs:0" in [button["callback_data"] for button in buttons(page_two)]
    # Nothing was sent for the three presses; only the answer to /help.
    assert len(fake.sent(ANNA)) == sent_before + 1


async def test_a_message_that_cannot_be_edited_is_sent_anew(
    fake: FakeBotApi, transport: TelegramTransport
) -> None:
    async with running(transport, fake):
        menu = await onboard(fake, ANNA)
        # Deleted meanwhile: editing fails with "message to edit not found".
        gone = fake.callback_query(ANNA, "events", message_id=menu["message_id"])
        del fake.messages[(ANNA, menu["message_id"])]
        before = len(fake.sent(ANNA))
        fake.queue(gone)
        await fake.wait_for(lambda: len(fake.sent(ANNA)) > before)
        # Older than 48 hours: Telegram sends only a stub that cannot be edited at all.
        old = fake.callback_query(ANNA, "evs:1")
        old["callback_query"]["message"] = {
            "message_id": fake.sent(ANNA)[-1]["message_id"],
            "chat": {"id": ANNA, "type": "private"},
            "date": 0,
        }
        fake.queue(old)
        await fake.wait_for(lambda: len(fake.sent(ANNA)) > before + 1)

    [failed] = fake.calls_to("editMessageText")
    assert failed.status == 400
    assert all(was_answered(fake, u["callback_query"]["id"]) for u in (gone, old))
    assert "evs:0" in [b["callback_data"] for b in buttons(fake.sent(ANNA)[-1])]


async def test_a_forged_button_is_answered_and_the_bot_keeps_running(
    app: App, fake: FakeBotApi, transport: TelegramTransport
) -> None:
    t = app.translations.get("en")
    async with running(transport, fake) as task:
        await onboard(fake, ANNA)
        queries = [press(fake, ANNA, data) for data in ("zz:9", "e:abc", "", "x" * 64)]
        await fake.wait_for(lambda: all(was_answered(fake, q) for q in queries))
        answers = await say(fake, ANNA, "/help")
        assert not task.done()

    stale = t._("That button no longer works. Here is the main menu.")
    assert sum(stale in text for text in fake.sent_texts(ANNA)) == 4
    assert answers


async def test_the_button_is_answered_even_when_the_core_fails(
    app: App, database_url: str, fake: FakeBotApi, caplog: pytest.LogCaptureFixture
) -> None:
    core = FlakyCore(app.conversation)
    transport = TelegramTransport(core, telegram_settings(database_url, fake))  # type: ignore[arg-type]
    async with running(transport, fake) as task:
        await say(fake, ANNA, "/start")
        core.failing = True
        query = press(fake, ANNA, "menu")
        await fake.wait_for(lambda: was_answered(fake, query))
        await fake.wait_for(lambda: len(fake.sent(ANNA)) == 2)
        core.failing = False
        assert await say(fake, ANNA, "/help")
        assert not task.done()

    apology = app.translations.get("en")._(
        "Sorry, something went wrong on my side. Please try again, or send /menu."
    )
    assert fake.sent_texts(ANNA)[1] == apology
    assert "Traceback" not in "".join(fake.sent_texts(ANNA))
    assert "the conversation core failed" in caplog.text


# -- groups and what the bot does not read ------------------------------------------------------


async def test_a_group_gets_one_polite_line_once(
    app: App, fake: FakeBotApi, transport: TelegramTransport
) -> None:
    async with running(transport, fake):
        fake.queue(fake.group_text(GROUP, ANNA, "/start"))
        fake.queue(fake.group_text(GROUP, BORYS, "Hallo Bot?"))
        fake.queue(fake.group_text(GROUP, ANNA, "/events", chat_type="group"))
        await say(fake, BORYS, "/start")  # answered after the group messages

    polite = app.translations.get("de")._(
        "Hello! I only talk one to one. Please write to me in a private chat."
    )
    assert fake.sent_texts(GROUP) == [polite]


async def test_updates_the_bot_does_not_read_are_ignored_or_explained(
    app: App, fake: FakeBotApi, transport: TelegramTransport
) -> None:
    anonymous = fake.group_text(GROUP, 1087968824, "Wir sind die Admins")
    anonymous["message"]["sender_chat"] = {"id": GROUP, "type": "supergroup", "title": "Gruppe"}
    anonymous["message"]["from"]["is_bot"] = True
    async with running(transport, fake):
        fake.queue(
            fake.edited_text(ANNA, 1, "edited"),
            fake.channel_post(-1009999, "Neuigkeiten"),
            anonymous,
        )
        sticker = {"file_id": "s1", "file_unique_id": "u1", "type": "regular"}
        sticker |= {"width": 512, "height": 512, "is_animated": False, "is_video": False}
        before = len(fake.sent(ANNA))
        fake.queue(fake.private_message(ANNA, sticker=sticker))
        await fake.wait_for(lambda: len(fake.sent(ANNA)) > before)

    only_text = app.translations.get("en")._(
        "I can only read text messages. Please choose from the menu."
    )
    assert fake.sent_texts(ANNA)[0] == only_text
    assert not fake.sent(GROUP) and not fake.sent(-1009999)
    # Only messages and button presses were asked for.
    polls = fake.calls_to("getUpdates")
    assert polls[0].params["allowed_updates"] == ["message", "callback_query"]
    assert not fake.pending_updates


# -- sending on our own: the outbox's view -------------------------------------------------------


async def test_a_blocked_user_is_gone_and_marked_inactive(
    app: App, fake: FakeBotApi, transport: TelegramTransport
) -> None:
    async with running(transport, fake):
        await say(fake, ANNA, "/start")
        fake.block(ANNA)
        with pytest.raises(RecipientGone):
            await transport.send(str(ANNA), [Reply("Reminder: Demokratie-Café today")])
        with pytest.raises(RecipientGone):  # never wrote to the bot: "chat not found"
            await transport.send("987654", [Reply("Hello")])

    with session_scope(app.engine) as session:
        user = session.exec(select(User).where(User.external_id == str(ANNA))).one()
        assert user.transport == "telegram" and not user.active


async def test_send_turns_a_429_into_retry_later_and_faults_into_temporary_failures(
    fake: FakeBotApi, transport: TelegramTransport
) -> None:
    fake.add_chat(ANNA)
    async with running(transport, fake):
        fake.fail(error_code=429, retry_after=7, chat_id=ANNA)
        started = time.monotonic()
        with pytest.raises(RetryLater) as limited:
            await transport.send(str(ANNA), [Reply("Reminder")])
        assert limited.value.retry_after == 7
        assert time.monotonic() - started < 2  # not waited out: the outbox decides when

        fake.fail(error_code=502, chat_id=ANNA)
        with pytest.raises(TemporaryFailure):
            await transport.send(str(ANNA), [Reply("Reminder")])
        await transport.send(str(ANNA), [Reply("Reminder")])

    assert fake.sent_texts(ANNA) == ["Reminder"]


async def test_send_maps_every_bot_api_refusal_as_before(
    fake: FakeBotApi, transport: TelegramTransport
) -> None:
    """Text messages go out without python-telegram-bot's send_message; its errors stay."""
    fake.add_chat(ANNA)
    async with running(transport, fake):
        fake.fail(error_code=400, chat_id=ANNA, description="Bad Request: message text is empty")
        with pytest.raises(DeliveryError):
            await transport.send(str(ANNA), [Reply("Reminder")])
        fake.fail(error_code=400, chat_id=ANNA, description="Bad Request: PEER_ID_INVALID")
        with pytest.raises(RecipientGone):
            await transport.send(str(ANNA), [Reply("Reminder")])
        fake.fail(error_code=500, chat_id=ANNA)
        with pytest.raises(TemporaryFailure):
            await transport.send(str(ANNA), [Reply("Reminder")])
        fake.fail(error_code=429, retry_after=3, chat_id=ANNA)
        with pytest.raises(RetryLater) as limited:
            await transport.send(str(ANNA), [Reply("Reminder")])
        assert limited.value.retry_after == 3
        await transport.send(str(ANNA), [Reply("Zum Café 🤝", buttons=((Button("OK", "menu"),),))])

    (sent,) = fake.calls_to("sendMessage", chat_id=ANNA, ok=True)
    assert sent.params["text"] == "Zum Café 🤝"
    assert sent.params["link_preview_options"] == {"is_disabled": True}
    assert buttons(fake.sent(ANNA)[0]) == [{"text": "OK", "callback_data": "menu"}]
    assert "allow_paid_broadcast" not in sent.params


async def test_send_fails_temporarily_while_the_transport_is_not_running(
    transport: TelegramTransport,
) -> None:
    with pytest.raises(TemporaryFailure):
        await transport.send(str(ANNA), [Reply("Reminder")])


async def test_a_429_on_a_reply_is_waited_out_and_delivered_once(
    fake: FakeBotApi, transport: TelegramTransport
) -> None:
    fake.fail(error_code=429, retry_after=1, chat_id=ANNA, method="sendMessage")
    async with running(transport, fake):
        await say(fake, ANNA, "/start")
        await say(fake, ANNA, "/help")

    tries = fake.calls_to("sendMessage", chat_id=ANNA)
    assert [call.status for call in tries[:2]] == [429, 200]
    assert tries[1].at - tries[0].at >= 1.0
    assert tries[0].params["text"] == tries[1].params["text"]
    assert fake.sent_texts(ANNA).count(tries[0].params["text"]) == 1


async def test_a_long_text_is_split_below_the_limit_with_the_buttons_last(
    fake: FakeBotApi, transport: TelegramTransport
) -> None:
    paragraphs = [f"Absatz {n}: " + "Ehrenamt verbindet 🤝 " * (30 + n * 5) for n in range(6)]
    paragraphs.insert(5, "x" * 5000)  # one paragraph with no place to break
    text = "\n\n".join(paragraphs)
    fake.add_chat(ANNA)
    async with running(transport, fake):
        await transport.send(str(ANNA), [Reply(text, buttons=((Button("OK", "menu"),),))])

    parts = fake.sent(ANNA)
    assert len(parts) >= 3
    assert all(utf16_len(part["text"]) <= MAX_MESSAGE_LENGTH for part in parts)
    assert [bool(buttons(part)) for part in parts] == [False] * (len(parts) - 1) + [True]
    assert re.sub(r"\s", "", "".join(p["text"] for p in parts)) == re.sub(r"\s", "", text)


async def test_places_and_files_follow_the_text(
    fake: FakeBotApi, transport: TelegramTransport
) -> None:
    png = b"\x89PNG\r\n\x1a\n" + b"0" * 64
    calendar = b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n"
    reply = Reply(
        "Demokratie-Café",
        place=Place("Stadtteilbüro", "Königstraße 93", 49.4423, 7.7566),
        attachments=(
            Attachment("plakat.png", png, "image/png", caption="Plakat"),
            Attachment("cafe.ics", calendar, "text/calendar"),
        ),
    )
    fake.add_chat(ANNA)
    async with running(transport, fake):
        await transport.send(str(ANNA), [reply])

    shown = ("text", "venue", "photo", "document")
    kinds = [next(kind for kind in shown if kind in message) for message in fake.sent(ANNA)]
    assert kinds == ["text", "venue", "photo", "document"]
    photo, document = fake.files
    assert photo.content == png
    assert (document.filename, document.content) == ("cafe.ics", calendar)
    assert fake.sent(ANNA)[3]["document"]["file_name"] == "cafe.ics"


async def test_bulk_sends_to_one_chat_are_paced(
    app: App, database_url: str, fake: FakeBotApi
) -> None:
    # The real pace is a burst of 4, then 1 message a second; ten times faster here.
    fast = TelegramTransport(
        app.conversation, telegram_settings(database_url, fake), chat_rate=10.0, chat_burst=2
    )
    # One token of slack: the fake counts when requests arrive, which jitters a little.
    fake.enforce_limits(chat_rate=10.0, chat_burst=3)
    fake.add_chat(ANNA)
    async with running(fast, fake):
        started = time.monotonic()
        await fast.send(str(ANNA), [Reply(f"Nachricht {n}") for n in range(8)])
        took = time.monotonic() - started

    assert fake.limits_hit == 0
    assert len(fake.sent(ANNA)) == 8
    assert took >= (8 - 2) / 10.0 - 0.05


# -- staying up ---------------------------------------------------------------------------------


async def test_network_faults_do_not_stop_the_bot(
    fake: FakeBotApi, transport: TelegramTransport
) -> None:
    fake.fail(error_code=502, method="getMe")
    fake.fail(error_code=502, method="getUpdates")
    fake.fail(error_code=500, method="sendMessage", chat_id=ANNA)
    async with running(transport, fake) as task:
        fake.queue(fake.private_text(ANNA, "/start"))
        await fake.wait_for(lambda: fake.calls_to("sendMessage", chat_id=ANNA), timeout=10)
        assert await say(fake, ANNA, "/help")
        assert not task.done()

    assert [call.status for call in fake.calls_to("getMe")][:2] == [502, 200]
    assert [call.status for call in fake.calls_to("getUpdates")][:2] == [502, 200]


async def test_restart_with_updates_pending_answers_each_exactly_once(
    app: App, database_url: str, fake: FakeBotApi
) -> None:
    people = [5001, 5002, 5003, 5004, 5005]
    late = [5006, 5007]
    settings = telegram_settings(database_url, fake)
    fake.queue(*(fake.private_text(person, "/start") for person in people))

    # A slow core keeps fetched updates waiting in the application's queue.
    first = asyncio.create_task(
        TelegramTransport(SlowCore(app.conversation, 0.15), settings).run()  # type: ignore[arg-type]
    )
    await fake.wait_for(lambda: any(fake.sent(person) for person in people))
    answered_at_stop = sum(bool(fake.sent(person)) for person in people)
    stopping = asyncio.create_task(stop(first))
    await asyncio.sleep(0)
    fake.queue(*(fake.private_text(person, "/start") for person in late))
    await stopping
    assert answered_at_stop < len(people)  # the stop really came with updates pending

    second = TelegramTransport(app.conversation, settings)
    async with running(second, fake):
        everyone = people + late
        await fake.wait_for(lambda: all(fake.sent(person) for person in everyone))
        await say(fake, ANNA, "/start")  # a later update, so the earlier ones are confirmed

    for person in people + late:
        assert len(fake.sent(person)) == 1, person
    assert not fake.pending_updates


async def test_the_token_never_reaches_the_logs(
    fake: FakeBotApi, transport: TelegramTransport, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    # The command line quiets python-telegram-bot's logger process-wide; here it must speak.
    caplog.set_level(logging.DEBUG, logger="telegram")
    fake.fail(error_code=502, method="getUpdates")
    fake.fail(error_code=429, retry_after=1, chat_id=ANNA, method="sendMessage")
    async with running(transport, fake):
        await say(fake, ANNA, "/start")
        press(fake, ANNA, "lang_set:en")
        await say(fake, ANNA, "/help")

    assert caplog.records
    for record in caplog.records:
        assert TOKEN not in record.getMessage()
        assert TOKEN not in (record.exc_text or "")
    assert TOKEN not in caplog.text
    # python-telegram-bot logged the API's URL, with the token blacked out.
    assert "/bot<redacted>" in caplog.text


# -- webhook mode -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def test_webhook_mode_checks_the_secret_on_every_request(
    app: App, database_url: str, fake: FakeBotApi
) -> None:
    port = free_port()
    settings = telegram_settings(
        database_url,
        fake,
        webhook_url="https://bot.example.org/telegram/hook",
        webhook_secret="s3cret_token-for-the-webhook",
        webhook_listen="127.0.0.1",
        webhook_port=port,
    )
    hook = f"http://127.0.0.1:{port}/telegram/hook"
    update = {"update_id": 1, **fake.private_text(ANNA, "/start")}
    async with running(TelegramTransport(app.conversation, settings), fake):
        [registered] = fake.calls_to("setWebhook")
        assert registered.params["url"] == "https://bot.example.org/telegram/hook"
        assert registered.params["secret_token"] == "s3cret_token-for-the-webhook"
        assert registered.params["allowed_updates"] == ["message", "callback_query"]
        # python-telegram-bot may register the webhook before its server accepts connections.
        for _ in range(100):
            try:
                _reader, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                await asyncio.sleep(0.05)
            else:
                writer.close()
                break
        async with aiohttp.ClientSession() as client:
            for headers in ({}, {"X-Telegram-Bot-Api-Secret-Token": "wrong"}):
                async with client.post(hook, json=update, headers=headers) as refused:
                    assert refused.status == 403
            secret = {"X-Telegram-Bot-Api-Secret-Token": "s3cret_token-for-the-webhook"}
            async with client.post(hook, json=update, headers=secret) as accepted:
                assert accepted.status == 200
        await fake.wait_for(lambda: fake.sent(ANNA))

    assert len(fake.sent(ANNA)) == 1
    assert not fake.calls_to("getUpdates")


async def test_a_posted_update_is_acknowledged_only_once_it_is_stored(
    app: App, database_url: str, fake: FakeBotApi
) -> None:
    # Telegram posts an update again until a post of it gets a 2xx (Bot API, setWebhook), so
    # the webhook must not answer 200 before the update is kept: here the first attempt to
    # keep it fails, that post gets an error, and the update is posted again and answered once.
    port = free_port()
    settings = telegram_settings(
        database_url,
        fake,
        webhook_url="https://bot.example.org/telegram/hook",
        webhook_secret="s3cret_token-for-the-webhook",
        webhook_listen="127.0.0.1",
        webhook_port=port,
    )
    transport = TelegramTransport(app.conversation, settings)
    keep, failures = transport.inbox.keep, []

    async def keep_failing_once(fetched, **kwargs):  # type: ignore[no-untyped-def]
        if not failures:
            failures.append(fetched)
            raise RuntimeError("the disk is gone for a moment")
        return await keep(fetched, **kwargs)

    transport.inbox.keep = keep_failing_once  # type: ignore[method-assign]
    fake.deliver_webhooks_to(f"http://127.0.0.1:{port}")
    async with running(transport, fake):
        [update_id] = fake.queue(fake.private_text(ANNA, "/start"))
        await fake.wait_for(lambda: fake.sent(ANNA), timeout=10)
        await fake.wait_for(lambda: not fake.pending_updates, what="the update confirmed")
        await asyncio.sleep(0.3)

    posts = [post for post in fake.webhook_posts if post.update_id == update_id]
    assert posts[-1].ok and 500 in [post.status for post in posts], posts
    assert failures, "the first attempt to keep the update did not happen"
    assert len(fake.sent(ANNA)) == 1
    assert not fake.calls_to("getUpdates")


def test_webhook_mode_needs_a_long_secret() -> None:
    for secret in ("", "short"):
        with pytest.raises(SettingsError, match="WEBHOOK_SECRET"):
            load_settings(
                _env_file=None,
                webhook_url="https://bot.example.org/telegram",
                webhook_secret=secret,
            )


# -- start-up -----------------------------------------------------------------------------------


async def test_run_stops_with_one_line_when_telegram_rejects_the_token(
    database_url: str, fake: FakeBotApi, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = load_settings(
        _env_file=None,
        database_url=database_url,
        telegram_bot_token="999:WRONG",
        telegram_api_base_url=fake.base_url,
    )
    application = App(settings, clock=FakeClock(START))
    try:
        assert await cli._run(application) == 2
    finally:
        application.close()
    err = capsys.readouterr().err
    assert err.strip() == (
        "engagebot: invalid setting TELEGRAM_BOT_TOKEN: the Bot API does not accept it"
    )


# -- splitting ----------------------------------------------------------------------------------


@given(
    st.lists(
        st.text(alphabet=st.sampled_from("ab é🤝\n"), min_size=0, max_size=60), max_size=12
    ).map("\n\n".join)
)
def test_split_text_keeps_everything_within_the_limit(text: str) -> None:
    parts = split_text(text, limit=16)
    assert all(0 < utf16_len(part) <= 16 and part.strip() for part in parts)
    assert re.sub(r"\s", "", "".join(parts)) == re.sub(r"\s", "", text)


def test_split_text_prefers_paragraphs_then_lines() -> None:
    assert split_text("aa\nbb\n\ncc\ndd", limit=10) == ["aa\nbb", "cc\ndd"]
    assert split_text("aaaa bbbb\ncccc dddd", limit=10) == ["aaaa bbbb", "cccc dddd"]
    assert split_text("abcdefghij", limit=4) == ["abcd", "efgh", "ij"]
    assert split_text("short") == ["short"]


# -- the fake itself ---------------------------------------------------------------------------


async def test_the_fake_answers_like_the_bot_api(fake: FakeBotApi) -> None:
    api = f"{fake.base_url}{TOKEN}"
    async with aiohttp.ClientSession() as client:

        async def call(method: str, **kwargs: Any) -> tuple[int, dict[str, Any]]:
            async with client.post(f"{api}/{method}", **kwargs) as response:
                return response.status, await response.json()

        async with client.get(f"{api}/getMe") as response:
            assert (await response.json())["result"]["username"] == "engagebot_test_bot"
        async with client.get(f"{fake.base_url}999:NOPE/getMe") as response:
            assert response.status == 401

        # A long poll waits for an update, and an offset confirms what came before it.
        fake.queue(fake.private_text(ANNA, "erste"))
        later = asyncio.get_running_loop().call_later(
            0.1, lambda: fake.queue(fake.private_text(ANNA, "zweite"))
        )
        status, body = await call("getUpdates", json={"offset": 0, "timeout": 5})
        [first] = body["result"]
        offset = {"offset": str(first["update_id"] + 1), "timeout": "5"}  # form-encoded
        status, body = await call("getUpdates", data=offset)
        assert [u["message"]["text"] for u in body["result"]] == ["zweite"]
        later.cancel()

        status, body = await call("sendMessage", json={"chat_id": ANNA, "text": "Hallo"})
        assert status == 200 and body["result"]["text"] == "Hallo"
        for bad in ({"text": "Hallo"}, {"chat_id": ANNA, "text": "  "}):
            status, body = await call("sendMessage", json=bad)
            assert status == 400 and body["ok"] is False
        status, body = await call(
            "sendMessage", json={"chat_id": ANNA, "text": "x" * (MAX_MESSAGE_LENGTH + 1)}
        )
        assert body["description"] == "Bad Request: message text is too long"
        markup = {"inline_keyboard": [[{"text": "zu lang", "callback_data": "ä" * 33}]]}
        status, body = await call(
            "sendMessage", json={"chat_id": ANNA, "text": "Hallo", "reply_markup": markup}
        )
        assert body["description"] == "Bad Request: BUTTON_DATA_INVALID"
        status, body = await call(
            "editMessageText", json={"chat_id": ANNA, "message_id": 99, "text": "neu"}
        )
        assert body["description"] == "Bad Request: message to edit not found"

        form = aiohttp.FormData()
        form.add_field("chat_id", str(ANNA))
        form.add_field("document", b"BEGIN:VCALENDAR", filename="cafe.ics")
        status, body = await call("sendDocument", data=form)
        assert body["result"]["document"]["file_name"] == "cafe.ics"

        fake.fail(error_code=429, retry_after=3, chat_id=ANNA)
        status, body = await call("sendMessage", json={"chat_id": ANNA, "text": "Hallo"})
        assert (status, body["parameters"]) == (429, {"retry_after": 3})

    ids = [call.result["message_id"] for call in fake.calls if call.ok and "send" in call.method]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)


# -- test doubles for the core ------------------------------------------------------------------


class SlowCore:
    """The real conversation core on a busy database: one update at a time, `delay` each."""

    def __init__(self, core: Any, delay: float) -> None:
        self._core = core
        self.delay = delay
        self._busy = asyncio.Lock()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._core, name)

    async def handle_async(self, incoming: Incoming) -> list[Reply]:
        async with self._busy:
            await asyncio.sleep(self.delay)
            return await self._core.handle_async(incoming)


class FlakyCore:
    """The real conversation core, which raises while `failing` is set."""

    def __init__(self, core: Any) -> None:
        self._core = core
        self.failing = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._core, name)

    async def handle_async(self, incoming: Incoming) -> list[Reply]:
        if self.failing:
            raise RuntimeError("the core is broken")
        return await self._core.handle_async(incoming)
