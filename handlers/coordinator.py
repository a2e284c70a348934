"""Coordinators: the toolbox, publishing offers and events in a guided conversation, editing
and cancelling them, and numbers. Every action re-checks the role and the organisation."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func
from sqlmodel import col, select

from bot.messages import Attachment, Button, Reply
from db.attendance import event_changed, going_count
from db.help_requests import request_counts
from db.models import (
    Category,
    ConversationState,
    District,
    Event,
    ItemStatus,
    Offer,
    Organisation,
    Subscription,
    SubscriptionKind,
)
from db.queries import upcoming_events_of
from db.roles import audit
from db.translations import mark_outdated
from handlers.actions import action
from handlers.context import Context
from handlers.roles import acts_for, admin, is_coordinator, organisations
from handlers.router import router
from handlers.timeparse import parse_local_datetime
from handlers.translations import outdated_notice, translations_button
from handlers.ui import main_menu, menu_button, name_in, pager_buttons, too_long, too_short

# The questions of the publishing conversation, in order, per kind of item.
OFFER_STEPS = (
    "category",
    "title",
    "summary",
    "description",
    "district",
    "place",
    "address",
    "schedule",
    "contact",
)
EVENT_STEPS = (
    "category",
    "title",
    "summary",
    "description",
    "district",
    "place",
    "address",
    "when",
    "duration",
    "capacity",
)
TEXT_STEPS = frozenset(
    {
        "title",
        "summary",
        "description",
        "place",
        "address",
        "schedule",
        "contact",
        "when",
        "duration",
        "capacity",
        "edit_value",
    }
)
OPTIONAL = frozenset(
    {"description", "place", "address", "schedule", "contact", "duration", "capacity"}
)
LIMITS = {
    "title": 200,
    "summary": 500,
    "description": 4000,
    "place": 200,
    "address": 300,
    "schedule": 300,
    "contact": 300,
}
# The model's column lengths above; below, what is too short to tell residents anything.
MINIMUMS = {"title": 3, "summary": 3}
PUBLISH = "publish"


def not_allowed(ctx: Context) -> list[Reply]:
    return [
        main_menu(
            ctx,
            ctx.t._(
                "This is only for coordinators. If you coordinate "
                "volunteers, ask the network's admins for an invitation."
            ),
        )
    ]


def _cancel_button(ctx: Context) -> Button:
    return Button(ctx.t.pgettext("button", "✖ Stop"), action("pub_stop"))


@router.on_action("coord", commands=("coordinator",))
def toolbox(ctx: Context) -> list[Reply]:
    """Show what a coordinator can do."""
    if not is_coordinator(ctx):
        return not_allowed(ctx)
    ctx.end_flow()
    t = ctx.t
    names = t.join([o.name for o in organisations(ctx)])
    rows: list[tuple[Button, ...]] = [
        (
            Button(t.pgettext("button", "➕ New offer"), action("pub_new", "offer")),
            Button(t.pgettext("button", "➕ New event"), action("pub_new", "event")),
        ),
        (Button(t.pgettext("button", "📋 My offers and events"), action("mine", 0)),),
        (Button(t.pgettext("button", "📣 Announcement"), action("bc_new")),),
        (Button(t.pgettext("button", "🙋 Requests to help"), action("hr_list")),),
        (Button(t.pgettext("button", "📊 Numbers"), action("numbers")),),
    ]
    if admin(ctx):
        rows.append((Button(t.pgettext("button", "🔑 Invite a coordinator"), action("inv_new")),))
    rows.append((menu_button(t),))
    text = t._("Coordinator tools for: %(organisations)s", organisations=names)
    return [Reply(text, buttons=tuple(rows))]


# -- publishing ---------------------------------------------------------------------------------


@router.on_action("pub_new", str)
def start_publishing(ctx: Context, kind: str) -> list[Reply]:
    """Begin a new offer or event: first for which organisation."""
    if kind not in ("offer", "event"):
        return router.call(ctx, "stale")
    mine = organisations(ctx)
    if not mine:
        return not_allowed(ctx)
    ctx.start_flow(PUBLISH, "organisation", kind=kind)
    if len(mine) == 1:
        return choose_organisation(ctx, mine[0].id or 0)
    return _ask_organisation(ctx)


def _ask_organisation(ctx: Context) -> list[Reply]:
    rows = tuple((Button(o.name, action("pub_org", o.id or 0)),) for o in organisations(ctx))
    return [Reply(ctx.t._("For which organisation?"), buttons=(*rows, (_cancel_button(ctx),)))]


@router.on_action("pub_org", int)
def choose_organisation(ctx: Context, organisation_id: int) -> list[Reply]:
    """Remember the organisation and ask for the topic."""
    if ctx.state.flow != PUBLISH or not acts_for(ctx, organisation_id):
        return not_allowed(ctx) if ctx.state.flow == PUBLISH else router.call(ctx, "stale")
    draft = {**ctx.flow_data, "organisation_id": organisation_id}
    ctx.save_flow(draft, "category")
    return _ask(ctx, "category")


@router.on_action("pub_pick", str, int)
def pick(ctx: Context, field: str, value: int) -> list[Reply]:
    """Take a choice from buttons (topic or district; 0 means none)."""
    if (
        ctx.state.flow != PUBLISH
        or field not in ("category", "district")
        or ctx.state.step != field
    ):
        return router.call(ctx, "stale")
    model = Category if field == "category" else District
    if value and ctx.session.get(model, value) is None:
        return router.call(ctx, "stale")
    if field == "category" and not value:
        return router.call(ctx, "stale")
    return _advance(ctx, field, value or None)


@router.on_action("pub_skip")
def skip(ctx: Context) -> list[Reply]:
    """Leave out an optional answer."""
    if ctx.state.flow != PUBLISH or ctx.state.step not in OPTIONAL:
        return router.call(ctx, "stale")
    return _advance(ctx, ctx.state.step, None)


@router.on_action("pub_stop")
def stop_publishing(ctx: Context) -> list[Reply]:
    """Throw the draft away."""
    draft_id = ctx.flow_data.get("draft_id")
    kind = ctx.flow_data.get("kind")
    if draft_id and ctx.state.flow == PUBLISH:
        item = ctx.session.get(Offer if kind == "offer" else Event, draft_id)
        if item is not None and item.status == ItemStatus.DRAFT:
            ctx.session.delete(item)
    ctx.end_flow()
    return [main_menu(ctx, ctx.t._("Nothing was published."))]


def _wants_text(state: ConversationState) -> bool:
    return state.step in TEXT_STEPS


@router.on_text(PUBLISH, free_text=_wants_text)
def publishing_text(ctx: Context, text: str) -> list[Reply]:
    """Take the typed answer to the current question, or ask again when it cannot be read."""
    step = ctx.state.step or ""
    if step == "edit_value":
        return _apply_edit(ctx, text)
    if step not in TEXT_STEPS:
        # A button question (organisation, topic, district, the preview) answered by typing:
        # say so and show the same step again; the draft stays as it is.
        again = ctx.t._("Please choose one of the buttons.")
        if step == "preview":
            return [Reply(again), *_show_preview(ctx)] if _saved_draft(ctx) else _draft_gone(ctx)
        if step in ("category", "district"):
            return [Reply(again), *_ask(ctx, step)]
        return [Reply(again), *_ask_organisation(ctx)]
    problem = _length_problem(ctx, step, text)
    if problem:
        return [Reply(problem), *_ask(ctx, step)]
    value, problem = _read(ctx, step, text)
    if problem:
        return [Reply(problem), *_ask(ctx, step)]
    return _advance(ctx, step, value)


def _length_problem(ctx: Context, field: str, text: str) -> str | None:
    """Say what is wrong with the length of a typed answer, if anything."""
    limit = LIMITS.get(field)
    if limit is not None and len(text) > limit:
        return too_long(ctx.t, limit)
    minimum = MINIMUMS.get(field)
    if minimum is not None and len(text) < minimum:
        return too_short(ctx.t, minimum)
    return None


def _read(ctx: Context, step: str, text: str) -> tuple[Any, str | None]:
    t = ctx.t
    if step == "when":
        moment = parse_local_datetime(text, now=ctx.now, tz=ctx.settings.tz)
        if moment is None:
            return None, t._(
                'I could not read that date. Please write it like 12.12. 18:00 or "morgen 17 Uhr".'
            )
        if moment <= ctx.now:
            return None, t._("That time is in the past. Please give a time in the future.")
        return moment.isoformat(), None
    if step == "duration":
        hours = _number(text.replace(",", ".").removesuffix("h").strip(), allow_float=True)
        if hours is None or not 0 < hours <= 24 * 14:
            return None, t._("Please write the length in hours, such as 2 or 1.5.")
        return hours, None
    if step == "capacity":
        places = _number(text.strip())
        if places is None or not 1 <= places <= 100_000:
            return None, t._("Please write a whole number of places, such as 20.")
        return int(places), None
    return text, None


def _number(text: str, *, allow_float: bool = False) -> float | None:
    try:
        value = float(text) if allow_float else int(text)
    except ValueError:
        return None
    return value


def _advance(ctx: Context, step: str, value: Any) -> list[Reply]:
    draft = {**ctx.flow_data, step: value}
    steps = OFFER_STEPS if draft.get("kind") == "offer" else EVENT_STEPS
    following = steps[steps.index(step) + 1] if steps.index(step) + 1 < len(steps) else None
    ctx.save_flow(draft, following)
    if following is None:
        return _preview(ctx)
    return _ask(ctx, following)


def _ask(ctx: Context, step: str) -> list[Reply]:
    """Ask the question of a step, with the buttons it offers."""
    t = ctx.t
    skip_row = (Button(t.pgettext("button", "⏭ Skip"), action("pub_skip")),)
    if step == "category":
        categories = ctx.session.exec(select(Category).order_by(col(Category.position))).all()
        rows = [
            (
                Button(
                    f"{c.emoji} {name_in(c.names, t.locale, c.slug)}".strip(),
                    action("pub_pick", "category", c.id or 0),
                ),
            )
            for c in categories
        ]
        return [Reply(t._("Which topic fits best?"), buttons=(*rows, (_cancel_button(ctx),)))]
    if step == "district":
        districts = ctx.session.exec(select(District).order_by(col(District.position))).all()
        rows = [
            (Button(name_in(d.names, t.locale, d.slug), action("pub_pick", "district", d.id or 0)),)
            for d in districts
        ]
        rows.append(
            (
                Button(
                    t.pgettext("button", "No particular district"),
                    action("pub_pick", "district", 0),
                ),
            )
        )
        return [Reply(t._("In which district?"), buttons=(*rows, (_cancel_button(ctx),)))]
    questions = {
        "title": t._("What is the title? Short and clear, please."),
        "summary": t._("In one sentence: what will volunteers do?"),
        "description": t._("Anything else people should know? A few sentences."),
        "place": t._("Where does it take place? The name of the place."),
        "address": t._("What is the address?"),
        "schedule": t._("When and how often? For example: every Tuesday, 2 hours."),
        "contact": t._("How can people reach you? An e-mail address or phone number."),
        "when": t._('When does it start? For example: 12.12. 18:00 or "morgen 17 Uhr".'),
        "duration": t._("How many hours will it last?"),
        "capacity": t._("How many places are there? Skip if there is no limit."),
    }
    rows = (skip_row, (_cancel_button(ctx),)) if step in OPTIONAL else ((_cancel_button(ctx),),)
    return [Reply(questions[step], buttons=rows)]


def _preview(ctx: Context) -> list[Reply]:
    """Save the draft and show it exactly as residents will see it, with publish and stop."""
    draft = ctx.flow_data
    if not acts_for(ctx, draft.get("organisation_id", 0)):
        return not_allowed(ctx)
    fields = {
        "organisation_id": draft["organisation_id"],
        "category_id": draft["category"],
        "district_id": draft.get("district"),
        "title": draft["title"],
        "summary": draft.get("summary") or "",
        "description": draft.get("description") or "",
        "place_name": draft.get("place") or "",
        "address": draft.get("address") or "",
        # Written in the coordinator's chat language: readers of others get a note naming it.
        "locale": ctx.t.locale,
        "status": ItemStatus.DRAFT,
        "created_at": ctx.now,
        "updated_at": ctx.now,
    }
    if draft["kind"] == "offer":
        item: Offer | Event = Offer(
            **fields, schedule=draft.get("schedule") or "", contact=draft.get("contact") or ""
        )
    else:
        starts = datetime.fromisoformat(draft["when"])
        hours = draft.get("duration")
        item = Event(
            **fields,
            starts_at=starts,
            ends_at=starts + timedelta(hours=hours) if hours else None,
            capacity=draft.get("capacity"),
        )
    ctx.session.add(item)
    ctx.session.flush()
    ctx.save_flow({**draft, "draft_id": item.id}, "preview")
    return _show_preview(ctx)


def _show_preview(ctx: Context) -> list[Reply]:
    """Show the saved draft as residents will see it, with publish and stop."""
    from handlers.events import event_detail
    from handlers.offers import offer_detail

    draft = ctx.flow_data
    t = ctx.t
    item_id = draft.get("draft_id") or 0
    if _saved_draft(ctx) is None:
        return _draft_gone(ctx)
    shown = (
        offer_detail(ctx, item_id) if draft.get("kind") == "offer" else event_detail(ctx, item_id)
    )
    card = shown[-1]
    confirm = Reply(
        t._("This is how residents will see it. Publish it now?"),
        buttons=(
            (Button(t.pgettext("button", "✅ Publish"), action("pub_ok")),),
            (_cancel_button(ctx),),
        ),
    )
    return [Reply(card.text, place=card.place), confirm]


@router.on_action("pub_ok")
def publish(ctx: Context) -> list[Reply]:
    """Publish the previewed draft."""
    draft = ctx.flow_data
    if ctx.state.flow != PUBLISH or ctx.state.step != "preview":
        return router.call(ctx, "stale")
    model = Offer if draft.get("kind") == "offer" else Event
    item = _saved_draft(ctx)
    if item is None:
        return _draft_gone(ctx)
    if not acts_for(ctx, item.organisation_id):
        return not_allowed(ctx)
    if isinstance(item, Event) and item.starts_at <= ctx.now:
        ctx.end_flow()
        return [
            main_menu(ctx, ctx.t._("That time is in the past. Please give a time in the future."))
        ]
    item.status = ItemStatus.PUBLISHED
    item.published_at = ctx.now
    item.updated_at = ctx.now
    _reindex(ctx, "o" if model is Offer else "e", item.id or 0)
    audit(
        ctx.session,
        actor=ctx.user,
        action=f"{draft['kind']}_published",
        detail={"id": item.id, "organisation_id": item.organisation_id},
        now=ctx.now,
    )
    ctx.end_flow()
    return [
        main_menu(
            ctx,
            ctx.t._(
                "Published: %(title)s. Followers of its topic, district and "
                "organisation will hear about it.",
                title=item.title,
            ),
        )
    ]


def _saved_draft(ctx: Context) -> Offer | Event | None:
    """The draft saved at the preview, unless it was published or deleted since."""
    draft = ctx.flow_data
    model = Offer if draft.get("kind") == "offer" else Event
    item = ctx.session.get(model, draft.get("draft_id") or 0)
    return item if item is not None and item.status == ItemStatus.DRAFT else None


def _draft_gone(ctx: Context) -> list[Reply]:
    """Say that a draft left for a day was deleted (by the nightly clean-up)."""
    ctx.end_flow()
    text = ctx.t._(
        "This draft was deleted because it was left unfinished for a day. Nothing was "
        "published; please start again."
    )
    return [main_menu(ctx, text)]


def _reindex(ctx: Context, kind: str, item_id: int) -> None:
    """Keep the search index current after a change, where the search index exists."""
    try:
        from db.search import reindex_item
    except ImportError:
        return
    reindex_item(ctx.session, kind, item_id)


# -- own items, editing, cancelling ------------------------------------------------------------

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


def _item(ctx: Context, kind: str, item_id: int) -> Offer | Event | None:
    model = {"o": Offer, "e": Event}.get(kind)
    item = ctx.session.get(model, item_id) if model else None
    if item is None or not acts_for(ctx, item.organisation_id):
        return None
    return item


@router.on_action("item", str, int)
def manage_item(ctx: Context, kind: str, item_id: int) -> list[Reply]:
    """Show one of the coordinator's items with what can be changed."""
    item = _item(ctx, kind, item_id)
    if item is None:
        return not_allowed(ctx) if kind in ("o", "e") else router.call(ctx, "stale")
    t = ctx.t
    rows: list[tuple[Button, ...]] = [
        (
            Button(t.pgettext("button", "✏️ Title"), action("edit", kind, item_id, "title")),
            Button(
                t.pgettext("button", "✏️ Description"), action("edit", kind, item_id, "description")
            ),
        ),
        (
            Button(t.pgettext("button", "✏️ Place"), action("edit", kind, item_id, "place")),
            Button(t.pgettext("button", "✏️ Address"), action("edit", kind, item_id, "address")),
        ),
    ]
    if isinstance(item, Event):
        rows.append(
            (Button(t.pgettext("button", "✏️ Time"), action("edit", kind, item_id, "when")),)
        )
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


