"""Offer and event texts in the reader's language, with a note where only the original exists."""

from __future__ import annotations

from dataclasses import dataclass

from db.models import Event, Offer
from db.queries import event_translation, offer_translation
from handlers.context import Context
from handlers.ui import language_in


@dataclass(frozen=True)
class Texts:
    title: str
    summary: str
    description: str
    untranslated_from: str | None  # the original's locale when no translation exists


def offer_texts(ctx: Context, offer: Offer) -> Texts:
    assert offer.id is not None
    locale = ctx.t.locale
    if locale != offer.locale:
        found = offer_translation(ctx.session, offer_id=offer.id, locale=locale)
        if found:
            return Texts(found.title, found.summary, found.description, None)
        return Texts(offer.title, offer.summary, offer.description, offer.locale)
    return Texts(offer.title, offer.summary, offer.description, None)


def event_texts(ctx: Context, event: Event) -> Texts:
    assert event.id is not None
    locale = ctx.t.locale
    if locale != event.locale:
        found = event_translation(ctx.session, event_id=event.id, locale=locale)
        if found:
            return Texts(found.title, found.summary, found.description, None)
        return Texts(event.title, event.summary, event.description, event.locale)
    return Texts(event.title, event.summary, event.description, None)


def untranslated_note(ctx: Context, texts: Texts) -> str | None:
    """Say in the reader's language that the text below is in another language."""
    if texts.untranslated_from is None:
        return None
    return ctx.t._(
        "This text is not yet translated; it is shown in %(language)s.",
        language=language_in(texts.untranslated_from, ctx.t),
    )
