"""Dialog tables for browsing offers and events."""

import re

import pytest

from bot.app import App
from tests.dialog import Dialog, run_table

pytestmark = pytest.mark.both_databases


def english(app: App, user: str = "alice") -> Dialog:
    dialog = Dialog(app.conversation, user=user, locale_hint="en")
    dialog.onboard("en")
    return dialog


def test_offers_by_topic_to_detail_and_back(app: App) -> None:
    dialog = english(app)
    run_table(
        dialog,
        [
            ("@Volunteer offers", ["How would you like to look", "By topic", "By district"]),
            ("@By topic", ["Choose a topic:"]),
        ],
    )
    topic = next(label for label in dialog.labels if re.search(r"\(\d+\)$", label))
    dialog.tap(topic)
    assert re.search(r"\d+ volunteer offers? in the topic", dialog.text)
    assert dialog.last[0].replace, "paging and sub-menus edit the message in place"
    first_offer = dialog.labels[0]
    dialog.tap(first_offer)
    detail = dialog.text
    assert "Organisation:" in detail and "Where:" in detail and "Contact:" in detail
    assert first_offer in detail
    dialog.tap("Back to the list")
    assert "in the topic" in dialog.text


def test_offers_by_district(app: App) -> None:
    dialog = english(app)
    dialog.tap("Volunteer offers")
    dialog.tap("By district")
    assert "Choose a district:" in dialog.text
    dialog.tap(next(label for label in dialog.labels if "Innenstadt-West" in label))
    assert re.search(r"\d+ volunteer offers? in Innenstadt-West", dialog.text)


def test_paging_through_events_edits_in_place(app: App) -> None:
    dialog = english(app)
    run_table(dialog, [("/events", ["upcoming events.", "Page 1 of 2."])])
    first_page = dialog.labels
    run_table(dialog, [("@Next", ["Page 2 of 2."])])
    assert dialog.last[0].replace
    assert not set(dialog.labels[:-4]) & set(first_page), "the events, before By topic and Menu"
    assert dialog.labels[-2:] == ["◀ Previous", "Next ▶"] == first_page[-2:], "the pager last"
    run_table(dialog, [("@Previous", ["Page 1 of 2."])])
    assert dialog.labels == first_page


def test_a_page_past_the_end_shows_the_last_page(app: App) -> None:
    dialog = english(app)
    dialog.press("evs:999")
    assert "Page 2 of 2." in dialog.text


def test_events_in_english_with_date_and_time(app: App) -> None:
    dialog = english(app)
    run_table(dialog, [("/events", ["upcoming events."])])
    cafe = next(label for label in dialog.labels if "Demokratie" in label or "Democracy" in label)
    dialog.tap(cafe)
    text = dialog.text
    assert re.search(r"When: \w+day, \w+ \d{1,2}, 6:00\sPM \(in ", text), text
    assert "Where:" in text and "Königstraße" in text and "Organised by:" in text
    assert dialog.last[0].place is not None


def test_event_detail_in_german_uses_the_german_date(app: App) -> None:
    dialog = Dialog(app.conversation, user="bernd")
    dialog.onboard("de")
    dialog.say("/events")
    dialog.tap(next(label for label in dialog.labels if "Demokratie" in label))
    assert re.search(
        r"(Montag|Dienstag|Mittwoch|Donnerstag|Freitag|Samstag|Sonntag), "
        r"\d{1,2}\. \w+, 18:00",
        dialog.text,
    ), dialog.text


def test_the_whole_city_is_reachable_by_numbers_alone(app: App) -> None:
    dialog = Dialog(app.conversation, user="numbers", locale_hint="en")
    run_table(
        dialog,
        [
            ("/start", ["Choose your language:"]),
            ("2", ["Do you agree?"]),
            ("1", ["English"]),
            ("1", ["How would you like to look"]),
            ("1", ["Choose a topic:"]),
            ("1", ["in the topic"]),
            ("1", ["Organisation:"]),
        ],
    )
