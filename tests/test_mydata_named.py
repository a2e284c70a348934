"""/mydata names what is stored (organisations, offers, events, topics, districts) in the
reader's language, explains each section in a sentence, and still attaches the complete JSON."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from bot.app import App
from bot.clock import FakeClock
from db.engine import session_scope
from db.models import Category, District, Event, Offer, Organisation, Role
from db.queries import event_translation, offer_translation
from tests.conftest import make_settings
from tests.dialog import Dialog
from tests.test_privacy import fill_every_table
from tests.test_search import speaker

pytestmark = pytest.mark.both_databases

LOCALES = ["de", "uk", "ar", "fa"]
ISOLATES = str.maketrans("", "", "\u2066\u2067\u2068\u2069\u200e\u200f")


@pytest.fixture
def admin_app(database_url: str, clock: FakeClock) -> Iterator[App]:
    application = App(make_settings(database_url, admin_ids="console:admin"), clock=clock)
    yield application
    application.close()


def plain(text: str) -> str:
    """Drop the direction marks and isolates RTL text gets, to compare the words."""
    return text.translate(ISOLATES)


def my_data(dialog: Dialog) -> tuple[str, dict]:
    dialog.say("/mydata")
    [reply] = dialog.last
    [attachment] = reply.attachments
    return reply.text.translate(ISOLATES), json.loads(attachment.content)


def names(app: App, locale: str) -> dict[str, str]:
    """What carla's rows refer to, by name in `locale` (the demo has them all translated or
    falls back to the original, as the cards do)."""
    with session_scope(app.engine) as session:
        role = session.exec(Role.__table__.select()).first()  # type: ignore[attr-defined]
        offer_text = offer_translation(session, offer_id=1, locale=locale)
        event_text = event_translation(session, event_id=1, locale=locale)
        category, district = session.get(Category, 1), session.get(District, 1)
        return {
            "topic": category.names.get(locale) or category.names["de"],
            "district": district.names.get(locale) or district.names["de"],
            "organisation": session.get(Organisation, role.organisation_id).name,
            "offer": offer_text.title if offer_text else session.get(Offer, 1).title,
            "event": event_text.title if event_text else session.get(Event, 1).title,
        }


@pytest.mark.parametrize("locale", LOCALES)
def test_mydata_names_each_thing_and_explains_each_section(admin_app: App, locale: str) -> None:
    t = admin_app.translations.get(locale)
    carla = fill_every_table(admin_app, admin_app.clock)
    carla.press(f"lang_set:{locale}")
    text, data = my_data(carla)
    expected = names(admin_app, locale)
    assert plain(t._("Topic: %(name)s", name=expected["topic"])) in text
    assert plain(t._("District: %(name)s", name=expected["district"])) in text
    coordinates = t._("You coordinate %(organisation)s.", organisation=expected["organisation"])
    assert plain(coordinates) in text
    assert expected["offer"] in text and expected["event"] in text
    for heading, why in [
        (
            "About you",
            "Your messenger ID, your language and your settings, so that I write to "
            "you as you chose.",
        ),
        (
            "What you follow",
            "So that I can tell you what is new in these topics, districts and organisations.",
        ),
        ("Events you signed up for", "So that I can remind you and keep your place."),
        (
            "Offers you asked to help with",
            "What you agreed to share with the organisation and the messages you exchanged, so "
            "that they can answer you. A closed request is deleted %(days)s days after it was "
            "closed.",
        ),
        ("Your roles", "So that you can publish and announce for these organisations."),
    ]:
        assert t.pgettext("data section", heading) in text
        assert plain(t._(why, **({"days": t.number(30)} if "%(days)s" in why else {}))) in text
    assert "_id" not in text and "{" not in text, "no bare ids, no JSON in the message"
    # The machine-readable copy keeps every table and gains the names its ids stand for.
    assert {row["target_name"] for row in data["subscriptions"]} == {
        expected["topic"],
        expected["district"],
    }
    assert [row["event_title"] for row in data["attendances"]] == [expected["event"]]
    assert [row["offer_title"] for row in data["help_requests"]] == [expected["offer"]]
    assert data["roles"][0]["organisation_name"] == expected["organisation"]
    assert data["user"]["external_id"] == "carla"


@pytest.mark.parametrize("locale", LOCALES)
def test_a_new_resident_sees_only_what_they_have(app: App, locale: str) -> None:
    t = app.translations.get(locale)
    text, data = my_data(speaker(app, locale))
    assert t.pgettext("data section", "About you") in text
    assert t.pgettext("data section", "Our conversation") in text
    assert t.pgettext("data section", "What you follow") not in text
    assert t.pgettext("data section", "Your roles") not in text
    assert (
        t._("The attached file holds all of it in full, in a form other programs can read.") in text
    )
    assert data["subscriptions"] == [] and data["user"]["locale"] == locale
