"""Offers that name no district (by phone, online, all over the city) are reachable by district."""

from __future__ import annotations

import pytest
from sqlmodel import col, select

from bot.app import App
from bot.i18n import RLM
from db.engine import session_scope
from db.models import ItemStatus, Offer
from tests.dialog import Dialog
from tests.test_search import speaker

pytestmark = pytest.mark.both_databases

LOCALES = ["de", "uk", "ar", "fa"]
# The demo's telephone language tandem (7) and telephone buddy (9) name no district.
WITHOUT_DISTRICT = {"o:7", "o:9"}


def plain(labels: list[str]) -> list[str]:
    return [label.removeprefix(RLM) for label in labels]


def number_of(dialog: Dialog, label: str) -> str:
    return str(plain(dialog.labels).index(label) + 1)


def test_the_demo_has_exactly_these_offers_without_a_district(app: App) -> None:
    with session_scope(app.engine) as session:
        ids = session.exec(
            select(Offer.id).where(
                col(Offer.district_id).is_(None), Offer.status == ItemStatus.PUBLISHED
            )
        ).all()
    assert {f"o:{i}" for i in ids} == WITHOUT_DISTRICT


@pytest.mark.parametrize("locale", LOCALES)
def test_citywide_or_online_is_an_entry_of_browse_by_district(app: App, locale: str) -> None:
    t = app.translations.get(locale)
    dialog = speaker(app, locale)
    dialog.say("/offers")
    dialog.say(number_of(dialog, t.pgettext("button", "📍 By district")))
    entry = t.pgettext("district button", "🌐 Citywide / online (%(count)s)", count=t.number(2))
    shown = plain(dialog.labels)
    assert entry in shown
    assert shown.index(entry) == shown.index(t.pgettext("button", "◀ Back")) - 1, "after them"
    dialog.say(number_of(dialog, entry))
    heading = t.ngettext(
        "%(count)s volunteer offer citywide or online.",
        "%(count)s volunteer offers citywide or online.",
        2,
    )
    assert heading in dialog.text
    offers = {b.action for r in dialog.last for b in r.flat_buttons() if b.action.startswith("o:")}
    assert offers == WITHOUT_DISTRICT
    # "Citywide" is no district one can follow.
    assert not any(b.action.startswith(("fol:", "unf:")) for b in dialog.last[0].flat_buttons())
    dialog.say("1")  # the first of them opens
    assert dialog.last[0].text.removeprefix(RLM).startswith("🤝")
    dialog.press("od:0:0")
    dialog.say(number_of(dialog, t.pgettext("button", "◀ Districts")))
    assert t._("Choose a district:") in dialog.text


def test_without_such_offers_there_is_no_citywide_entry(app: App) -> None:
    with session_scope(app.engine) as session:
        for offer in session.exec(select(Offer).where(col(Offer.district_id).is_(None))):
            offer.status = ItemStatus.CANCELLED
    dialog = speaker(app, "ar")
    dialog.press("odists")
    assert not any(b.action == "od:0:0" for b in dialog.last[0].flat_buttons())
    dialog.press("od:0:0")
    t = app.translations.get("ar")
    assert t._("There are no offers here yet.") in dialog.text