EDITABLE = {
    "title": "title",
    "description": "description",
    "place": "place_name",
    "address": "address",
    "when": "starts_at",
}


@router.on_action("edit", str, int, str)
def edit_field(ctx: Context, kind: str, item_id: int, field: str) -> list[Reply]:
    """Ask for the new value of one field."""
    item = _item(ctx, kind, item_id)
    if item is None or field not in EDITABLE or (field == "when" and kind != "e"):
        return not_allowed(ctx) if item is None else router.call(ctx, "stale")
    ctx.start_flow(PUBLISH, "edit_value", edit={"kind": kind, "id": item_id, "field": field})
    return _ask_edit(ctx, field)


def _ask_edit(ctx: Context, field: str) -> list[Reply]:
    """Ask for the new value of a field, with only a way to stop."""
    return [Reply(_ask(ctx, field)[0].text, buttons=((_cancel_button(ctx),),))]


def _apply_edit(ctx: Context, text: str) -> list[Reply]:
    edit = ctx.flow_data.get("edit", {})
    item = _item(ctx, edit.get("kind", ""), edit.get("id", 0))
    field = edit.get("field")
    if item is None or field not in EDITABLE:
        ctx.end_flow()
        return not_allowed(ctx)
    problem = _length_problem(ctx, field, text)
    if problem:
        return [Reply(problem), *_ask_edit(ctx, field)]
    t = ctx.t
    if field == "when":
        value, problem = _read(ctx, "when", text)
        if problem:
            return [Reply(problem), *_ask_edit(ctx, field)]
        assert isinstance(item, Event)
        starts = datetime.fromisoformat(value)
        if item.starts_at == starts:
            ctx.end_flow()
            unchanged = t._(
                "Nothing changed: the start is already %(when)s. Nobody was told.",
                when=t.datetime(starts),
            )
            return [Reply(unchanged), *manage_item(ctx, edit["kind"], item.id or 0)]
        length = (item.ends_at - item.starts_at) if item.ends_at else None
        item.starts_at = starts
        item.ends_at = starts + length if length else None
        item.all_day = False  # a time typed in the chat is a time of day
    else:
        if (getattr(item, EDITABLE[field]) or "") == text:
            ctx.end_flow()
            unchanged = t._("Nothing changed: it already says that. Nobody was told.")
            return [Reply(unchanged), *manage_item(ctx, edit["kind"], item.id or 0)]
        setattr(item, EDITABLE[field], text)
    outdated = mark_outdated(ctx.session, item=item, field=EDITABLE[field])
    item.updated_at = ctx.now
    saved = t._("Saved.")
    if isinstance(item, Event) and field in ("when", "place", "address"):
        told = event_changed(
            ctx.session, event=item, now=ctx.now, change="time" if field == "when" else "place"
        )
        if field == "when":
            saved = t.ngettext(
                "Saved. New start: %(when)s. %(count)s person going was told.",
                "Saved. New start: %(when)s. %(count)s people going were told.",
                told,
                when=t.datetime(item.starts_at),
            )
        else:
            saved = t.ngettext(
                "Saved. %(count)s person going was told.",
                "Saved. %(count)s people going were told.",
                told,
            )
    _reindex(ctx, edit["kind"], item.id or 0)
    audit(
        ctx.session,
        actor=ctx.user,
        action="item_edited",
        detail={"kind": edit["kind"], "id": item.id, "field": field},
        now=ctx.now,
    )
    ctx.end_flow()
    return [
        Reply(saved),
        *outdated_notice(ctx, outdated),
        *manage_item(ctx, edit["kind"], item.id or 0),
    ]


