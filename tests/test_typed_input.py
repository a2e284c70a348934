"""Typed input in every script: menu numbers in any decimal digits, and direction marks stripped
before anything else, so commands copied from right-to-left text work when pasted back."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.app import App
from bot.clock import FakeClock
from bot.i18n import FSI, PDI, RLM
from db.models import Role
from handlers.conversation import clean_text
from tests.conftest import make_settings
from tests.test_coordinator import count, person

pytestmark = pytest.mark.both_databases

ALM = "\u061c"  # Arabic letter mark
LRE, RLE, PDF, LRO, RLO = "\u202a", "\u202b", "\u202c", "\u202d", "\u202e"
LRI, RLI = "\u2066", "\u2067"
ZWNJ = "\u200c"


@pytest.fixture
def city(database_url: str, clock: FakeClock) -> Iterator[App]:
    application = App(make_settings(database_url, admin_ids="console:admin"), clock=clock)
    yield application
    application.close()


def pressed_second(app: App, locale: str) -> str:
    """What pressing the second button of the main menu answers, for comparison."""
    reference = person(app, f"reference-{locale}", locale)
    reference.say("/menu")
    reference.press(reference.last[-1].flat_buttons()[1].action)
    return reference.text


@pytest.mark.parametrize(
    ("locale", "two"),
    [
        ("de", "2"),
        ("uk", "2."),
        ("ar", "٢"),  # Arabic-Indic
        ("ar", f"{RLM}٢{RLM}"),
        ("fa", "۲"),  # Extended Arabic-Indic, as a Persian keyboard types it
        ("fa", f"{FSI}۲{PDI}"),
        ("fa", "२"),  # Devanagari: any Unicode decimal digit
        ("de", "２"),  # fullwidth, from a Japanese or Chinese keyboard
    ],
)
def test_a_menu_number_in_any_digits_presses_its_button(city: App, locale: str, two: str) -> None:
    expected = pressed_second(city, locale)
    dialog = person(city, "resident", locale)
    dialog.say("/menu")
    dialog.say(two)
    assert dialog.text == expected
    assert "“" not in dialog.text and "«" not in dialog.text, "not searched for"


@pytest.mark.parametrize("locale", ["de", "uk", "ar", "fa"])
def test_a_number_out_of_range_in_persian_digits_names_the_range(city: App, locale: str) -> None:
    dialog = person(city, "resident", locale)
    dialog.say("/menu")
    replies = dialog.say("۹۹")
    # The main menu: offers, events, search, subscriptions, language, help, settings.
    hint = city.translations.get(locale)._(
        "Please choose a number from 1 to %(highest)s.",
        highest=city.translations.get(locale).number(7),
    )
    assert replies[0].text.removeprefix(RLM) == hint


@pytest.mark.parametrize("locale", ["ar", "fa"])
def test_join_copied_from_the_invitation_works_pasted_back(city: App, locale: str) -> None:
    admin = person(city, "admin", locale)
    admin.say("/coordinator")
    admin.press("inv_new")
    admin.press("inv_org:1")
    line = next(line for line in admin.text.split("\n") if "/join" in line)
    assert FSI + "/join" in line, "the bot isolates the command in right-to-left text"
    # What a long press on the command copies: the command with the marks around it.
    start = line.index("/join") - 1
    copied = RLM + line[start : line.index(PDI, start) + 1]
    assert copied != copied.strip(FSI + PDI + RLM)
    roles = count(city, Role)
    newcomer = person(city, "newcomer", locale)
    newcomer.say(copied)
    assert count(city, Role) == roles + 1
    assert "/coordinator" in newcomer.text


@pytest.mark.parametrize("locale", ["de", "uk", "ar", "fa"])
def test_a_command_word_wrapped_in_marks_is_the_command(city: App, locale: str) -> None:
    dialog = person(city, "resident", locale)
    dialog.say(f"{RLM}{LRI}/help{PDI}{ALM}")
    plain = person(city, "other", locale)
    plain.say("/help")
    assert dialog.text == plain.text


def test_every_direction_mark_is_stripped_and_the_non_joiner_kept() -> None:
    marks = "\u200e\u200f" + ALM + LRE + RLE + PDF + LRO + RLO + LRI + RLI + FSI + PDI
    assert clean_text(f"{marks}/join AB{marks}CD{marks}") == "/join ABCD"
    assert clean_text(f"کمک به بچه{ZWNJ}ها") == f"کمک به بچه{ZWNJ}ها"
