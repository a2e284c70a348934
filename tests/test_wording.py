"""Dialog tests of wording: lists in the reader's language, sentences from the settings' values."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from bot.app import App
from bot.catalogs import read_catalog
from bot.clock import FakeClock
from bot.config import PROJECT_ROOT
from bot.scheduler import Jobs
from db.engine import session_scope
from db.models import Event, OutboxMessage
from handlers.subscriptions import next_digest
from tests.conftest import make_settings
from tests.dialog import Dialog

FSI, PDI = "\u2068", "\u2069"

GOING_WITH_TWO_LEADS = {
    "de": "Ich erinnere dich 2-mal: 1 Tag und 2 Stunden vor Beginn.",
    "uk": "Я нагадаю 2 рази: за 1 день і 2 години до початку.",
    "ar": f"سأذكّرك {FSI}2{PDI} مرات: قبل البدء بـ {FSI}يوم وساعتان{PDI}.",
    "fa": f"{FSI}2{PDI} بار به شما یادآوری می\u200cکنم: {FSI}1 روز و 2 ساعت{PDI} قبل از شروع.",
}


def _app(db_path: Path, clock: FakeClock, **settings: object) -> Iterator[App]:
    application = App(make_settings(db_path, **settings), clock=clock)
    yield application
    application.close()


@pytest.fixture
def three_leads(db_path: Path, clock: FakeClock) -> Iterator[App]:
    yield from _app(db_path, clock, reminder_leads="1d,2h,30m")


@pytest.fixture
def one_lead(db_path: Path, clock: FakeClock) -> Iterator[App]:
    yield from _app(db_path, clock, reminder_leads="2h")


def _going(app: App, locale: str) -> str:
    dialog = Dialog(app.conversation, user=f"reader-{locale}")
    dialog.onboard(locale)
    dialog.press("go:1")
    return dialog.last[0].text


@pytest.mark.parametrize("locale", sorted(GOING_WITH_TWO_LEADS))
def test_two_reminders_are_said_as_two(app: App, locale: str) -> None:
    text = _going(app, locale)
    assert GOING_WITH_TWO_LEADS[locale] in text
    assert ", " not in text.split("!")[-1]


@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        ("de", "Ich erinnere dich 3-mal: 1 Tag, 2 Stunden und 30 Minuten vor Beginn."),
        ("uk", "Я нагадаю 3 рази: за 1 день, 2 години і 30 хвилин до початку."),
        ("ar", f"سأذكّرك {FSI}3{PDI} مرات: قبل البدء بـ {FSI}يوم وساعتان و30 دقيقة{PDI}."),
        ("fa", f"{FSI}1 روز،\u200f 2 ساعت، و 30 دقیقه{PDI} قبل از شروع."),
    ],
)
def test_three_reminders_are_a_list_in_the_readers_language(
    three_leads: App, locale: str, expected: str
) -> None:
    text = _going(three_leads, locale)
    assert expected in text
    if locale in ("ar", "fa"):
        # Lists in Arabic script are joined by "و" and the Arabic comma, never the ASCII one.
        assert "," not in text


@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        ("de", "Ich erinnere dich 2 Stunden vorher."),
        ("uk", "2 години"),
        ("ar", "ساعتان"),
        ("fa", "2 ساعت"),
    ],
)
def test_one_reminder_is_said_without_a_count(one_lead: App, locale: str, expected: str) -> None:
    text = _going(one_lead, locale)
    assert expected in text
    assert "2-mal" not in text and "مرة" not in text


@pytest.fixture
def wednesday_digest(db_path: Path, clock: FakeClock) -> Iterator[App]:
    yield from _app(db_path, clock, digest_weekday="wed", digest_time="18:30")


@pytest.mark.parametrize(
    ("locale", "weekday", "clock_time"),
    [
        ("de", "Mittwoch", "18:30"),
        ("uk", "середа", "18:30"),
        ("ar", "الأربعاء", "6:30"),
        ("fa", "چهارشنبه", "18:30"),
    ],
)
def test_the_weekly_summary_is_announced_for_its_configured_day_and_time(
    wednesday_digest: App, locale: str, weekday: str, clock_time: str
) -> None:
    dialog = Dialog(wednesday_digest.conversation, user=f"reader-{locale}")
    dialog.onboard(locale)
    dialog.say("/subscriptions")
    assert weekday in dialog.text
    assert clock_time in dialog.text
    for monday in ("Montag", "понеділок", "الاثنين", "دوشنبه"):
        assert monday not in dialog.text


@pytest.fixture
def short_retention(db_path: Path, clock: FakeClock) -> Iterator[App]:
    yield from _app(db_path, clock, retention_inactive_days=180, retention_notice_days=10)


@pytest.mark.parametrize(
    ("locale", "period", "when"),
    [
        ("de", "6 Monate", "in 1 Woche"),
        ("uk", "6 місяців", "через 1 тиждень"),
        ("ar", "6 أشهر", "خلال أسبوع"),
        ("fa", "6 ماه", "1 هفته بعد"),
    ],
)
def test_the_retention_notice_names_the_configured_periods(
    short_retention: App, clock: FakeClock, locale: str, period: str, when: str
) -> None:
    Dialog(short_retention.conversation, user="silent").onboard(locale)
    jobs = Jobs(
        conversation=short_retention.conversation, settings=short_retention.settings, clock=clock
    )
    clock.advance(timedelta(days=180 - 10 + 3))
    assert jobs.retention()["warned"] == 1
    with session_scope(short_retention.engine) as session:
        row_id = session.exec(
            select(OutboxMessage.id).where(OutboxMessage.kind == "retention_notice")
        ).one()
    notice = short_retention.conversation.render_notice(row_id)
    assert notice is not None
    text = notice.replies[0].text
    assert period in text and when in text
    assert "year" not in text and "Jahr" not in text and "рік" not in text


def _end_event_one_at(app: App, hours: int) -> None:
    with session_scope(app.engine) as session:
        event = session.get(Event, 1)
        assert event is not None
        event.starts_at = datetime(2026, 12, 4, 17, 0, tzinfo=UTC)  # 18:00 in Berlin
        event.ends_at = event.starts_at + timedelta(hours=hours)
        session.add(event)


@pytest.mark.parametrize(
    ("locale", "until"),
    [
        ("de", "Bis: Samstag, 5. Dezember"),
        ("uk", "До: субота, 5 грудня"),
        ("ar", f"حتى: {FSI}السبت، 5 ديسمبر"),
        ("fa", f"تا: {FSI}شنبه 5 دسامبر"),
    ],
)
def test_an_end_on_another_day_shows_its_date(app: App, locale: str, until: str) -> None:
    _end_event_one_at(app, 8)  # 02:00 the next night
    dialog = Dialog(app.conversation, user=f"reader-{locale}")
    dialog.onboard(locale)
    dialog.press("e:1")
    assert until in dialog.text
    assert "02:00" in dialog.text or "2:00" in dialog.text


@pytest.mark.parametrize(
    ("locale", "until"),
    [
        ("de", "Bis: 21:00"),
        ("uk", "До: 21:00"),
        ("ar", f"حتى: {FSI}9:00 م{PDI}"),
        ("fa", f"تا: {FSI}21:00{PDI}"),
    ],
)
def test_an_end_on_the_same_day_shows_only_its_time(app: App, locale: str, until: str) -> None:
    _end_event_one_at(app, 3)
    dialog = Dialog(app.conversation, user=f"reader-{locale}")
    dialog.onboard(locale)
    dialog.press("e:1")
    lines = [line.lstrip("\u200f") for line in dialog.text.split("\n")]
    assert until in lines, "the end's line holds its time and nothing else"


# Formal address in German: "Ihnen"/"Ihr-" as possessive, "Sie" inside a sentence (the
# third-person "sie" is lower case there), and "Sie" opening a sentence with a plural verb.
FORMAL = re.compile(
    r"\bIhnen\b|\bIhre[nmrs]?\b|(?<![.!?„\"]\s)(?<!^)(?<!\n)\bSie\b|(?:^|[.!?]\s)Sie \w+e?n\b"
)


def _german_demo_texts() -> Iterator[str]:
    city = json.loads((PROJECT_ROOT / "db" / "demo" / "kaiserslautern.json").read_text("utf-8"))
    for section in ("organisations", "offers", "events"):
        for item in city[section]:
            for value in item.values():
                if isinstance(value, str):
                    yield value


def test_the_formal_address_check_finds_it() -> None:
    assert FORMAL.search("Sie lesen Kindern vor.")
    assert FORMAL.search("Bitte bringen Sie Sportkleidung mit.")
    assert FORMAL.search("Gießkannen bekommen Sie hier. Ihr Baum wächst.") is not None
    assert FORMAL.search("Die Stelle ist offen. Sie berät Interessierte.") is None
    assert FORMAL.search("Du liest vor. Ihr sprecht über Hobbys.") is None


def test_the_german_demo_city_says_du() -> None:
    formal = [text for text in _german_demo_texts() if FORMAL.search(text)]
    assert formal == []


def test_the_german_catalog_says_du() -> None:
    catalog = read_catalog("de")
    formal = [
        string
        for message in catalog
        if message.id
        for string in (message.string if isinstance(message.string, tuple) else (message.string,))
        if FORMAL.search(string)
    ]
    assert formal == []


@pytest.mark.parametrize(
    ("locale", "joined"),
    [
        ("de", "Deutsch, English und العربية"),
        ("uk", "Deutsch, English і العربية"),
        ("ar", "Deutsch وEnglish والعربية"),
        ("fa", "Deutsch،\u200f English، و العربية"),
    ],
)
def test_lists_shown_to_coordinators_are_joined_in_their_language(
    app: App, locale: str, joined: str
) -> None:
    # The announcement preview's languages and the coordinator's organisations use this.
    assert app.translations.get(locale).join(["Deutsch", "English", "العربية"]) == joined


@pytest.mark.parametrize(
    ("weekday", "at", "expected"),
    [
        ("thu", "18:00", datetime(2026, 11, 26, 17, 0, tzinfo=UTC)),  # later today
        ("thu", "10:00", datetime(2026, 12, 3, 9, 0, tzinfo=UTC)),  # this very minute: next week
        ("thu", "09:00", datetime(2026, 12, 3, 8, 0, tzinfo=UTC)),  # passed today: next week
        ("mon", "09:00", datetime(2026, 11, 30, 8, 0, tzinfo=UTC)),
    ],
)
def test_the_next_summary_follows_the_configured_weekday_and_time(
    db_path: Path, weekday: str, at: str, expected: datetime
) -> None:
    settings = make_settings(db_path, digest_weekday=weekday, digest_time=at)
    now = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)  # a Thursday, 10:00 in Berlin
    assert next_digest(settings, now) == expected
