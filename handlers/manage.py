"""A coordinator's own offers and events: the list, one item with what can be done to it, and
changing any of its fields (people going are told of a new time or place, once and only on a
real change; the waiting list moves up when places are added), cancelling, taking down, posters.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlmodel import col, select

from bot.messages import Attachment, Button, Reply
from db.attendance import event_changed, going_count, promote_waiting
from db.models import ConversationState, Event, ItemStatus, Offer
from db.queries import upcoming_events_of
from db.roles import audit
from db.translations import mark_outdated
from handlers.actions import action
from handlers.context import Context
from handlers.coordinator import not_allowed
from handlers.item_fields import (
    CHOICES,
    COLUMNS,
    OPTIONAL,
    TEXT_FIELDS,
    choice_buttons,
    field_buttons,
    fields_of,
    pressed_number,
    question,
    read,
    reindex,
    shown_value,
    valid_choice,
    value_of,
)
from handlers.roles import acts_for, organisations
from handlers.router import router
from handlers.translations import outdated_notice, translations_button
from handlers.ui import main_menu, pager_buttons

EDIT = "edit"
ITEMS_PAGE = 6


@router.on_action("mine", int)
def my_items(ctx: Context, page: int) -> list[Reply]:
    """List the offers and events of the coordinator's organisations."""
    mine = [o.id for o in organisations(ctx)]
    if not mine:
        return not_allowed(ctx)
    t = ctx.t
    offers = ctx.session.exec(
        select(Offer).where(
            col(Offer.organisation_id).in_(mine), Offer.status == ItemStatus.PUBLISHED
        )
    ).all()
    events = upcoming_events_of(ctx.session, organisation_ids=mine, now=ctx.now)
    items = [("e", e.id, f"📅 {e.title}") for e in events] + [
        ("o", o.id, f"🤝 {o.title}") for o in offers
    ]
    pages = max(1, -(-len(items) // ITEMS_PAGE))
    page = min(max(page, 0), pages - 1)
    shown = items[page * ITEMS_PAGE : (page + 1) * ITEMS_PAGE]
    rows: list[tuple[Button, ...]] = [
        (Button(label, action("item", kind, item_id or 0)),) for kind, item_id, label in shown
    ]
    rows.append((Button(t.pgettext("button", "🧰 Coordinator tools"), action("coord")),))
    if nav := pager_buttons(t, page, pages, "mine"):
        rows.append(nav)  # last, so "previous" and "next" keep their numbers (handlers/ui.py)
    text = t.ngettext(
        "Your organisations have %(count)s published item.",
        "Your organisations have %(count)s published items.",
        len(items),
    )
    return [Reply(text, buttons=tuple(rows), replace=True)]


def own_item(ctx: Context, kind: str, item_id: int) -> Offer | Event | None:
    """The coordinator's own offer ("o") or event ("e"), or None (not theirs, or gone)."""
    model = {"o": Offer, "e": Event}.get(kind)
    item = ctx.session.get(model, item_id) if model else None
    if item is None or not acts_for(ctx, item.organisation_id):
        return None
    return item


@router.on_action("item", str, int)
def manage_item(ctx: Context, kind: str, item_id: int) -> list[Reply]:
    """Show one of the coordinator's items with what can be changed."""
    item = own_item(ctx, kind, item_id)
    if item is None:
        return not_allowed(ctx) if kind in ("o", "e") else router.call(ctx, "stale")
    if ctx.state.flow == EDIT:
        ctx.end_flow()
    t = ctx.t
    rows = field_buttons(t, kind, lambda field: action("edit", kind, item_id, field))
    if isinstance(item, Event):
        rows.append(
            (Button(t.pgettext("button", "🚫 Cancel the event"), action("cancel_ask", item_id)),)
        )
        people = going_count(ctx.session, event_id=item_id)
        status = t.ngettext("%(count)s person is going.", "%(count)s people are going.", people)
    else:
        rows.append(
            (Button(t.pgettext("button", "🗄 Take the offer down"), action("archive", item_id)),)
        )
        status = ""
    rows.append((translations_button(ctx, kind, item_id),))
    rows.append(
        (Button(t.pgettext("button", "🖨 Poster with QR code"), action("poster", kind, item_id)),)
    )
    rows.append((Button(t.pgettext("button", "📋 My offers and events"), action("mine", 0)),))
    text = "\n".join(filter(None, [t._("Managing: %(title)s", title=item.title), status]))
    return [Reply(text, buttons=tuple(rows))]


@router.on_action("edit", str, int, str)
def edit_field(ctx: Context, kind: str, item_id: int, field: str) -> list[Reply]:
    """Ask for the new value of one field, showing what it says now."""
    item = own_item(ctx, kind, item_id)
    if item is None or field not in fields_of(kind):
        return not_allowed(ctx) if item is None else router.call(ctx, "stale")
    ctx.start_flow(EDIT, field, kind=kind, id=item_id)
    return _ask_edit(ctx, item, field)


def _ask_edit(ctx: Context, item: Offer | Event, field: str) -> list[Reply]:
    t = ctx.t
    kind = ctx.flow_data["kind"]
    text = question(t, field)
    now = shown_value(ctx, field, value_of(item, field))
    if now:
        text = text + "\n" + t._("Now: %(value)s", value=now)
    rows: list[tuple[Button, ...]] = []
    if field in CHOICES:
        rows += choice_buttons(ctx, field, lambda value: action("edit_pick", value))
    elif field in OPTIONAL and now:
        rows.append((Button(t.pgettext("button", "🗑 Leave it empty"), action("edit_clear")),))
    back = Button(t.pgettext("button", "◀ Back"), action("item", kind, item.id or 0))
    rows.append((back,))
    return [Reply(text, buttons=tuple(rows))]


def _edited(ctx: Context) -> tuple[Offer | Event | None, str]:
    """The item and field the edit flow is changing (None when it is no longer theirs)."""
    if ctx.state.flow != EDIT:
        return None, ""
    data = ctx.flow_data
    item = own_item(ctx, data.get("kind", ""), data.get("id", 0))
    field = ctx.state.step or ""
    return (item, field) if field in fields_of(data.get("kind", "")) else (None, "")


def _wants_text(state: ConversationState) -> bool:
    return state.step in TEXT_FIELDS


@router.on_text(EDIT, free_text=_wants_text)
def edit_text(ctx: Context, text: str) -> list[Reply]:
    """Take the typed new value, or ask again when it cannot be read."""
    item, field = _edited(ctx)
    if item is None:
        ctx.end_flow()
        return not_allowed(ctx)
    if field in CHOICES:
        return [Reply(ctx.t._("Please choose one of the buttons.")), *_ask_edit(ctx, item, field)]
    if (pressed := pressed_number(ctx, field, text)) is not None:
        return pressed
    value, problem = read(ctx, field, text)
    if problem:
        return [Reply(problem), *_ask_edit(ctx, item, field)]
    return _apply(ctx, item, field, value)


@router.on_action("edit_pick", int)
def edit_pick(ctx: Context, value: int) -> list[Reply]:
    """Take a new topic or district from its button (0: no particular district)."""
    item, field = _edited(ctx)
    if item is None or field not in CHOICES or not valid_choice(ctx, field, value):
        return router.call(ctx, "stale")
    return _apply(ctx, item, field, value or None)


@router.on_action("edit_clear")
def edit_clear(ctx: Context) -> list[Reply]:
    """Empty an optional field."""
    item, field = _edited(ctx)
    if item is None or field not in OPTIONAL or field in CHOICES:
        return router.call(ctx, "stale")
    return _apply(ctx, item, field, None)


def _same(before: Any, after: Any) -> bool:
    if isinstance(before, float) or isinstance(after, float):
        return before is not None and after is not None and abs(before - after) < 1e-6
    return (before or None) == (after or None)


def _apply(ctx: Context, item: Offer | Event, field: str, value: Any) -> list[Reply]:
    """Change the field, tell whom it concerns, and say what was done."""
    t = ctx.t
    kind = ctx.flow_data["kind"]
    if field == "when":
        value = datetime.fromisoformat(value)
    if _same(value_of(item, field), value):
        ctx.end_flow()
        if field == "when":
            unchanged = t._(
                "Nothing changed: the start is already %(when)s. Nobody was told.",
                when=t.datetime(value),
            )
        else:
            unchanged = t._("Nothing changed: it already says that. Nobody was told.")
        return [Reply(unchanged), *manage_item(ctx, kind, item.id or 0)]
    saved = _set(ctx, item, field, value)
    outdated = mark_outdated(ctx.session, item=item, field=COLUMNS.get(field, field))
    item.updated_at = ctx.now
    reindex(ctx, kind, item.id or 0)
    audit(
        ctx.session,
        actor=ctx.user,
        action="item_edited",
        detail={"kind": kind, "id": item.id, "field": field},
        now=ctx.now,
    )
    ctx.end_flow()
    return [Reply(saved), *outdated_notice(ctx, outdated), *manage_item(ctx, kind, item.id or 0)]


def _set(ctx: Context, item: Offer | Event, field: str, value: Any) -> str:
    """Store the new value; return what to tell the coordinator."""
    t = ctx.t
    if field in ("category", "district"):
        setattr(item, f"{field}_id", value)
        return t._("Saved.")
    if not isinstance(item, Event) or field not in ("when", "duration", "capacity"):
        setattr(item, COLUMNS[field], value or "")
        if isinstance(item, Event) and field in ("place", "address"):
            told = event_changed(ctx.session, event=item, now=ctx.now, change="place")
            return t.ngettext(
                "Saved. %(count)s person going was told.",
                "Saved. %(count)s people going were told.",
                told,
            )
        return t._("Saved.")
    if field == "when":
        length = (item.ends_at - item.starts_at) if item.ends_at else None
        item.starts_at = value
        item.ends_at = value + length if length else None
        item.all_day = False  # a time typed in the chat is a time of day
        told = event_changed(ctx.session, event=item, now=ctx.now, change="time")
        return t.ngettext(
            "Saved. New start: %(when)s. %(count)s person going was told.",
            "Saved. New start: %(when)s. %(count)s people going were told.",
            told,
            when=t.datetime(item.starts_at),
        )
    if field == "duration":
        item.ends_at = item.starts_at + timedelta(hours=value) if value else None
        return t._("Saved.")
    item.capacity = value
    ctx.session.flush()
    promoted = promote_waiting(ctx.session, event=item, now=ctx.now)
    if not promoted:
        return t._("Saved.")
    return t.ngettext(
        "Saved. %(count)s person from the waiting list got a place and was told.",
        "Saved. %(count)s people from the waiting list got a place and were told.",
        len(promoted),
    )


@router.on_action("cancel_ask", int)
def confirm_cancel(ctx: Context, event_id: int) -> list[Reply]:
    """Ask once more before cancelling an event."""
    event = own_item(ctx, "e", event_id)
    if event is None:
        return not_allowed(ctx)
    t = ctx.t
    people = going_count(ctx.session, event_id=event_id)
    text = t.ngettext(
        "Cancel %(title)s? %(count)s person going will be told.",
        "Cancel %(title)s? %(count)s people going will be told.",
        people,
        title=event.title,
    )
    return [
        Reply(
            text,
            buttons=(
                (Button(t.pgettext("button", "🚫 Yes, cancel it"), action("cancel_do", event_id)),),
                (Button(t.pgettext("button", "◀ No, keep it"), action("item", "e", event_id)),),
            ),
        )
    ]


@router.on_action("cancel_do", int)
def cancel_event(ctx: Context, event_id: int) -> list[Reply]:
    """Cancel an event and tell everyone going."""
    event = own_item(ctx, "e", event_id)
    if event is None:
        return not_allowed(ctx)
    if event.status != ItemStatus.PUBLISHED:
        return [main_menu(ctx, ctx.t._("This event is no longer available."))]
    event.status = ItemStatus.CANCELLED
    event.updated_at = ctx.now
    told = event_changed(ctx.session, event=event, now=ctx.now, change="cancelled")
    reindex(ctx, "e", event_id)
    audit(
        ctx.session,
        actor=ctx.user,
        action="event_cancelled",
        detail={"id": event_id, "told": told},
        now=ctx.now,
    )
    return [
        main_menu(
            ctx,
            ctx.t.ngettext(
                "The event is cancelled. %(count)s person will be told.",
                "The event is cancelled. %(count)s people will be told.",
                told,
            ),
        )
    ]


@router.on_action("archive", int)
def archive_offer(ctx: Context, offer_id: int) -> list[Reply]:
    """Take an offer down; it no longer shows in lists and search."""
    offer = own_item(ctx, "o", offer_id)
    if offer is None:
        return not_allowed(ctx)
    offer.status = ItemStatus.ARCHIVED
    offer.updated_at = ctx.now
    reindex(ctx, "o", offer_id)
    audit(
        ctx.session, actor=ctx.user, action="offer_archived", detail={"id": offer_id}, now=ctx.now
    )
    return [main_menu(ctx, ctx.t._("The offer was taken down."))]


@router.on_action("poster", str, int)
def poster(ctx: Context, kind: str, item_id: int) -> list[Reply]:
    """Send a printable poster whose QR code opens the item in the bot."""
    from bot.posters import render_poster

    item = own_item(ctx, kind, item_id)
    if item is None:
        return not_allowed(ctx)
    png = render_poster(ctx.session, kind, item_id, ctx.settings, locale=ctx.t.locale)
    caption = ctx.t._("A poster for %(title)s: print it and hang it up.", title=item.title)
    return [
        Reply(caption, attachments=(Attachment(f"poster-{kind}{item_id}.png", png, "image/png"),))
    ]
