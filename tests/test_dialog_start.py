"""Dialog tables for first contact, the menu, help, language and settings."""

from bot.app import App
from tests.dialog import Dialog, run_table


def test_first_contact_in_the_guessed_language_then_chosen(app: App) -> None:
    dialog = Dialog(app.conversation, locale_hint="en-GB")
    run_table(
        dialog,
        [
            ("/start", ["Welcome!", "Privacy:", "Choose your language:", "Deutsch", "العربية"]),
            ("2", ["I will write to you in English.", "Volunteer offers", "Upcoming events"]),
            ("/start", ["Welcome back!"]),
        ],
    )


def test_a_new_user_without_a_hint_gets_the_default_language(app: App) -> None:
    dialog = Dialog(app.conversation)
    run_table(dialog, [("/start", ["Willkommen", "Datenschutz"])])


def test_typing_instead_of_choosing_a_language_asks_again(app: App) -> None:
    dialog = Dialog(app.conversation, locale_hint="en")
    run_table(
        dialog,
        [
            ("/start", ["Choose your language:"]),
            ("hello there", ["Please choose your language first:", "Türkçe"]),
            ("@English", ["I will write to you in English."]),
        ],
    )


def test_help_menu_and_unknown_text(app: App) -> None:
    dialog = Dialog(app.conversation, locale_hint="en")
    dialog.say("/start")
    dialog.tap("English")
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
    dialog.say("/start")
    dialog.tap("English")
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
    dialog.say("/start")
    dialog.tap("English")
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
