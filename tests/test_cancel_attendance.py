"""Cancelling attendance asks once: typing the "1" of the card after "I'm going" ("Can't come")
asks, and typing 1 again keeps the place."""

from __future__ import annotations

import pytest
from sqlmodel import func, select

from bot.app import App
from bot.i18n import RLM
from db.engine import session_scope
from db.models import Attendance, Event
from tests.test_search import speaker

pytestmark = pytest.mark.both_databases

LOCALES = ["de", "uk", "ar", "fa"]


def places(app: App) -> int:
    with session_scope(app.engine) as session:
        return session.exec(select(func.count()).select_from(Attendance)).one()


@pytest.mark.parametrize("locale", LOCALES)
def test_typing_one_after_going_asks_and_one_again_keeps_the_place(app: App, locale: str) -> None:
    t = app.translations.get(locale)
    dialog = speaker(app, locale)
    dialog.press("e:1")
    dialog.press("go:1")
    assert places(app) == 1
    card = dialog.last[-1].flat_buttons()
    assert card[0].label.removeprefix(RLM) == t.pgettext("button", "❌ Can't come")
    dialog.say("1")
    assert places(app) == 1, "not cancelled without asking"
    assert [b.label.removeprefix(RLM) for b in dialog.last[-1].flat_buttons()] == [
        t.pgettext("button", "✅ No, I'm still coming"),
        t.pgettext("button", "❌ Yes, I can't come"),
    ]
    dialog.say("1")
    assert places(app) == 1
    assert t._("You are going.") in dialog.text
    dialog.say("1")
    dialog.say("2")
    assert places(app) == 0
    assert t.pgettext("button", "✋ I'm going") not in dialog.text  # the main menu now


@pytest.mark.parametrize("locale", LOCALES)
def test_leaving_the_waiting_list_asks_too(app: App, locale: str) -> None:
    with session_scope(app.engine) as session:
        session.get(Event, 1).capacity = 1
    t = app.translations.get(locale)
    first = speaker(app, locale, user="first")
    first.press("go:1")
    waiting = speaker(app, locale, user="waiting")
    waiting.press("go:1")
    waiting.press("nogo:1")
    assert places(app) == 2
    assert t.pgettext("button", "❌ Yes, leave the waiting list") in "".join(
        b.label for b in waiting.last[-1].flat_buttons()
    )
    waiting.tap(t.pgettext("button", "❌ Yes, leave the waiting list"))
    assert places(app) == 1
