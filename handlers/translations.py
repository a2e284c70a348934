"""Coordinators translate their offers and events in the chat, language by language.

From an item's manage menu: the list of languages with the state of each translation, then one
question per text (title, summary, description, when, what volunteers need, contact), showing
the original and what the translation says now. Editing the original marks its translations
outdated (readers see the original, with a note, until they are updated). Where the operator
configured a machine-translation service, one button makes drafts of the missing ones; a
coordinator checks each before readers see it, and readers are told it was machine-made.
"""

from __future__ import annotations

import logging
import re

from bot.config import SUPPORTED_LOCALES
from bot.i18n import language_name
from bot.machine_translation import MachineTranslationError, machine_translator
from bot.messages import Button, Reply
from db.models import Event, Offer
from db.roles import audit
from db.translations import FIELDS, Item, Translation, save_translation, translations_of
from handlers.actions import BadAction, action, parse_action
from handlers.content import needs_translation
from handlers.context import Context
from handlers.roles import acts_for
from handlers.router import router
from handlers.ui import language_in, too_long, too_short

log = logging.getLogger(__name__)

FLOW = "translate"
LIMITS = {
    "title": 200,
    "summary": 500,
    "description": 4000,
    "schedule": 300,
    "requirements": 1000,
    "contact": 300,
}
TITLE_MINIMUM = 3
_NUMBER = re.compile(r"^\s*(\d{1,2})\s*[.)]?\s*$")


def _item(ctx: Context, kind: str, item_id: int) -> Item | None:
    """The coordinator's own offer or event, or None (not theirs, or gone)."""
    model = {"o": Offer, "e": Event}.get(kind)
    item = ctx.session.get(model, item_id) if model else None
    if item is None or not acts_for(ctx, item.organisation_id):
        return None
    return item


def _not_allowed(ctx: Context) -> list[Reply]:
    from handlers.coordinator import not_allowed

    return not_allowed(ctx)


def translations_button(ctx: Context, kind: str, item_id: int) -> Button:
    """The manage menu's way into an item's translations."""
    return Button(ctx.t.pgettext("button", "🌐 Translations"), action("tr", kind, item_id))


def _status(ctx: Context, translation: Translation | None) -> str:
    t = ctx.t
    if translation is None:
        return t.pgettext("translation status", "missing")
    if translation.outdated:
        return t.pgettext("translation status", "outdated, readers see the original")
    if translation.draft:
        return t.pgettext("translation status", "machine draft, not yet checked")
    if translation.machine:
        return t.pgettext("translation status", "machine-translated, checked")
    return t.pgettext("translation status", "up to date")


def _missing(item: Item, existing: dict[str, Translation]) -> list[str]:
    """The languages an item has no translation in at all (outdated ones are a person's work)."""
    return [code for code in SUPPORTED_LOCALES if code != item.locale and code not in existing]


@router.on_action("tr", str, int)
def translations_menu(ctx: Context, kind: str, item_id: int) -> list[Reply]:
    """List the item's languages with the state of each, and offer to write one."""
    item = _item(ctx, kind, item_id)
    if item is None:
        return _not_allowed(ctx) if kind in FIELDS else router.call(ctx, "stale")
    ctx.end_flow()
    t = ctx.t
    existing = translations_of(ctx.session, item=item)
    lines = [
        t._(
            "Translations of %(title)s. The original is in %(language)s.",
            title=item.title,
            language=language_in(item.locale, t),
        )
    ]
    others = [code for code in SUPPORTED_LOCALES if code != item.locale]
    for code in others:
        lines.append(
            t.pgettext(
                "translation line",
                "%(language)s: %(status)s",
                language=language_name(code),
                status=_status(ctx, existing.get(code)),
            )
        )
    lines.append(t._("Choose a language to write or update its translation."))
    buttons = [
        Button(language_name(code), action("tr_lang", kind, item_id, code)) for code in others
    ]
    rows: list[tuple[Button, ...]] = [tuple(buttons[i : i + 2]) for i in range(0, len(buttons), 2)]
    service = machine_translator(ctx.settings)
    if service is not None and _missing(item, existing):
        label = t.pgettext("button", "🤖 Machine drafts of the missing ones")
        rows.append((Button(label, action("tr_mt", kind, item_id)),))
    rows.append((Button(t.pgettext("button", "◀ Back"), action("item", kind, item_id)),))
    return [Reply("\n".join(lines), buttons=tuple(rows))]


def _fields(item: Item) -> list[str]:
    """The texts of the original that need a translation (not an e-mail address alone)."""
    return [name for name in FIELDS["o" if isinstance(item, Offer) else "e"] if _wants(item, name)]


def _wants(item: Item, name: str) -> bool:
    return needs_translation(getattr(item, name) or "")


