"""Offer and event texts in the reader's language, with a note where only the original exists."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from db.models import Event, EventTranslation, Offer, OfferTranslation
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
    return _texts(
        ctx,
        offer,
        lambda locale: offer_translation(ctx.session, offer_id=offer.id or 0, locale=locale),
    )


def event_texts(ctx: Context, event: Event) -> Texts:
    assert event.id is not None
    return _texts(
        ctx,
        event,
        lambda locale: event_translation(ctx.session, event_id=event.id or 0, locale=locale),
    )


def _texts(
    ctx: Context,
    item: Offer | Event,
    translation: Callable[[str], OfferTranslation | EventTranslation | None],
) -> Texts:
    """Pick the reader's translation, or the original marked with its language."""
    locale = ctx.t.locale
    if locale == item.locale:
        return Texts(item.title, item.summary, item.description, None)
    found = translation(locale)
    if found:
        return Texts(found.title, found.summary, found.description, None)
    return Texts(item.title, item.summary, item.description, item.locale)


def untranslated_note(ctx: Context, texts: Texts) -> str | None:
    """Say in the reader's language that the text below is in another language."""
    if texts.untranslated_from is None:
        return None
    return ctx.t._(
        "This text is not yet translated; it is shown in %(language)s.",
        language=language_in(texts.untranslated_from, ctx.t),
    )
