"""Buttons and texts that several flows share."""

from __future__ import annotations

from babel import Locale, UnknownLocaleError

from bot.config import SUPPORTED_LOCALES
from bot.i18n import Translator, language_name
from bot.messages import Button, Place, Reply
from db.models import Category, Event, Offer
from db.queries import Page
from handlers.actions import action
from handlers.context import Context


def menu_button(t: Translator) -> Button:
    return Button(t.pgettext("button", "🏠 Main menu"), action("menu"))


def main_menu(ctx: Context, text: str | None = None) -> Reply:
    """Return the main menu, introduced by `text` or by the usual question."""
    from handlers.roles import is_coordinator

    t = ctx.t
    extra: tuple[tuple[Button, ...], ...] = ()
    if is_coordinator(ctx):
        extra = ((Button(t.pgettext("button", "🧰 Coordinator tools"), action("coord")),),)
    return Reply(
        text or t._("What would you like to do?"),
        buttons=(
            (Button(t.pgettext("button", "🤝 Volunteer offers"), action("offers")),),
            (Button(t.pgettext("button", "📅 Upcoming events"), action("events")),),
            (Button(t.pgettext("button", "🔎 Search"), action("search")),),
            (Button(t.pgettext("button", "🔔 My subscriptions"), action("subs")),),
            (
                Button(t.pgettext("button", "🌐 Language"), action("lang")),
                Button(t.pgettext("button", "❓ Help"), action("help")),
                Button(t.pgettext("button", "⚙️ Settings"), action("settings")),
            ),
            *extra,
        ),
    )


def pager_row(t: Translator, page: Page, name: str, *args: int) -> tuple[Button, ...]:
    """Return the "previous" and "next" buttons a page needs (none for a single page)."""
    return pager_buttons(t, page.page, page.pages, name, *args)


def pager_buttons(
    t: Translator, page: int, pages: int, name: str, *args: int
) -> tuple[Button, ...]:
    """Return "previous" and "next" for page `page` of `pages`, both on every page.

    A list's pager comes last, and always with both buttons (the first page's "previous" goes
    to the last page, the last page's "next" to the first): so on Signal and the console,
    where numbers are typed, "previous" and "next" are always the last two numbers, and typing
    the same number again keeps going the same way.
    """
    if pages <= 1:
        return ()
    return (
        Button(t.pgettext("button", "◀ Previous"), action(name, *args, (page - 1) % pages)),
        Button(t.pgettext("button", "Next ▶"), action(name, *args, (page + 1) % pages)),
    )


def with_page_line(t: Translator, heading: str, page: Page) -> str:
    """Add "Page 2 of 3." under a list's heading when the list has more than one page."""
    if page.pages <= 1:
        return heading
    line = t._(
        "Page %(page)s of %(pages)s.", page=t.number(page.page + 1), pages=t.number(page.pages)
    )
    return f"{heading}\n{line}"


def too_long(t: Translator, limit: int) -> str:
    """Say that a typed answer is over its length limit."""
    return t._("That is too long: at most %(limit)s characters, please.", limit=t.number(limit))


def too_short(t: Translator, minimum: int) -> str:
    """Say that a typed answer is under its length minimum."""
    return t._(
        "That is too short: at least %(minimum)s characters, please.", minimum=t.number(minimum)
    )


def place_of(item: Offer | Event) -> Place | None:
    """Return where an offer or event happens, if it says."""
    if not (item.place_name or item.address):
        return None
    return Place(item.place_name, item.address, item.latitude, item.longitude)


def where_text(item: Offer | Event) -> str:
    """Return the place and address of an offer or event on one line."""
    return ", ".join(filter(None, [item.place_name, item.address]))


def name_in(names: dict[str, str], locale: str, fallback: str) -> str:
    """Pick a name from a per-language mapping: the user's language, German, or any."""
    return names.get(locale) or names.get("de") or next(iter(names.values()), fallback)


def language_in(code: str, t: Translator) -> str:
    """Name the language `code` in the reader's language ("German" for an English reader)."""
    try:
        return Locale.parse(code).get_display_name(t.locale) or code
    except (UnknownLocaleError, ValueError):
        return code


def language_picker(ctx: Context, text: str | None = None) -> Reply:
    """Offer every supported language, each in its own name and script."""
    buttons = [Button(language_name(code), action("lang_set", code)) for code in SUPPORTED_LOCALES]
    rows = tuple(tuple(buttons[i : i + 2]) for i in range(0, len(buttons), 2))
    return Reply(text or ctx.t._("Choose your language:"), buttons=rows)


def topic_buttons(
    t: Translator, counted: list[tuple[Category, int]], verb: str
) -> list[tuple[Button, ...]]:
    """A button for each topic that has something, with how many; it runs `verb` (id, page 0)."""
    return [
        (
            Button(
                t.pgettext(
                    "topic button",
                    "%(emoji)s %(topic)s (%(count)s)",
                    emoji=category.emoji,
                    topic=name_in(category.names, t.locale, category.slug),
                    count=t.number(count),
                ).strip(),
                action(verb, category.id or 0, 0),
            ),
        )
        for category, count in counted
        if count
    ]