@router.on_action("tr_lang", str, int, str)
def translate_into(ctx: Context, kind: str, item_id: int, locale: str) -> list[Reply]:
    """Start writing (or checking) the translation into one language, text by text."""
    item = _item(ctx, kind, item_id)
    if item is None:
        return _not_allowed(ctx) if kind in FIELDS else router.call(ctx, "stale")
    if locale not in SUPPORTED_LOCALES or locale == item.locale:
        return router.call(ctx, "stale")
    if not _fields(item):  # nothing in words to translate (a title of digits only)
        return translations_menu(ctx, kind, item_id)
    ctx.start_flow(FLOW, "text", kind=kind, id=item_id, locale=locale, index=0, values={})
    return _ask(ctx, item)


def _ask(ctx: Context, item: Item) -> list[Reply]:
    """Ask for the translation of the current text, showing the original and the current one."""
    t = ctx.t
    data = ctx.flow_data
    fields = _fields(item)
    name = _field_now(ctx, item)
    if name is None:  # the original lost texts since (another coordinator edited it)
        return _save(ctx, item, data.get("values", {}), kept=data.get("kept", False))
    language = language_in(data["locale"], t)
    questions = {
        "title": t._("Please write the title in %(language)s.", language=language),
        "summary": t._("Please write the short summary in %(language)s.", language=language),
        "description": t._("Please write the description in %(language)s.", language=language),
        "schedule": t._(
            "Please write in %(language)s when and how often it takes place.", language=language
        ),
        "requirements": t._(
            "Please write in %(language)s what volunteers need.", language=language
        ),
        "contact": t._("Please write the contact note in %(language)s.", language=language),
    }
    lines = [
        t._(
            "Step %(number)s of %(count)s.",
            number=t.number(data["index"] + 1),
            count=t.number(len(fields)),
        ),
        questions[name],
        t._("Original (%(language)s):", language=language_in(item.locale, t))
        + "\n"
        + t.isolate(getattr(item, name)),
    ]
    current = _current(ctx, item, name)
    if current:
        existing = translations_of(ctx.session, item=item).get(data["locale"])
        heading = (
            t._("Machine draft:")
            if existing is not None and existing.machine and existing.draft
            else t._("The translation now says:")
        )
        lines.append(heading + "\n" + t.isolate(current))
    rows: list[tuple[Button, ...]] = []
    if current:
        rows.append((Button(t.pgettext("button", "✅ Keep this"), action("tr_keep")),))
    if name != "title":
        rows.append(
            (Button(t.pgettext("button", "⏭ Leave out, show the original"), action("tr_skip")),)
        )
    rows.append((Button(t.pgettext("button", "✖ Stop"), action("tr_stop")),))
    return [Reply("\n\n".join(lines), buttons=tuple(rows))]


def _field_now(ctx: Context, item: Item) -> str | None:
    """The text the flow asks for now, or None when it is past the last one."""
    fields = _fields(item)
    index = ctx.flow_data.get("index", 0)
    return fields[index] if isinstance(index, int) and 0 <= index < len(fields) else None


def _current(ctx: Context, item: Item, name: str) -> str:
    existing = translations_of(ctx.session, item=item).get(ctx.flow_data.get("locale", ""))
    return (getattr(existing, name) or "") if existing is not None else ""


def _flow_item(ctx: Context) -> Item | None:
    data = ctx.flow_data
    if ctx.state.flow != FLOW:
        return None
    return _item(ctx, data.get("kind", ""), data.get("id", 0))


@router.on_text(FLOW, free_text=True)
def translation_text(ctx: Context, text: str) -> list[Reply]:
    """Take the typed translation of the current text, or ask again when it does not fit."""
    item = _flow_item(ctx)
    if item is None:
        ctx.end_flow()
        return _not_allowed(ctx)
    number = _NUMBER.match(text)
    if number and 1 <= int(number.group(1)) <= len(ctx.state.menu):
        # On messengers without buttons a typed number presses one (Keep, Leave out, Stop).
        try:
            parsed = parse_action(ctx.state.menu[int(number.group(1)) - 1], router.shapes)
        except BadAction:
            parsed = None
        if parsed is not None:
            return router.call(ctx, parsed.name, *parsed.args)
    name = _field_now(ctx, item)
    if name is None:
        return _ask(ctx, item)
    text = text.strip()
    if len(text) > LIMITS[name]:
        return [Reply(too_long(ctx.t, LIMITS[name])), *_ask(ctx, item)]
    if name == "title" and len(text) < TITLE_MINIMUM:
        return [Reply(too_short(ctx.t, TITLE_MINIMUM)), *_ask(ctx, item)]
    return _next(ctx, item, name, text, typed=True)


@router.on_action("tr_keep")
def keep_text(ctx: Context) -> list[Reply]:
    """Keep what the translation says for this text."""
    item = _flow_item(ctx)
    if item is None:
        return router.call(ctx, "stale")
    name = _field_now(ctx, item)
    current = _current(ctx, item, name) if name else ""
    if not current or name is None:
        return router.call(ctx, "stale")
    return _next(ctx, item, name, current, typed=False)


