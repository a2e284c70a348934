"""Whatever a user sends, they get a clear answer and the menu; nothing crashes."""

import pytest

from bot.app import App
from bot.clock import FakeClock
from bot.messages import Incoming
from tests.conftest import make_settings
from tests.test_dialog_browse import english

pytestmark = pytest.mark.both_databases


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "Your message was empty"),
        ("   \n\t  ", "Your message was empty"),
        ("\x00\x01\x07", "Your message was empty"),
        ("x" * 100_000, "too long"),
        ("🙂🎉🤝", "did not understand"),
        ("مرحبا كيف حالك", "did not understand"),
        # Other text is searched for; nothing matches these.
        ("\u200f\u202e\u2066 zero\u200bwidth", "I found no offers or events"),
        ("<b>bold</b> *markdown* _x_ `code`", "I found no offers or events"),
        ("/start@SomeOtherBot", "Welcome back"),
        ("/", "did not understand"),
    ],
)
def test_odd_text_gets_an_answer_and_the_menu(app: App, text: str, expected: str) -> None:
    dialog = english(app)
    replies = dialog.say(text)
    assert replies, "the bot must answer"
    assert expected in dialog.text
    assert any(r.buttons for r in replies), "the menu comes with the answer"


@pytest.mark.parametrize("number", ["0", "99", "999999", "4 ", " 12."])
def test_a_number_out_of_range_says_which_numbers_work(app: App, number: str) -> None:
    dialog = english(app)
    dialog.say("/settings")  # three buttons
    dialog.say(number)
    if number.strip(" .") in {"4", "12"} or int(number.strip(" .")) > 3 or number.strip() == "0":
        assert "Please choose a number from 1 to 3." in dialog.text
        assert "Language: English" in dialog.text, "the screen is shown again"


@pytest.mark.parametrize(
    "action",
    [
        "o:999999",
        "e:424242",
        "oc:99999:0",
        "od:77777:0",
        "lang_set:xx",
        "o:abc",
        "o:1:2",
        "o:-1",
        "o:01",
        "x" * 65,
        "start_command:o_1",
        "not_understood:hi",
        "",
        "o:" + "9" * 20,
        "ev:1\n",
        "menü",
    ],
)
def test_forged_or_stale_buttons_get_a_clear_answer(app: App, action: str) -> None:
    dialog = english(app)
    replies = dialog.press(action)
    assert len(replies) == 1
    assert any(
        phrase in dialog.text
        for phrase in ("no longer works", "no longer available", "no offers here")
    ), dialog.text
    assert replies[0].buttons


def test_a_button_from_an_old_menu_still_does_what_it_said(app: App) -> None:
    dialog = english(app)
    dialog.say("/events")
    old = dialog.labels[0]
    action = dialog.button(old)
    dialog.say("/offers")
    dialog.press(action)
    assert "When:" in dialog.text


def test_a_cancelled_event_says_so(app: App) -> None:
    from sqlmodel import select

    from db.engine import session_scope
    from db.models import Event, ItemStatus

    with session_scope(app.engine) as session:
        event = session.exec(select(Event)).first()
        event.status = ItemStatus.CANCELLED
        event_id = event.id
    dialog = english(app)
    dialog.press(f"e:{event_id}")
    assert "This event has been cancelled." in dialog.text
    dialog.say("/events")
    assert all(dialog.button(label) != f"e:{event_id}" for label in dialog.labels[:-1])


@pytest.mark.sqlite_only(
    "holds SQLite's write lock; test_postgres_timeouts.py locks a table on PostgreSQL"
)
def test_nothing_is_lost_when_the_database_is_locked(app: App) -> None:
    import sqlite3

    from db.engine import sqlite_path

    dialog = english(app)
    path = sqlite_path(app.settings.database_url)
    app.conversation.engine.dispose()
    locker = sqlite3.connect(path, timeout=0)
    locker.execute("BEGIN EXCLUSIVE")
    try:
        quick = App(
            make_settings(path, sqlite_busy_timeout_ms=50), clock=FakeClock(app.clock.now())
        )
        replies = quick.conversation.handle(
            Incoming("console", "alice", text="/events", locale_hint="en")
        )
        assert "try again in a few minutes" in replies[0].text
    finally:
        locker.rollback()
        locker.close()
    replies = quick.conversation.handle(
        Incoming("console", "alice", text="/events", locale_hint="en")
    )
    assert "upcoming events" in replies[0].text
    quick.close()
    assert dialog


def test_a_bug_in_a_handler_is_answered_politely(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    from handlers.router import router

    dialog = english(app)

    def broken(ctx, *args):
        raise RuntimeError("boom")

    monkeypatch.setitem(router.actions, "help", broken)
    replies = dialog.say("/help")
    assert "something went wrong on my side" in replies[0].text
    assert "boom" not in replies[0].text
