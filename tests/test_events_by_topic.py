"""Browsing upcoming events by topic, as offers are browsed by topic."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from bot.app import App
from bot.clock import FakeClock
from bot.i18n import RLM
from db.engine import session_scope
from db.models import Category, Event
from tests.dialog import Dialog
from tests.test_search import speaker

pytestmark = pytest.mark.both_databases

LOCALES = ["de", "uk", "ar", "fa"]
# Demo events of the topic "environment": the Repair café (4) and the clean-up day (5).
ENVIRONMENT_EVENTS = {"e:4", "e:5"}


def plain(labels: list[str]) -> list[str]:
    return [label.removeprefix(RLM) for label in labels]


def number_of(dialog: Dialog, label: str) -> str:
    return str(plain(dialog.labels).index(label) + 1)


def topic(app: App, slug: str) -> Category:
    with session_scope(app.engine) as session:
        category = session.exec(select(Category).where(Category.slug == slug)).one()
        session.expunge(category)
        return category


@pytest.mark.parametrize("locale", LOCALES)
def test_events_by_topic_by_typed_numbers(app: App, locale: str) -> None:
    t = app.translations.get(locale)
    environment = topic(app, "environment")
    name = environment.names[locale]
    dialog = speaker(app, locale)
    dialog.say("/events")
    dialog.say(number_of(dialog, t.pgettext("button", "🏷 By topic")))
    assert t._("Choose a topic:") in dialog.text
    button = t.pgettext(
        "topic button",
        "%(emoji)s %(topic)s (%(count)s)",
        emoji=environment.emoji,
        topic=name,
        count=t.number(2),
    )
    assert button in plain(dialog.labels)
    # Only topics with upcoming events are listed: integration has offers, but no event.
    assert topic(app, "integration").names[locale] not in "".join(dialog.labels)
    dialog.say(number_of(dialog, button))
    heading = t.ngettext(
        "%(count)s upcoming event in the topic %(topic)s.",
        "%(count)s upcoming events in the topic %(topic)s.",
        2,
        topic=name,
    )
    assert heading in dialog.text
    shown = {b.action for r in dialog.last for b in r.flat_buttons() if b.action.startswith("e:")}
    assert shown == ENVIRONMENT_EVENTS
    dialog.say(number_of(dialog, t.pgettext("button", "🔔 Follow")))
    assert name in dialog.text
    dialog.press(f"ec:{environment.id}:0")
    assert t.pgettext("button", "🔕 Unfollow") in plain(dialog.labels)
    dialog.say(number_of(dialog, t.pgettext("button", "◀ Topics")))
    assert t._("Choose a topic:") in dialog.text
    dialog.say(number_of(dialog, t.pgettext("button", "◀ All events")))
    assert t.pgettext("button", "🏷 By topic") in plain(dialog.labels)


@pytest.mark.parametrize("locale", LOCALES)
def test_a_topic_whose_events_are_over_says_so(app: App, clock: FakeClock, locale: str) -> None:
    t = app.translations.get(locale)
    environment = topic(app, "environment")
    with session_scope(app.engine) as session:
        events = [session.get(Event, 4), session.get(Event, 5)]
        assert {e.category_id for e in events} == {environment.id}
        last = max(e.ends_at or e.starts_at for e in events)
    clock.set(last + timedelta(minutes=1))
    dialog = speaker(app, locale)
    dialog.press(f"ec:{environment.id}:0")
    assert t._("There are no upcoming events in this topic right now.") in dialog.text
    dialog.press("ecats")
    assert environment.names[locale] not in "".join(dialog.labels)
    dialog.press("ec:99999:0")
    assert len(dialog.last) == 1, "a topic that no longer exists is answered once"
