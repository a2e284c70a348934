"""Calendar files: an event as .ics, in the reader's language, at the right local time."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import icalendar
import pytest

from bot.app import App
from bot.clock import FakeClock
from bot.messages import Attachment
from db.engine import session_scope
from db.models import Event, ItemStatus
from tests.conftest import make_settings
from tests.dialog import Dialog, run_table
from tests.test_dialog_browse import english

pytestmark = pytest.mark.both_databases


def calendar_of(dialog: Dialog) -> tuple[Attachment, icalendar.Event, icalendar.Calendar]:
    """Return the attachment of the last answer, its one event and the whole calendar."""
    attachments = [a for r in dialog.last for a in r.attachments]
    assert len(attachments) == 1, dialog.text
    calendar = icalendar.Calendar.from_ical(attachments[0].content)
    events = list(calendar.walk("VEVENT"))
    assert len(events) == 1
    return attachments[0], events[0], calendar


def test_event_detail_offers_the_calendar_file(app: App, clock: FakeClock) -> None:
    dialog = english(app)
    run_table(dialog, [("[e:1]", ["Democracy Café", "📆 Add to calendar"])])
    run_table(dialog, [("@Add to calendar", ["as a calendar file", "Back to the event"])])
    attachment, entry, calendar = calendar_of(dialog)
    assert attachment.filename == "demokratie-cafe-in-der-koenigstrasse.ics"
    assert attachment.mime_type == "text/calendar"
    assert calendar["METHOD"] == "PUBLISH" and calendar["VERSION"] == "2.0"
    assert [tz["TZID"] for tz in calendar.walk("VTIMEZONE")] == ["Europe/Berlin"]
    assert str(entry["SUMMARY"]) == "Democracy Café on Königstraße"
    assert entry["UID"] == "event-1@engagebot.example.org"
    start, end = entry.decoded("DTSTART"), entry.decoded("DTEND")
    assert entry["DTSTART"].params["TZID"] == "Europe/Berlin"
    assert (start.hour, start.minute, end.hour) == (18, 0, 20)
    assert entry.decoded("DTSTAMP") == clock.now()
    assert "Königstraße 93" in str(entry["LOCATION"])
    assert entry["GEO"].latitude == pytest.approx(49.4423)
    description = str(entry["DESCRIPTION"])
    assert "Talk about the neighbourhood over coffee and tea" in description
    assert "Organised by: Arbeits- und sozialpädagogisches Zentrum (ASZ)" in description
    assert "send “/start e_1” to the bot" in description
    assert "URL" not in entry


def test_the_uid_is_stable_and_dtstamp_follows_the_clock(app: App, clock: FakeClock) -> None:
    dialog = english(app)
    dialog.press("ics:2")
    _, first, _ = calendar_of(dialog)
    clock.advance(timedelta(hours=3))
    dialog.press("ics:2")
    _, second, _ = calendar_of(dialog)
    assert first["UID"] == second["UID"] == "event-2@engagebot.example.org"
    assert second.decoded("DTSTAMP") - first.decoded("DTSTAMP") == timedelta(hours=3)


def test_local_time_across_the_change_from_summer_time(app: App, clock: FakeClock) -> None:
    # Summer time in Berlin ends on Sunday 2026-10-25: 18:00 is 16:00 UTC before, 17:00 after.
    ids = []
    with session_scope(app.engine) as session:
        for start in (
            datetime(2026, 10, 24, 16, tzinfo=UTC),
            datetime(2026, 10, 26, 17, tzinfo=UTC),
        ):
            event = Event(
                organisation_id=1,
                title="Abendtreff",
                starts_at=start,
                ends_at=start + timedelta(hours=2),
                created_at=clock.now(),
                updated_at=clock.now(),
            )
            session.add(event)
            session.flush()
            ids.append(event.id)
    dialog = english(app)
    seen = []
    for event_id in ids:
        dialog.press(f"ics:{event_id}")
        _, entry, calendar = calendar_of(dialog)
        start = entry.decoded("DTSTART")
        assert entry["DTSTART"].params["TZID"] == "Europe/Berlin"
        assert (start.hour, start.minute) == (18, 0)
        assert entry.decoded("DTEND").hour == 20
        assert calendar.walk("VTIMEZONE"), "the file carries its time zone rules"
        seen.append(start.astimezone(UTC).hour)
    assert seen == [16, 17]


def test_summary_and_description_in_the_readers_language(app: App) -> None:
    dialog = Dialog(app.conversation, user="bernd")
    dialog.onboard("de")
    dialog.press("ics:1")
    _, entry, _ = calendar_of(dialog)
    assert str(entry["SUMMARY"]) == "Demokratie-Café in der Königstraße"
    de = app.translations.get("de")
    assert de._("Organised by: %(name)s", name="X").replace("X", "") in str(entry["DESCRIPTION"])
    ukrainian = Dialog(app.conversation, user="olena")
    ukrainian.onboard("uk")
    ukrainian.press("ics:1")
    _, entry, _ = calendar_of(ukrainian)
    assert str(entry["SUMMARY"]) == "Кафе демократії на вулиці Königstraße"


@pytest.fixture
def telegram_app(database_url: str, clock: FakeClock) -> Iterator[App]:
    application = App(
        make_settings(
            database_url, telegram_bot_username="EngagebotKLBot", calendar_domain="kl.example"
        ),
        clock=clock,
    )
    yield application
    application.close()


def test_a_telegram_user_gets_a_link_back_to_the_event(telegram_app: App) -> None:
    dialog = Dialog(telegram_app.conversation, user="4242", transport="telegram")
    dialog.onboard("en")
    dialog.press("ics:3")
    _, entry, _ = calendar_of(dialog)
    assert str(entry["URL"]) == "https://t.me/EngagebotKLBot?start=e_3"
    assert "Open it in the chat: https://t.me/EngagebotKLBot?start=e_3" in str(entry["DESCRIPTION"])
    assert entry["UID"] == "event-3@kl.example"


def test_going_offers_the_calendar_right_away(app: App) -> None:
    dialog = english(app)
    dialog.press("go:1")
    [confirmation] = dialog.last
    assert [b.action for b in confirmation.flat_buttons()] == ["nogo:1", "ics:1", "events", "menu"]


def test_a_cancelled_event_says_so_and_a_missing_one_is_gone(app: App) -> None:
    with session_scope(app.engine) as session:
        session.get(Event, 4).status = ItemStatus.CANCELLED
    dialog = english(app)
    dialog.press("ics:4")
    _, entry, _ = calendar_of(dialog)
    assert entry["STATUS"] == "CANCELLED"
    dialog.press("ics:999")
    assert "no longer available" in dialog.text
