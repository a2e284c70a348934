"""A restart in the middle of a conversation loses nothing: state lives in the database."""

import pytest

from bot.app import App
from bot.clock import FakeClock
from tests.conftest import make_settings
from tests.dialog import Dialog

pytestmark = pytest.mark.both_databases


def test_restart_between_menu_and_number(database_url: str, clock: FakeClock) -> None:
    first = App(make_settings(database_url), clock=clock)
    dialog = Dialog(first.conversation, locale_hint="en")
    dialog.say("/start")
    dialog.say("2")  # English
    dialog.say("1")  # I agree
    dialog.say("/offers")
    first.close()

    second = App(make_settings(database_url), clock=clock)
    dialog.conversation = second.conversation
    dialog.say("1")  # "By topic", from the menu shown before the restart
    assert "Choose a topic:" in dialog.text
    second.close()


def test_restart_during_onboarding_keeps_the_deep_link(
    app: App, database_url: str, clock: FakeClock
) -> None:
    dialog = Dialog(app.conversation, user="newcomer", locale_hint="uk")
    dialog.say("/start e_1")
    assert len(dialog.labels) == 7
    app.close()

    again = App(make_settings(database_url), clock=clock)
    dialog.conversation = again.conversation
    dialog.tap("English")
    dialog.tap("I agree")
    assert "I will write to you in English." in dialog.text
    assert "When:" in dialog.text, "the deep-linked event opens after the language choice"
    again.close()