@router.on_action("cancel_ask", int)
def confirm_cancel(ctx: Context, event_id: int) -> list[Reply]:
    """Ask once more before cancelling an event."""
    event = _item(ctx, "e", event_id)
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
    event = _item(ctx, "e", event_id)
    if event is None:
        return not_allowed(ctx)
    if event.status != ItemStatus.PUBLISHED:
        return [main_menu(ctx, ctx.t._("This event is no longer available."))]
    event.status = ItemStatus.CANCELLED
    event.updated_at = ctx.now
    told = event_changed(ctx.session, event=event, now=ctx.now, change="cancelled")
    _reindex(ctx, "e", event_id)
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
    offer = _item(ctx, "o", offer_id)
    if offer is None:
        return not_allowed(ctx)
    offer.status = ItemStatus.ARCHIVED
    offer.updated_at = ctx.now
    _reindex(ctx, "o", offer_id)
    audit(
        ctx.session, actor=ctx.user, action="offer_archived", detail={"id": offer_id}, now=ctx.now
    )
    return [main_menu(ctx, ctx.t._("The offer was taken down."))]


@router.on_action("poster", str, int)
def poster(ctx: Context, kind: str, item_id: int) -> list[Reply]:
    """Send a printable poster whose QR code opens the item in the bot."""
    from bot.posters import render_poster

    item = _item(ctx, kind, item_id)
    if item is None:
        return not_allowed(ctx)
    png = render_poster(ctx.session, kind, item_id, ctx.settings, locale=ctx.t.locale)
    caption = ctx.t._("A poster for %(title)s: print it and hang it up.", title=item.title)
    return [
        Reply(caption, attachments=(Attachment(f"poster-{kind}{item_id}.png", png, "image/png"),))
    ]


