"""In webhook mode a button press is answered in the 200 to Telegram's own request.

Bot API, "Making requests when getting updates": the answer to a webhook request may carry one
Bot API call, as JSON with the method in `method`. The bot puts answerCallbackQuery there, so a
press costs no request of its own to stop the button's clock; the fake Bot API performs such a
call and marks it `in_webhook_response` (tests/fake_bot_api.py). Polling keeps the request.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from bot.app import App
from bot.transports.telegram import TelegramTransport
from db.engine import session_scope
from db.inbox import Fetched, store_fetched
from tests.fake_bot_api import SECRET_HEADER, ApiCall, FakeBotApi
from tests.test_cancel_attendance import places
from tests.test_telegram import TOKEN, buttons, free_port, onboard, running, telegram_settings

pytestmark = pytest.mark.both_databases

HOOK_URL = "https://bot.example.org/telegram/hook"
SECRET = "s3cret_token-for-the-webhook"
ANNA = 4601


@pytest.fixture
async def fake() -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi(TOKEN) as server:
        yield server


def webhook_transport(
    app: App, database_url: str, fake: FakeBotApi, port: int, *, deliver: bool = True
) -> TelegramTransport:
    settings = telegram_settings(
        database_url,
        fake,
        webhook_url=HOOK_URL,
        webhook_secret=SECRET,
        webhook_listen="127.0.0.1",
        webhook_port=port,
    )
    if deliver:
        fake.deliver_webhooks_to(f"http://127.0.0.1:{port}")
    return TelegramTransport(app.conversation, settings, chat_rate=50.0, chat_burst=20)


def answers(fake: FakeBotApi, query_id: str) -> list[ApiCall]:
    return [
        call
        for call in fake.calls_to("answerCallbackQuery")
        if call.params.get("callback_query_id") == query_id
    ]


def replies_to(fake: FakeBotApi, chat_id: int) -> list[ApiCall]:
    """Return the messages sent or edited in a chat."""
    return [
        call
        for call in fake.calls
        if call.ok and call.chat_id == chat_id and call.method in ("sendMessage", "editMessageText")
    ]


async def event_card(fake: FakeBotApi, user_id: int) -> dict[str, Any]:
    """Open the first event from the main menu; return the card the bot sent."""
    fake.queue(fake.callback_query(user_id, "e:1"))
    await fake.wait_for(lambda: fake.calls_to("sendVenue", chat_id=user_id), what="the card")
    [card] = [m for m in fake.sent(user_id) if "go:1" in [b["callback_data"] for b in buttons(m)]]
    return card


async def test_a_press_costs_one_edit_and_its_answer_rides_in_the_webhook_response(
    app: App, database_url: str, fake: FakeBotApi
) -> None:
    de = app.translations.get("de")
    transport = webhook_transport(app, database_url, fake, free_port())
    async with running(transport, fake):
        await onboard(fake, ANNA, "de")
        card = await event_card(fake, ANNA)
        mark = len(fake.calls)
        press = fake.callback_query(ANNA, "go:1", message_id=card["message_id"])
        fake.queue(press)
        await fake.wait_for(lambda: fake.calls_to("editMessageText", chat_id=ANNA))
        await fake.wait_for(lambda: not fake.pending_updates, what="the press confirmed")
        await asyncio.sleep(0.2)  # room for a stray second message or answer
    made = [call for call in fake.calls[mark:] if call.method != "setWebhook"]
    assert [call.method for call in made] == ["answerCallbackQuery", "editMessageText"], made
    [answer] = answers(fake, press["callback_query"]["id"])
    assert answer.in_webhook_response and answer.ok, "the answer came in the 200, not a request"
    [edit] = [call for call in made if call.method == "editMessageText"]
    assert edit.ok and edit.params["message_id"] == card["message_id"]
    assert not edit.in_webhook_response
    edited = fake.message(ANNA, card["message_id"])
    assert de._("You are going.") in edited["text"]
    assert buttons(edited)[0]["callback_data"] == "nogo:1"
    assert places(app) == 1
    # Every press of the onboarding was answered the same way; none by a request.
    assert all(call.in_webhook_response for call in fake.calls_to("answerCallbackQuery"))


async def test_a_press_not_stored_gets_500_and_no_answer_then_200_with_it(
    app: App, database_url: str, fake: FakeBotApi
) -> None:
    port = free_port()
    transport = webhook_transport(app, database_url, fake, port, deliver=False)
    keep, failures = transport.inbox.keep, []

    async def keep_failing_once(fetched, **kwargs):  # type: ignore[no-untyped-def]
        if not failures:
            failures.append(fetched)
            raise RuntimeError("the disk is gone for a moment")
        return await keep(fetched, **kwargs)

    fake.add_chat(ANNA)
    menu = await fake._api_sendmessage({"chat_id": ANNA, "text": "Menu"})
    press = {"update_id": 4242, **fake.callback_query(ANNA, "menu", message_id=menu["message_id"])}
    query_id = press["callback_query"]["id"]
    hook = f"http://127.0.0.1:{port}/telegram/hook"
    secret = {SECRET_HEADER: SECRET}
    async with running(transport, fake), aiohttp.ClientSession() as client:
        async with client.post(hook, json=press) as refused:
            assert refused.status == 403, "no secret, no update"
        transport.inbox.keep = keep_failing_once  # type: ignore[method-assign]
        async with client.post(hook, json=press, headers=secret) as failed:
            assert failed.status == 500
            assert "answerCallbackQuery" not in await failed.text()
        assert failures, "the first attempt to keep the press did not happen"
        assert not replies_to(fake, ANNA), "a press not stored is not handled"
        for _ in range(2):  # Telegram posts again; a repeat is answered, not handled again
            async with client.post(hook, json=press, headers=secret) as kept:
                assert kept.status == 200
                assert await kept.json() == {
                    "method": "answerCallbackQuery",
                    "callback_query_id": query_id,
                }
        await fake.wait_for(lambda: replies_to(fake, ANNA))
        await asyncio.sleep(0.2)
    assert len(replies_to(fake, ANNA)) == 1
    assert not answers(fake, query_id), "no answerCallbackQuery request of its own"


async def test_a_text_message_gets_an_empty_200_and_a_stop_closes_the_server(
    app: App, database_url: str, fake: FakeBotApi
) -> None:
    port = free_port()
    transport = webhook_transport(app, database_url, fake, port, deliver=False)
    update = {"update_id": 4343, **fake.private_text(ANNA, "/start")}
    async with running(transport, fake), aiohttp.ClientSession() as client:
        hook = f"http://127.0.0.1:{port}/telegram/hook"
        async with client.post(hook, json=update, headers={SECRET_HEADER: SECRET}) as accepted:
            assert accepted.status == 200
            assert await accepted.read() == b""
        async with client.post(hook, data="{", headers={SECRET_HEADER: SECRET}) as broken:
            assert broken.status == 400
        await fake.wait_for(lambda: fake.sent(ANNA))
    # A clean stop closes the server: Telegram's next request finds nobody (and comes again).
    with pytest.raises(OSError):
        _reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.close()


def store_press(app: App, press: dict[str, Any]) -> None:
    """Leave a stored, unhandled press in the inbox, as a process killed after storing it."""
    with session_scope(app.engine) as session:
        store_fetched(
            session,
            transport="telegram",
            updates=[Fetched(press["update_id"], str(ANNA), press)],
            now=app.clock.now(),
        )


@pytest.mark.parametrize("mode", ["webhook", "polling"])
async def test_a_press_taken_up_after_a_restart_is_answered_by_request_only_when_polling(
    app: App, database_url: str, fake: FakeBotApi, mode: str
) -> None:
    # Webhook: the press was stored, so either its 200 carried the answer, or the process died
    # before answering and Telegram posts it again, with the answer in that 200. A request of
    # its own would only meet "query is too old". Polling: nobody answered it yet, and after a
    # quick restart the person may still be waiting for the clock to stop.
    fake.add_chat(ANNA)
    menu = await fake._api_sendmessage({"chat_id": ANNA, "text": "Menu"})
    press = {"update_id": 4444, **fake.callback_query(ANNA, "menu", message_id=menu["message_id"])}
    store_press(app, press)
    if mode == "webhook":
        transport = webhook_transport(app, database_url, fake, free_port())
    else:
        transport = TelegramTransport(app.conversation, telegram_settings(database_url, fake))
    async with running(transport, fake):
        await fake.wait_for(lambda: replies_to(fake, ANNA), what="the press answered")
        if mode == "polling":
            await fake.wait_for(lambda: answers(fake, press["callback_query"]["id"]))
        await asyncio.sleep(0.2)
    made = answers(fake, press["callback_query"]["id"])
    if mode == "webhook":
        assert made == []
    else:
        [answer] = made
        assert answer.ok and not answer.in_webhook_response
