"""Read a date and time the way coordinators type them: "12.12. 18:00", "morgen 17 Uhr",
"Fr 18:30", "tomorrow 6pm", "2026-12-12 18:00". Local time in the city's zone; None when unsure.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta, tzinfo

_RELATIVE_DAYS = {
    0: ("heute", "today", "сьогодні", "сегодня", "bugün", "bugun"),
    1: ("morgen", "tomorrow", "завтра", "yarın", "yarin"),
    2: ("übermorgen", "uebermorgen", "day after tomorrow", "післязавтра", "послезавтра"),
}
_WEEKDAYS = (
    ("mo", "mon", "montag", "monday"),
    ("di", "tue", "tues", "dienstag", "tuesday"),
    ("mi", "wed", "mittwoch", "wednesday"),
    ("do", "thu", "thur", "thurs", "donnerstag", "thursday"),
    ("fr", "fri", "freitag", "friday"),
    ("sa", "sat", "samstag", "sonnabend", "saturday"),
    ("so", "sun", "sonntag", "sunday"),
)
_FILLER = frozenset({"um", "at", "uhr", "в", "о", "o'clock", "-", ".", "on", "am"})
_DATE_DOTS = re.compile(r"\b(\d{1,2})\.(\d{1,2})\.?(\d{2}|\d{4})?(?!\d)")
_DATE_SLASH = re.compile(r"\b(\d{1,2})/(\d{1,2})(?:/(\d{2}|\d{4}))?\b")
_DATE_ISO = re.compile(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b")
_TIME_COLON = re.compile(r"\b(\d{1,2})[:h](\d{2})\s*(am|pm)?\b")
_TIME_HOUR = re.compile(r"\b(\d{1,2})\s*(uhr|h|am|pm|o'clock)\b")
_TIME_BARE = re.compile(r"^\s*(\d{1,2})\s*$")


def parse_local_datetime(text: str, *, now: datetime, tz: tzinfo) -> datetime | None:
    """Parse a typed date and time into an aware datetime in `tz`, or return None."""
    rest = " " + text.strip().lower().replace(",", " ") + " "
    today = now.astimezone(tz).date()
    day, rest = _take_day(rest, today)
    moment, rest = _take_time(rest)
    if day is None or moment is None or any(word not in _FILLER for word in rest.split()):
        return None
    local = datetime.combine(day, moment)
    # Attach the zone; a non-existent local time (spring forward) is moved forward by fold rules.
    return local.replace(tzinfo=tz)


def _take_day(rest: str, today: date) -> tuple[date | None, str]:
    for offset, words in sorted(_RELATIVE_DAYS.items(), reverse=True):
        for word in words:
            if f" {word} " in rest:
                return today + timedelta(days=offset), rest.replace(f" {word} ", " ", 1)
    if match := _DATE_ISO.search(rest):
        found = _safe_date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
        return found, rest.replace(match.group(0), " ", 1)
    for pattern in (_DATE_DOTS, _DATE_SLASH):
        if match := pattern.search(rest):
            day, month, year = int(match.group(1)), int(match.group(2)), match.group(3)
            if year is None:
                found = _safe_date(today.year, month, day)
                if found is not None and found < today:
                    found = _safe_date(today.year + 1, month, day)
            else:
                full_year = int(year) + (2000 if len(year) == 2 else 0)
                found = _safe_date(full_year, month, day)
            return found, rest.replace(match.group(0), " ", 1)
    for index, words in enumerate(_WEEKDAYS):
        for word in sorted(words, key=len, reverse=True):
            if re.search(rf"(?<!\w){re.escape(word)}\.?(?!\w)", rest):
                ahead = (index - today.weekday()) % 7
                rest = re.sub(rf"(?<!\w){re.escape(word)}\.?(?!\w)", " ", rest, count=1)
                return today + timedelta(days=ahead), rest
    return None, rest


def _take_time(rest: str) -> tuple[time | None, str]:
    if match := _TIME_COLON.search(rest):
        hour = _twelve_hour(int(match.group(1)), match.group(3))
        minute = int(match.group(2))
        return _safe_time(hour, minute), rest.replace(match.group(0), " ", 1)
    if match := _TIME_HOUR.search(rest):
        hour = _twelve_hour(int(match.group(1)), match.group(2))
        return _safe_time(hour, 0), rest.replace(match.group(0), " ", 1)
    if match := _TIME_BARE.search(rest.replace(" um ", " ").replace(" at ", " ")):
        return _safe_time(int(match.group(1)), 0), ""
    return None, rest


def _twelve_hour(hour: int, suffix: str | None) -> int:
    if suffix == "pm" and hour < 12:
        return hour + 12
    if suffix == "am" and hour == 12:
        return 0
    return hour


def _safe_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _safe_time(hour: int, minute: int) -> time | None:
    try:
        return time(hour, minute)
    except ValueError:
        return None
