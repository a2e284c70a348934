"""Calendar files (RFC 5545) for events, built with the icalendar library."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import icalendar

from bot.config import Settings
from db.models import Event, ItemStatus

PRODUCT_ID = "-//engagebot//Engagierte Stadt//EN"
MIME_TYPE = "text/calendar"


@dataclass(frozen=True)
class CalendarTexts:
    """What a calendar entry says, already in the reader's language."""

    title: str
    description: str
    url: str | None = None


def event_uid(event_id: int, settings: Settings) -> str:
    """Return the UID of an event: the same in every file, so calendars update, not duplicate."""
    return f"event-{event_id}@{settings.calendar_domain}"


def event_calendar(
    event: Event, texts: CalendarTexts, *, settings: Settings, now: datetime
) -> bytes:
    """Return an iCalendar file with one event, its times in the city's time zone."""
    assert event.id is not None
    tz = settings.tz
    entry = icalendar.Event()
    entry.add("uid", event_uid(event.id, settings))
    entry.add("dtstamp", now.astimezone(UTC))
    if event.all_day:  # a whole day is a DATE value, with no time and no time zone
        entry.add("dtstart", event.starts_at.astimezone(tz).date())
        if event.ends_at is not None and event.ends_at > event.starts_at:
            entry.add("dtend", event.ends_at.astimezone(tz).date())
    else:
        entry.add("dtstart", event.starts_at.astimezone(tz))
        if event.ends_at is not None and event.ends_at > event.starts_at:
            entry.add("dtend", event.ends_at.astimezone(tz))
    entry.add("summary", texts.title)
    if texts.description:
        entry.add("description", texts.description)
    location = ", ".join(filter(None, [event.place_name, event.address]))
    if location:
        entry.add("location", location)
    if event.latitude is not None and event.longitude is not None:
        entry.add("geo", (event.latitude, event.longitude))
    if texts.url:
        entry.add("url", texts.url)
    entry.add("status", "CANCELLED" if event.status == ItemStatus.CANCELLED else "CONFIRMED")
    entry.add("last-modified", event.updated_at.astimezone(UTC))

    calendar = icalendar.Calendar()
    calendar.add("prodid", PRODUCT_ID)
    calendar.add("version", "2.0")
    calendar.add("method", "PUBLISH")
    calendar.add_component(entry)
    # Only the rules around the event, so the file stays small.
    first = event.starts_at.astimezone(tz).date() - timedelta(days=366)
    last = (event.ends_at or event.starts_at).astimezone(tz).date() + timedelta(days=366)
    calendar.add_missing_timezones(first_date=first, last_date=max(last, first + timedelta(1)))
    return calendar.to_ical()
