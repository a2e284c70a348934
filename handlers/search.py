"""Search: whatever a user types that is not a command finds offers and events, in any language."""

from __future__ import annotations

import re

from bot.messages import Button, Reply
from db.models import Event, Offer
from db.queries import event_titles, offer_titles
from db.search import MAX_QUERY_CHARS, Hit, prepare, search
from handlers.actions import action
from handlers.context import Context
from handlers.router import router
from handlers.ui import main_menu, menu_button, pager_row, with_page_line

PAGE_SIZE = 5
# A deep-link payload typed by hand, as a Signal poster asks: "start o_12" or just "o_12".
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
    previous = ctx.state.data.get("search")
    number = (previous.get("n", 0) + 1) % 1000 if isinstance(previous, dict) else 1
    # The results become the screen a mistyped number shows again.
    ctx.state.data = {
        **ctx.state.data,
        "search": {"query": text, "n": number},
        "screen": action("srch", number, 0),
    }
    return results_page(ctx, number, 0)


@router.on_action("srch", int, int)
def results_page(ctx: Context, number: int, page: int) -> list[Reply]:
    """Show one page of the results of the user's latest search."""
    t = ctx.t
    saved = ctx.state.data.get("search")
    if not isinstance(saved, dict) or saved.get("n") != number:
        return router.call(ctx, "stale")
    query = str(saved.get("query", ""))
    found = search(ctx.session, query, now=ctx.now, page=page, size=PAGE_SIZE)
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
    rows: list[tuple[Button, ...]] = [(_result_button(ctx, hit),) for hit in found.items]
    if nav := pager_row(t, found, "srch", number):
        rows.append(nav)
    rows.append((Button(t.pgettext("button", "🔎 New search"), action("search")), menu_button(t)))
    heading = t.ngettext(
        "%(count)s result for “%(query)s”, best matches first:",
        "%(count)s results for “%(query)s”, best matches first:",
        found.total,
        query=query,
    )
    return [Reply(with_page_line(t, heading, found), buttons=tuple(rows), replace=True)]


def _result_button(ctx: Context, hit: Hit) -> Button:
    t = ctx.t
    if hit.kind == "offer":
        offer = ctx.session.get(Offer, hit.id)
        title = offer_titles(ctx.session, offer_ids=[hit.id], locale=t.locale).get(hit.id)
        label = t.pgettext(
            "search result", "🤝 %(title)s", title=title or (offer.title if offer else "")
        )
        return Button(label, action("o", hit.id))
    event = ctx.session.get(Event, hit.id)
    title = event_titles(ctx.session, event_ids=[hit.id], locale=t.locale).get(hit.id)
    label = t.pgettext(
        "search result",
        "📅 %(date)s · %(title)s",
        date=t.short_datetime(event.starts_at) if event else "",
        title=title or (event.title if event else ""),
    )
    return Button(label, action("e", hit.id))
