from datetime import timedelta

import pytest
from sqlmodel import func, select

from bot.app import App
from bot.clock import FakeClock
from db.engine import session_scope
from db.models import Category, Event, Offer, OfferTranslation, Organisation

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
