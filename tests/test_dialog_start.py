"""Dialog tables for first contact, the menu, help, language and settings."""

import pytest

from bot.app import App
from tests.dialog import Dialog, run_table

pytestmark = pytest.mark.both_databases


def test_first_contact_language_then_consent(app: App) -> None:
    dialog = Dialog(app.conversation, locale_hint="en-GB")
    run_table(
        dialog,
        [
            ("/start", ["Welcome!", "Choose your language:", "Deutsch", "العربية", "Türkçe"]),
            (
                "2",
                [
                    "runs this bot",
                    "I store your messenger ID",
                    "/mydata",
                    "/delete",
                    "processes data about your messages",
                    "Do you agree?",
                    "I agree",
                    "Another language",
                    "No, thanks",
                ],
            ),
            ("1", ["I will write to you in English.", "Volunteer offers", "Upcoming events"]),
            ("/start", ["Welcome back!"]),
        ],
    )


def test_nothing_but_the_id_is_stored_before_consent(app: App) -> None:
    from sqlmodel import select

    from db.engine import session_scope
    from db.models import User

    dialog = Dialog(app.conversation, user="careful", locale_hint="uk")
    dialog.say("/start")
    dialog.press("lang_set:ar")
    assert dialog.last[0].rtl, "the notice is shown in the language just picked"
    with session_scope(app.engine) as session:
        user = session.exec(select(User).where(User.external_id == "careful")).one()
        assert (user.locale, user.language_hint, user.consent_at) == (None, None, None)
    dialog.press("agree")
    with session_scope(app.engine) as session:
        user = session.exec(select(User).where(User.external_id == "careful")).one()
        assert user.locale == "ar" and user.language_hint == "uk" and user.consent_at


def test_declining_forgets_the_user(app: App) -> None:
    from sqlmodel import select

    from db.engine import session_scope
    from db.models import User

    dialog = Dialog(app.conversation, user="leaver", locale_hint="en")
    run_table(
        dialog,
        [
            ("/start", ["Choose your language:"]),
            ("[lang_set:en]", ["Do you agree?"]),
            ("@No, thanks", ["I have not kept anything about you", "/start"]),
        ],
    )
    assert dialog.last[0].buttons == ()
    with session_scope(app.engine) as session:
        assert session.exec(select(User).where(User.external_id == "leaver")).first() is None


def test_everything_waits_for_consent(app: App) -> None:
    dialog = Dialog(app.conversation, user="hasty", locale_hint="en")
    run_table(
        dialog,
        [
            ("/events", ["Please choose your language first:"]),
            ("[e:1]", ["Please choose your language first:"]),
            ("[lang_set:en]", ["Do you agree?"]),
            ("/offers", ["Please read this first", "Do you agree?"]),
            ("[go:1]", ["Please read this first"]),
            ("hello", ["Please read this first"]),
            ("/privacy", ["Do you agree?"]),
            ("@Another language", ["Deutsch"]),
            ("[lang_set:de]", ["/mydata", "/delete"]),
            ("[agree]", ["Deutsch"]),
        ],
    )


def test_a_new_user_without_a_hint_gets_the_default_language(app: App) -> None:
    dialog = Dialog(app.conversation)
    run_table(dialog, [("/start", ["Willkommen", "Wähle deine Sprache"])])


def test_typing_instead_of_choosing_a_language_asks_again(app: App) -> None:
    dialog = Dialog(app.conversation, locale_hint="en")
    run_table(
        dialog,
        [
            ("/start", ["Choose your language:"]),
            ("hello there", ["Please choose your language first:", "Türkçe"]),
            ("@English", ["Do you agree?"]),
            ("@I agree", ["I will write to you in English."]),
        ],
    )


def test_help_menu_and_unknown_text(app: App) -> None:
    dialog = Dialog(app.conversation, locale_hint="en")
    dialog.onboard("en")
    run_table(
        dialog,
        [
            ("/help", ["/offers", "/events", "/language", "Volunteer offers"]),
            ("/menu", ["What would you like to do?"]),
            ("what is this", ["did not understand", "Volunteer offers"]),
            ("/nonsense", ["did not understand"]),
        ],
    )


def test_settings_pause_and_resume(app: App) -> None:
    dialog = Dialog(app.conversation, locale_hint="en")
    dialog.onboard("en")
    run_table(
        dialog,
        [
            ("/settings", ["Language: English", "Messages from the bot: on", "Pause messages"]),
            ("/stop", ["will not send you any messages", "/start"]),
            ("/settings", ["Messages from the bot: paused", "Resume messages"]),
            ("@Resume messages", ["on again"]),
            ("/privacy", ["runs this bot", "privacy@example.org", "12 months"]),
        ],
    )


def test_switching_language_from_the_menu(app: App) -> None:
    dialog = Dialog(app.conversation, locale_hint="en")
    dialog.onboard("en")
    run_table(
        dialog,
        [
            ("@Language", ["Deutsch", "English", "Українська", "Русский", "العربية", "فارسی"]),
            ("@Deutsch", ["Deutsch", "Ehrenamtsangebote"]),
            ("/language", ["Sprache"]),
        ],
    )


def test_a_group_chat_is_told_once_to_write_privately(app: App) -> None:
    from bot.messages import Incoming

    group = Incoming(
        "telegram", "7", text="/start", chat_kind="group", chat_key="-100", locale_hint="en"
    )
    first = app.conversation.handle(group)
    assert len(first) == 1 and "private chat" in first[0].text
    assert app.conversation.handle(group) == []


def test_an_old_decline_button_does_not_erase_someone_who_agreed(app: App) -> None:
    dialog = Dialog(app.conversation, user="kept")
    dialog.onboard("en")
    dialog.press("fol:c:1")
    dialog.press("decline")
    assert "no longer works" in dialog.text
    dialog.say("/subscriptions")
    assert "You follow 1 topic" in dialog.text
