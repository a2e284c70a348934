import json
import re
from datetime import timedelta

import pytest
from sqlmodel import func, select

from bot.app import App
from bot.clock import FakeClock
from db.demo import DEMO_FILE
from db.engine import session_scope
from db.models import (
    Category,
    Event,
    EventTranslation,
    Offer,
    OfferTranslation,
    Organisation,
)
from tests.dialog import Dialog

pytestmark = pytest.mark.both_databases


def _count(app: App, model) -> int:
    with session_scope(app.engine) as session:
        return session.exec(select(func.count()).select_from(model)).one()


def test_demo_city_has_what_the_press_release_names(app: App) -> None:
    with session_scope(app.engine) as session:
        names = " ".join(o.name for o in session.exec(select(Organisation)).all())
        events = session.exec(select(Event)).all()
        offer_categories = {o.category_id for o in session.exec(select(Offer)).all()}
    assert "ASZ" in names or "Arbeits- und sozialpädagogisches Zentrum" in names
    assert "Ehrenamtskoordination" in names
    assert "Stadtteilbüro Innenstadt-West" in names
    assert any(
        "Demokratie-Café" in e.title and "Königstraße" in e.place_name + e.address for e in events
    )
    assert _count(app, Offer) >= 12
    assert len(offer_categories) >= 8
    assert _count(app, Category) >= 8
    assert len(events) >= 6


def test_demo_events_are_upcoming_relative_to_the_clock(app: App, clock: FakeClock) -> None:
    with session_scope(app.engine) as session:
        starts = [e.starts_at for e in session.exec(select(Event)).all()]
    assert all(clock.now() < start < clock.now() + timedelta(days=60) for start in starts)


def test_loading_the_demo_twice_changes_nothing(app: App) -> None:
    before = (_count(app, Offer), _count(app, Event), _count(app, OfferTranslation))
    assert app.load_demo(only_if_empty=True) is None
    app.load_demo(only_if_empty=False)
    assert (_count(app, Offer), _count(app, Event), _count(app, OfferTranslation)) == before


LANGUAGES = ("en", "uk", "ru", "ar", "fa", "tr")
# Contacts are e-mail addresses in the demo: nothing in them to translate.
OFFER_TEXTS = ("title", "summary", "description", "schedule", "requirements")
EVENT_TEXTS = ("title", "summary", "description")


def _untranslated(originals, translations, key, fields) -> list[str]:
    by_item: dict[tuple[int, str], object] = {
        (getattr(row, key), row.locale): row for row in translations
    }
    gaps = []
    for item in originals:
        for locale in LANGUAGES:
            found = by_item.get((item.id, locale))
            for name in fields:
                if getattr(item, name) and not (found and getattr(found, name)):
                    gaps.append(f"{item.source_id} {locale} {name}")
    return gaps


def test_the_demo_city_is_complete_in_all_seven_languages(app: App) -> None:
    with session_scope(app.engine) as session:
        offers = session.exec(select(Offer)).all()
        events = session.exec(select(Event)).all()
        gaps = _untranslated(
            offers, session.exec(select(OfferTranslation)).all(), "offer_id", OFFER_TEXTS
        )
        gaps += _untranslated(
            events, session.exec(select(EventTranslation)).all(), "event_id", EVENT_TEXTS
        )
        for organisation in session.exec(select(Organisation)).all():
            gaps += [
                f"{organisation.slug} {locale} description"
                for locale in LANGUAGES
                if not organisation.descriptions.get(locale)
            ]
        assert any(o.requirements for o in offers), "some offers say what volunteers need"
        assert all(o.schedule for o in offers)
    assert gaps == []


def test_the_demo_city_speaks_to_germans_with_du() -> None:
    data = json.loads(DEMO_FILE.read_text(encoding="utf-8"))
    texts = [
        item.get(name, "")
        for item in data["offers"] + data["events"]
        for name in ("title", "summary", "description", "schedule", "requirements")
    ]
    # "Ihr sprecht" is the plural du; these forms are only ever the formal "Sie".
    formal = re.compile(r"\b(Ihnen|Ihre[nmrs]?|Sie (können|sind|haben|brauchen|helfen))\b")
    assert [text for text in texts if formal.search(text)] == []
    assert sum("du " in text.lower() or "dir" in text for text in texts) >= 10


def test_a_farsi_reader_gets_the_demo_offer_and_its_when_line_in_farsi(app: App) -> None:
    farsi = Dialog(app.conversation, user="dara")
    farsi.onboard("fa")
    farsi.press("o:1")
    assert "کتاب‌خوانی برای کودکان در دفتر محله" in farsi.text
    assert "هفته‌ای یک بار، یک ساعت، بعدازظهر" in farsi.text
    assert "گواهی عدم سوءپیشینهٔ تکمیلی" in farsi.text
    assert "ترجمه نشده" not in farsi.text
    russian = Dialog(app.conversation, user="ivan")
    russian.onboard("ru")
    russian.say("/events")
    assert "Кафе демократии" in " ".join(russian.labels)
    assert "языке оригинала" not in russian.text
