""" "I'm going" changes the card in place and adds one short line, instead of three messages.

On Telegram the pressed card is edited (its button becomes "Can't come") and one line follows;
on Signal and the console, which cannot edit, one line comes with the card's numbered buttons
as they are now, and neither the card nor its map pin is sent again.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from bot.app import App
from bot.i18n import RLM
from bot.messages import Incoming
from bot.transports.telegram import TelegramTransport
from tests.dialog import Dialog, run_table
from tests.fake_bot_api import FakeBotApi
from tests.test_cancel_attendance import places
from tests.test_search import speaker
from tests.test_telegram import TOKEN, buttons, onboard, running, telegram_settings

pytestmark = pytest.mark.both_databases

LOCALES = ["de", "uk", "ar", "fa"]


def plain(label: str) -> str:
    return label.removeprefix(RLM)


@pytest.mark.parametrize("locale", LOCALES)
def test_going_without_edits_is_one_short_line_with_the_cards_buttons(
    app: App, locale: str
) -> None:
    t = app.translations.get(locale)
    dialog = speaker(app, locale)
    dialog.press("e:1")
    card = dialog.last[0]
    assert card.place is not None
    dialog.say("1")  # the card's first button: "I'm going"
    [line] = dialog.last
    assert places(app) == 1
    assert line.place is None, "the map pin is not sent again"
    assert "📅" not in line.text and line.text.count("\n") == 0, "the card is not sent again"
    title = card.text.splitlines()[0].removeprefix(RLM).removeprefix("📅 ")
    assert title.strip("\u2068\u2069") in line.text
    assert [plain(b.label) for b in line.flat_buttons()] == [
        t.pgettext("button", "❌ Can't come"),
        t.pgettext("button", "📆 Add to calendar"),
        t.pgettext("button", "◀ All events"),
        t.pgettext("button", "🏠 Main menu"),
    ]
    # Typing "1" again does not silently give the place up: it asks, and "1" keeps it.
    dialog.say("1")
    assert places(app) == 1
    assert plain(dialog.labels[0]) == t.pgettext("button", "✅ No, I'm still coming")
    dialog.say("1")
    assert places(app) == 1
    assert t._("You are going.") in dialog.text


@pytest.mark.parametrize("locale", LOCALES)
def test_a_full_event_puts_the_user_on_the_waiting_list_in_one_line(app: App, locale: str) -> None:
    from db.engine import session_scope
    from db.models import Event

    with session_scope(app.engine) as session:
        session.get(Event, 1).capacity = 1
    speaker(app, locale, user="first").press("go:1")
    t = app.translations.get(locale)
    dialog = speaker(app, locale)
    dialog.press("go:1")
    [line] = dialog.last
    assert t.number(1) in line.text
    assert plain(line.flat_buttons()[0].label) == t.pgettext("button", "❌ Leave the waiting list")


@pytest.mark.parametrize("locale", LOCALES)
def test_where_the_card_can_be_edited_it_is_replaced_with_the_confirmation_in_it(
    app: App, locale: str
) -> None:
    t = app.translations.get(locale)
    # Someone on a messenger without edits gets the confirmation as a line of its own.
    [line] = speaker(app, locale, user="console-like").press("go:1")
    dialog = speaker(app, locale, user="telegram-like")
    press = Incoming("console", "telegram-like", action="go:1", can_edit=True)
    [card] = app.conversation.handle(press)
    assert card.replace and card.place is None, "the pin sent with the card stays as it is"
    assert t._("You are going.") in card.text
    assert plain(card.flat_buttons()[0].label) == t.pgettext("button", "❌ Can't come")
    # The same confirmation, as the card's last paragraph; the card still starts with its title.
    assert card.text.endswith(f"\n\n{line.text}")
    assert plain(card.text).startswith("📅")
    # The card's buttons stay what typed numbers press.
    dialog.say("1")
    assert plain(dialog.labels[0]) == t.pgettext("button", "✅ No, I'm still coming")
    assert places(app) == 2


@pytest.mark.parametrize("locale", ["de", "en", "ar", "fa"])
def test_going_on_an_editable_card_is_one_message_in_a_dialog(app: App, locale: str) -> None:
    t = app.translations.get(locale)
    dialog = Dialog(app.conversation, user=f"editing-{locale}", can_edit=True)
    dialog.onboard(locale)
    run_table(
        dialog,
        [
            ("[e:1]", ["📅", t.pgettext("button", "✋ I'm going")]),
            (
                "[go:1]",
                [t._("You are going."), t.pgettext("button", "❌ Can't come"), "📅"],
            ),
            ("[nogo:1]", [t.pgettext("button", "✅ No, I'm still coming")]),
        ],
    )
    assert dialog.history[-2][1][0].replace, "the card is edited, not sent again"


@pytest.fixture
async def fake() -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi(TOKEN) as server:
        yield server


async def test_on_telegram_going_is_one_edit_one_line_and_no_pin(
    app: App, database_url: str, fake: FakeBotApi
) -> None:
    uk = app.translations.get("uk")
    transport = TelegramTransport(
        app.conversation, telegram_settings(database_url, fake), chat_rate=50.0, chat_burst=20
    )
    anna = 4501
    async with running(transport, fake):
        menu = await onboard(fake, anna, "uk")
        mark = len(fake.calls)
        fake.queue(fake.callback_query(anna, "e:1", message_id=menu["message_id"]))
        await fake.wait_for(lambda: fake.calls_to("sendVenue", chat_id=anna), what="the card")
        [card] = [m for m in fake.sent(anna) if "go:1" in [b["callback_data"] for b in buttons(m)]]
        mark = len(fake.calls)
        query = fake.callback_query(anna, "go:1", message_id=card["message_id"])
        fake.queue(query)
        await fake.wait_for(
            lambda: fake.calls_to("editMessageText", chat_id=anna), what="the edited card"
        )
        await fake.wait_for(lambda: not fake.pending_updates, what="the press confirmed")
        await asyncio.sleep(0.2)  # room for a stray second message
    calls = [c.method for c in fake.calls[mark:] if c.method != "getUpdates"]
    # The Bot API's editMessageText changes the pressed message and its inline keyboard;
    # answerCallbackQuery stops the button's clock (core.telegram.org/bots/api#updating-messages).
    # Polling, that answer is a request of its own; in webhook mode it rides in the 200 to
    # Telegram's request (tests/test_webhook_answers.py).
    assert sorted(calls) == ["answerCallbackQuery", "editMessageText"]
    [answer] = fake.calls_to("answerCallbackQuery")[-1:]
    assert answer.ok and answer.params["callback_query_id"] == query["callback_query"]["id"]
    assert not answer.in_webhook_response
    [edit] = fake.calls_to("editMessageText", chat_id=anna)
    assert edit.ok and edit.params["message_id"] == card["message_id"]
    edited = fake.message(anna, card["message_id"])
    assert uk._("You are going.") in edited["text"]
    [line] = speaker(app, "uk", user="console-like").press("go:1")
    assert edited["text"].endswith(f"\n\n{line.text}"), "the confirmation is in the card"
    assert buttons(edited)[0]["callback_data"] == "nogo:1"
    assert places(app) == 2
