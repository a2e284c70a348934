"""Offer and event texts in the reader's language, with a note where the original is shown."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from db.models import Event, EventTranslation, Offer, OfferTranslation
from db.queries import event_translation, offer_translation
from handlers.context import Context
from handlers.ui import language_in

# The fields a translation can carry, per kind of item, in the order a card shows them.
OFFER_FIELDS = ("title", "summary", "description", "schedule", "requirements", "contact")
EVENT_FIELDS = ("title", "summary", "description")
# E-mail addresses, web addresses and phone numbers read the same in every language.
_SAME_EVERYWHERE = re.compile(r"\S+@\S+|https?://\S+|www\.\S+|[+\d][\d /().-]{3,}")


@dataclass(frozen=True)
class Texts:
    title: str
    summary: str
    description: str
    schedule: str = ""
    requirements: str = ""
    contact: str = ""
    # The original's locale when some text below is shown in the original, not the reader's.
    untranslated_from: str | None = None
    # True when a translation exists but lacks some field the original has.
    partial: bool = False
    # True when the reader's text comes from a machine translation (reviewed by a person).
    machine: bool = False


def offer_texts(ctx: Context, offer: Offer) -> Texts:
    """Return an offer's texts in the reader's language, as far as they are translated."""
    assert offer.id is not None
    return _texts(
        ctx,
        offer,
        OFFER_FIELDS,
        lambda locale: offer_translation(ctx.session, offer_id=offer.id or 0, locale=locale),
    )


def event_texts(ctx: Context, event: Event) -> Texts:
    """Return an event's texts in the reader's language, as far as they are translated."""
    assert event.id is not None
    return _texts(
        ctx,
        event,
        EVENT_FIELDS,
        lambda locale: event_translation(ctx.session, event_id=event.id or 0, locale=locale),
    )


def _texts(
    ctx: Context,
    item: Offer | Event,
    fields: tuple[str, ...],
    translation: Callable[[str], OfferTranslation | EventTranslation | None],
) -> Texts:
    """Pick the reader's translation field by field; a field it lacks shows the original."""
    original = {name: getattr(item, name) or "" for name in fields}
    locale = ctx.t.locale
    if locale == item.locale:
        return Texts(**original)
    found = translation(locale)
    if found is None:
        missing = any(needs_translation(text) for text in original.values())
        return Texts(**original, untranslated_from=item.locale if missing else None)
    shown = {name: getattr(found, name) or original[name] for name in fields}
    missing = any(needs_translation(original[name]) and not getattr(found, name) for name in fields)
    return Texts(
        **shown,
        untranslated_from=item.locale if missing else None,
        partial=missing,
        machine=found.machine,
    )


def needs_translation(text: str) -> bool:
    """Tell whether a text has words in it, not only an e-mail address or phone number."""
    return any(char.isalpha() for char in _SAME_EVERYWHERE.sub("", text))


def untranslated_note(ctx: Context, texts: Texts) -> str | None:
    """Say in the reader's language that some text is in another language, or machine-made."""
    t = ctx.t
    notes = []
    if texts.untranslated_from is not None:
        notes.append(
            t._(
                "This text is not yet translated; it is shown in %(language)s.",
                language=language_in(texts.untranslated_from, t),
            )
            if not texts.partial
            else t._(
                "Parts of this text are not yet translated; they are shown in %(language)s.",
                language=language_in(texts.untranslated_from, t),
            )
        )
    if texts.machine:
        notes.append(t._("Machine-translated and checked by the organisation."))
    return " ".join(notes) or None


def originals_note(ctx: Context, locales: Iterable[str]) -> str | None:
    """Say under a list that titles without a translation are shown in their original language."""
    t = ctx.t
    others = sorted({code for code in locales if code != t.locale})
    if not others:
        return None
    return t._(
        "Titles not yet translated are shown in %(languages)s.",
        languages=t.join([language_in(code, t) for code in others]),
    )