# -- numbers ------------------------------------------------------------------------------------


@router.on_action("numbers")
def numbers(ctx: Context) -> list[Reply]:
    """Show aggregate counts only: followers per topic, people going, requests to help, never
    lists of people."""
    mine = organisations(ctx)
    if not mine:
        return not_allowed(ctx)
    t = ctx.t
    lines = []
    for organisation in mine:
        followers = _followers(ctx, SubscriptionKind.ORGANISATION, organisation.id or 0)
        lines.append(
            t.ngettext(
                "%(name)s: %(count)s follower.",
                "%(name)s: %(count)s followers.",
                followers,
                name=organisation.name,
            )
        )
        open_count, closed = request_counts(ctx.session, organisation_id=organisation.id or 0)
        if open_count or closed:
            lines.append(
                t.ngettext(
                    "%(name)s: %(count)s open request to help.",
                    "%(name)s: %(count)s open requests to help.",
                    open_count,
                    name=organisation.name,
                )
            )
            lines.append(
                t.ngettext(
                    "%(name)s: %(count)s request to help closed in the last %(days)s days.",
                    "%(name)s: %(count)s requests to help closed in the last %(days)s days.",
                    closed,
                    name=organisation.name,
                    days=t.number(ctx.settings.retention_help_days),
                )
            )
    for category in ctx.session.exec(select(Category).order_by(col(Category.position))).all():
        followers = _followers(ctx, SubscriptionKind.CATEGORY, category.id or 0)
        if followers:
            lines.append(
                t.ngettext(
                    "%(name)s: %(count)s follower.",
                    "%(name)s: %(count)s followers.",
                    followers,
                    name=name_in(category.names, t.locale, category.slug),
                )
            )
    events = upcoming_events_of(
        ctx.session, organisation_ids=[o.id for o in mine], now=ctx.now, limit=10
    )
    for event in events:
        lines.append(
            t.ngettext(
                "%(name)s: %(count)s person going.",
                "%(name)s: %(count)s people going.",
                going_count(ctx.session, event_id=event.id or 0),
                name=event.title,
            )
        )
    return [
        Reply(
            "\n".join(lines) or t._("No numbers yet."),
            buttons=((Button(t.pgettext("button", "🧰 Coordinator tools"), action("coord")),),),
        )
    ]


def _followers(ctx: Context, kind: str, target_id: int) -> int:
    return int(
        ctx.session.exec(
            select(func.count(col(Subscription.id))).where(
                Subscription.kind == kind, Subscription.target_id == target_id
            )
        ).one()
    )


def organisation_name(ctx: Context, organisation_id: int) -> str:
    organisation = ctx.session.get(Organisation, organisation_id)
    return organisation.name if organisation else ""
