"""Translations of offers and events as coordinators keep them: per language, with their state."""

from __future__ import annotations

from sqlmodel import Session, select

from db.models import Event, EventTranslation, Offer, OfferTranslation

Item = Offer | Event
Translation = OfferTranslation | EventTranslation

# The texts a translation can carry, per kind of item ("o" offer, "e" event), in card order.
FIELDS: dict[str, tuple[str, ...]] = {
    "o": ("title", "summary", "description", "schedule", "requirements", "contact"),
    "e": ("title", "summary", "description"),
}


def kind_of(item: Item) -> str:
    return "o" if isinstance(item, Offer) else "e"


def translations_of(session: Session, *, item: Item) -> dict[str, Translation]:
    """Return every translation of an item, drafts and outdated ones too, by locale."""
    assert item.id is not None
    if isinstance(item, Offer):
        rows: list[Translation] = list(
            session.exec(select(OfferTranslation).where(OfferTranslation.offer_id == item.id))
        )
    else:
        rows = list(
            session.exec(select(EventTranslation).where(EventTranslation.event_id == item.id))
        )
    return {row.locale: row for row in rows}


def save_translation(
    session: Session,
    *,
    item: Item,
    locale: str,
    texts: dict[str, str],
    draft: bool,
    machine: bool,
) -> Translation:
    """Create or replace the translation of an item into `locale`; it is current from now on."""
    assert item.id is not None
    found = translations_of(session, item=item).get(locale)
    if found is None:
        found = (
            OfferTranslation(offer_id=item.id, locale=locale, title="")
            if isinstance(item, Offer)
            else EventTranslation(event_id=item.id, locale=locale, title="")
        )
        session.add(found)
    for name in FIELDS[kind_of(item)]:
        setattr(found, name, texts.get(name, ""))
    found.outdated = False
    found.draft = draft
    found.machine = machine
    session.flush()
    return found


def mark_outdated(session: Session, *, item: Item, field: str) -> list[str]:
    """After an edit of the original's `field`, mark its translations outdated.

    Return the locales of every translation that is outdated now, so the coordinator can be told
    which to update; readers see the original in those languages until then. A field that no
    translation carries (a place, a time) changes nothing.
    """
    if field not in FIELDS[kind_of(item)]:
        return []
    outdated = []
    for locale, translation in sorted(translations_of(session, item=item).items()):
        translation.outdated = True
        outdated.append(locale)
    session.flush()
    return outdated
