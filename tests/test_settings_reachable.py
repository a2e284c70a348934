"""Settings from the main menu and /help, and /start after /stop saying messages are back on."""

from __future__ import annotations

import pytest

from bot.app import App
from bot.i18n import RLM
from tests.dialog import Dialog
from tests.test_search import speaker

pytestmark = pytest.mark.both_databases

LOCALES = ["de", "uk", "ar", "fa"]


def labels(dialog: Dialog) -> list[str]:
    return [label.removeprefix(RLM) for label in dialog.labels]


@pytest.mark.parametrize("locale", LOCALES)
def test_settings_is_a_button_of_the_main_menu_and_typing_its_number_opens_it(
    app: App, locale: str
) -> None:
    t = app.translations.get(locale)
    dialog = speaker(app, locale)
    dialog.say("/menu")
    shown = labels(dialog)
    settings = t.pgettext("button", "⚙️ Settings")
    assert settings in shown
    dialog.say(str(shown.index(settings) + 1))
    assert t._("Messages from the bot: on") in dialog.text
    assert t.pgettext("button", "🔕 Pause messages") in labels(dialog)


@pytest.mark.parametrize("locale", LOCALES)
def test_help_names_settings(app: App, locale: str) -> None:
    t = app.translations.get(locale)
    dialog = speaker(app, locale)
    dialog.say("/help")
    line = t._("/settings shows your language and whether I may write to you on my own.")
    assert line in dialog.text
    assert "/settings" in line, "the command itself stays in the translation"


@pytest.mark.parametrize("locale", LOCALES)
def test_start_after_stop_says_messages_are_on_again(app: App, locale: str) -> None:
    t = app.translations.get(locale)
    dialog = speaker(app, locale)
    dialog.say("/stop")
    dialog.say("/start")
    assert len(dialog.last) == 1
    assert t._("Messages from the bot are on again.") in dialog.text
    assert t._("Welcome back! What would you like to do?") in dialog.text
    dialog.say("/settings")
    assert t._("Messages from the bot: on") in dialog.text
    dialog.say("/start")
    assert t._("Messages from the bot are on again.") not in dialog.text, "said only when paused"


def test_start_with_a_deep_link_after_stop_says_it_too(app: App) -> None:
    t = app.translations.get("fa")
    dialog = speaker(app, "fa")
    dialog.say("/stop")
    dialog.say("/start e_1")
    assert t._("Messages from the bot are on again.") in dialog.last[0].text
    assert "📅" in dialog.text