@router.on_action("tr_skip")
def skip_text(ctx: Context) -> list[Reply]:
    """Leave this text untranslated: readers see the original's."""
    item = _flow_item(ctx)
    if item is None:
        return router.call(ctx, "stale")
    name = _field_now(ctx, item)
    if name is None or name == "title":
        return router.call(ctx, "stale")
    return _next(ctx, item, name, "", typed=True)


@router.on_action("tr_stop")
def stop_translating(ctx: Context) -> list[Reply]:
    """Stop without saving; the translation stays as it was."""
    data = ctx.flow_data
    if ctx.state.flow != FLOW:
        return router.call(ctx, "stale")
    ctx.end_flow()
    nothing = Reply(ctx.t._("Nothing was changed."))
    return [nothing, *translations_menu(ctx, data.get("kind", ""), data.get("id", 0))]


def _next(ctx: Context, item: Item, name: str, value: str, *, typed: bool) -> list[Reply]:
    data = ctx.flow_data
    values = {**data.get("values", {}), name: value}
    # A machine draft stays labelled machine-made unless every text was typed by a person.
    kept = data.get("kept", False) or not typed
    fields = _fields(item)
    if data["index"] + 1 < len(fields):
        ctx.save_flow({**data, "values": values, "kept": kept, "index": data["index"] + 1}, "text")
        return _ask(ctx, item)
    return _save(ctx, item, values, kept=kept)


def _save(ctx: Context, item: Item, values: dict[str, str], *, kept: bool) -> list[Reply]:
    t = ctx.t
    data = ctx.flow_data
    locale = data["locale"]
    existing = translations_of(ctx.session, item=item).get(locale)
    machine = existing is not None and existing.machine and kept
    save_translation(
        ctx.session, item=item, locale=locale, texts=values, draft=False, machine=machine
    )
    audit(
        ctx.session,
        actor=ctx.user,
        action="translation_saved",
        detail={"kind": data["kind"], "id": item.id, "locale": locale, "machine": machine},
        now=ctx.now,
    )
    ctx.end_flow()
    done = t._(
        "Saved: the translation into %(language)s. Readers who use %(language)s see it now.",
        language=language_in(locale, t),
    )
    return [Reply(done), *translations_menu(ctx, data["kind"], item.id or 0)]


@router.on_action("tr_mt", str, int)
def machine_drafts(ctx: Context, kind: str, item_id: int) -> list[Reply]:
    """Let the configured service draft every missing or outdated translation, unpublished."""
    item = _item(ctx, kind, item_id)
    if item is None:
        return _not_allowed(ctx) if kind in FIELDS else router.call(ctx, "stale")
    service = machine_translator(ctx.settings)
    if service is None:
        return router.call(ctx, "stale")
    t = ctx.t
    fields = _fields(item)
    originals = [getattr(item, name) for name in fields]
    made, failed = [], []
    for locale in _missing(item, translations_of(ctx.session, item=item)):
        try:
            texts = service.translate(originals, source=item.locale, target=locale)
        except MachineTranslationError as exc:
            log.warning("machine translation into %s failed: %s", locale, exc)
            failed.append(locale)
            continue
        values = {name: text[: LIMITS[name]] for name, text in zip(fields, texts, strict=True)}
        save_translation(
            ctx.session, item=item, locale=locale, texts=values, draft=True, machine=True
        )
        made.append(locale)
    lines = []
    if made:
        lines.append(
            t._(
                "%(service)s drafted translations into %(languages)s. Readers see them only "
                "after you check each one: choose the language, then keep or correct each text.",
                service=service.name,
                languages=t.join([language_in(code, t) for code in made]),
            )
        )
    if failed:
        lines.append(
            t._(
                "%(service)s could not translate into %(languages)s just now. Please try again "
                "later or write the translation yourself.",
                service=service.name,
                languages=t.join([language_in(code, t) for code in failed]),
            )
        )
    audit(
        ctx.session,
        actor=ctx.user,
        action="translations_drafted",
        detail={"kind": kind, "id": item_id, "made": made, "failed": failed},
        now=ctx.now,
    )
    return [Reply("\n\n".join(lines)), *translations_menu(ctx, kind, item_id)]


def outdated_notice(ctx: Context, locales: list[str]) -> list[Reply]:
    """Tell the coordinator which translations an edit of the original made outdated."""
    if not locales:
        return []
    t = ctx.t
    text = t._(
        "The translations into %(languages)s are now outdated: readers of those languages see "
        "the original until you update them.",
        languages=t.join([language_in(code, t) for code in locales]),
    )
    return [Reply(text)]  # the manage menu that follows has the way into the translations
