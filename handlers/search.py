"""Search: whatever a user types that is not a command finds offers and events, in any language."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from sqlmodel import col, select

from bot.messages import Button, Reply
from db.models import Event, Offer
from db.queries import Page, event_titles, offer_titles
from db.search import MAX_QUERY_CHARS, Hit, prepare, search
from handlers.actions import action
from handlers.context import Context
from handlers.router import router
from handlers.ui import main_menu, menu_button, pager_row, with_page_line

PAGE_SIZE = 5
# A deep-link payload typed by hand, as a Signal poster asks: "start o_12" or just "o_12".
# How long the query of a search with several pages is kept for its pager, at most.
SEARCH_KEPT = timedelta(days=1)
_TYPED_PAYLOAD = re.compile(r"^(?:start\s+)?([oe]_[1-9][0-9]{0,8})$", re.IGNORECASE)


@router.on_action("search", commands=("search",))
def ask_for_search(ctx: Context) -> list[Reply]:
    """Ask the user to type what they are looking for."""
    t = ctx.t
    ctx.start_flow("search")
    text = t._(
        "What are you looking for? Type a word or two, such as “reading”, “German” or the "
        "name of your district. Any language is fine."
    )
    return [Reply(text, buttons=((menu_button(t),),))]


@router.on_text("search", free_text=True)
def search_typed(ctx: Context, text: str) -> list[Reply]:
    """Search for what the user typed after pressing "Search"."""
    ctx.end_flow()
    return run_search(ctx, text)


def run_search(ctx: Context, text: str) -> list[Reply]:
    """Search offers and events for typed text and show the best matches."""
    t = ctx.t
    text = text.strip()
    if payload := _TYPED_PAYLOAD.match(text):
        return router.call(ctx, "start_command", payload.group(1).lower())
    if len(text) > MAX_QUERY_CHARS:
        message = t._(
            "That is too long to search for. Please type a few words, at most %(limit)s "
            "characters.",
            limit=t.number(MAX_QUERY_CHARS),
        )
        return [main_menu(ctx, message)]
    if not prepare(text).words:
        message = t._(
            "Sorry, I did not understand that. To search, type a word such as “reading”, "
            "“German” or the name of your district, or choose from the menu."
        )
        return [main_menu(ctx, message)]
    number = _next_search_number(ctx)
    found = search(ctx.session, text, now=ctx.now, page=0, size=PAGE_SIZE, locale=ctx.t.locale)
    if found.pages > 1:
        # Paging needs the query: kept for a day at most, and forgotten at the first step
        # that is not paging (`forget_search`) or by the nightly retention.
        ctx.state.data = {
            **ctx.state.data,
            "search": {"query": text, "n": number, "until": (ctx.now + SEARCH_KEPT).isoformat()},
        }
    # The results become the screen a mistyped number shows again; a single page keeps
    # nothing of the query, so a mistyped number shows the main menu instead.
    screen = action("srch", number, 0) if found.pages > 1 else action("menu")
    ctx.state.data = {**ctx.state.data, "screen": screen}
    return _results(ctx, text, found, number)


def _next_search_number(ctx: Context) -> int:
    """Number this search, so the pager buttons of an older one are told apart and stale."""
    previous = ctx.state.data.get("search_n")
    number = (previous + 1) % 1000 if isinstance(previous, int) else 1
    ctx.state.data = {**ctx.state.data, "search_n": number}
    return number


def saved_query(ctx: Context, number: int) -> str | None:
    """Return the query of search `number` if paging may still use it."""
    saved = ctx.state.data.get("search")
    if not isinstance(saved, dict) or saved.get("n") != number:
        return None
    try:
        until = datetime.fromisoformat(str(saved.get("until")))
    except ValueError:
        return None
    if until.tzinfo is None:
        until = until.replace(tzinfo=UTC)
    if until <= ctx.now:
        return None
    return str(saved.get("query", ""))


def forget_search(ctx: Context) -> None:
    """Forget the saved query unless the user is paging through its results."""
    if "search" not in ctx.state.data:
        return
    screen = ctx.state.data.get("screen")
    if isinstance(screen, str) and screen.startswith("srch:"):
        return
    ctx.state.data = {k: v for k, v in ctx.state.data.items() if k != "search"}


@router.on_action("srch", int, int)
def results_page(ctx: Context, number: int, page: int) -> list[Reply]:
    """Show one page of the results of the user's latest search."""
    query = saved_query(ctx, number)
    if query is None:
        ctx.state.data = {k: v for k, v in ctx.state.data.items() if k != "search"}
        return router.call(ctx, "stale")
    found = search(ctx.session, query, now=ctx.now, page=page, size=PAGE_SIZE, locale=ctx.t.locale)
    return _results(ctx, query, found, number)


def _results(ctx: Context, query: str, found: Page[Hit], number: int) -> list[Reply]:
    t = ctx.t
    if not found.items:
        text = "\n\n".join(
            [
                t._("I found no offers or events for “%(query)s”.", query=query),
                t._(
                    "Tips: check the spelling, try a shorter or more general word, or write it "
                    "in another language. You can also browse the offers by topic or district."
                ),
            ]
        )
        return [main_menu(ctx, text)]
    rows: list[tuple[Button, ...]] = [(button,) for button in _result_buttons(ctx, found.items)]
    rows.append((Button(t.pgettext("button", "🔎 New search"), action("search")), menu_button(t)))
    if nav := pager_row(t, found, "srch", number):
        rows.append(nav)  # last, so "previous" and "next" keep their numbers (handlers/ui.py)
    heading = t.ngettext(
        "%(count)s result for “%(query)s”, best matches first:",
        "%(count)s results for “%(query)s”, best matches first:",
        found.total,
        query=query,
    )
    return [Reply(with_page_line(t, heading, found), buttons=tuple(rows), replace=True)]


def _result_buttons(ctx: Context, hits: list[Hit]) -> list[Button]:
    """One button per hit, in order. Performance: the hits' offers, events and translated titles
    come in four queries for the page, not two for every hit (benchmarks/RESULTS.md)."""
    locale = ctx.t.locale
    offer_ids = [hit.id for hit in hits if hit.kind == "offer"]
    event_ids = [hit.id for hit in hits if hit.kind != "offer"]
    offers = {
        offer.id: offer
        for offer in (
            ctx.session.exec(select(Offer).where(col(Offer.id).in_(offer_ids))).all()
            if offer_ids
            else []
        )
    }
    events = {
        event.id: event
        for event in (
            ctx.session.exec(select(Event).where(col(Event.id).in_(event_ids))).all()
            if event_ids
            else []
        )
    }
    offer_names = offer_titles(ctx.session, offer_ids=offer_ids, locale=locale)
    event_names = event_titles(ctx.session, event_ids=event_ids, locale=locale)
    return [
        _result_button(ctx, hit, offers.get(hit.id), offer_names.get(hit.id))
        if hit.kind == "offer"
        else _result_button(ctx, hit, events.get(hit.id), event_names.get(hit.id))
        for hit in hits
    ]


def _result_button(ctx: Context, hit: Hit, item: Offer | Event | None, title: str | None) -> Button:
    t = ctx.t
    if hit.kind == "offer":
        label = t.pgettext(
            "search result", "🤝 %(title)s", title=title or (item.title if item else "")
        )
        return Button(label, action("o", hit.id))
    event = item if isinstance(item, Event) else None
    label = t.pgettext(
        "search result",
        "📅 %(date)s · %(title)s",
        date=t.short_datetime(event.starts_at, all_day=event.all_day) if event else "",
        title=title or (event.title if event else ""),
    )
    return Button(label, action("e", hit.id))
