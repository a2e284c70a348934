from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from handlers.timeparse import parse_local_datetime

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)  # a Thursday


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("12.12. 18:00", datetime(2026, 12, 12, 18, 0)),
        ("12.12.2026 18:00", datetime(2026, 12, 12, 18, 0)),
        ("12.12.26, 18:30 Uhr", datetime(2026, 12, 12, 18, 30)),
        ("3.1. 10 Uhr", datetime(2027, 1, 3, 10, 0)),
        ("morgen 17 Uhr", datetime(2026, 11, 27, 17, 0)),
        ("Morgen um 17:15", datetime(2026, 11, 27, 17, 15)),
        ("übermorgen 9:00", datetime(2026, 11, 28, 9, 0)),
        ("heute 19 Uhr", datetime(2026, 11, 26, 19, 0)),
        ("tomorrow 6pm", datetime(2026, 11, 27, 18, 0)),
        ("tomorrow at 6:30 pm", datetime(2026, 11, 27, 18, 30)),
        ("Fr 18:00", datetime(2026, 11, 27, 18, 0)),
        ("Montag 10 Uhr", datetime(2026, 11, 30, 10, 0)),
        ("Do. 20:00", datetime(2026, 11, 26, 20, 0)),
        ("2026-12-24 16:00", datetime(2026, 12, 24, 16, 0)),
        ("24/12 16:00", datetime(2026, 12, 24, 16, 0)),
        ("завтра 18:00", datetime(2026, 11, 27, 18, 0)),
    ],
)
def test_dates_as_people_type_them(typed: str, expected: datetime) -> None:
    assert parse_local_datetime(typed, now=NOW, tz=BERLIN) == expected.replace(tzinfo=BERLIN)


@pytest.mark.parametrize(
    "typed",
    [
        "",
        "bald",
        "next week",
        "32.12. 18:00",
        "12.13. 18:00",
        "12.12.",
        "morgen",
        "25:00 morgen",
        "12.12. 18:61",
        "morgen 17 Uhr bis 19 Uhr irgendwann",
        "🙂",
    ],
)
def test_what_it_cannot_read_is_none(typed: str) -> None:
    assert parse_local_datetime(typed, now=NOW, tz=BERLIN) is None
