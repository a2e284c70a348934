"""Upcoming events, page by page, all or by topic, and each event in detail."""

from __future__ import annotations

from bot.messages import Button, Reply
from db.attendance import attendance_of, going_count, waiting_position
from db.models import (
    AttendanceStatus,
    Category,
    Event,
    ItemStatus,
    Offer,
    Organisation,
    SubscriptionKind,
)
from db.queries import Page, categories_with_events, event_titles, upcoming_events
from handlers.actions import action
from handlers.calendar import calendar_button
from handlers.content import event_texts, originals_note, untranslated_note
from handlers.context import Context
from handlers.roles import acts_for
from handlers.router import router
from handlers.subscriptions import follow_button
from handlers.ui import (
    main_menu,
    menu_button,
    name_in,
    pager_row,
    place_of,
    topic_buttons,
    where_text,
    with_page_line,
)

PAGE_SIZE = 5


@router.on_action("events", commands=("events",))
def list_events(ctx: Context) -> list[Reply]:
    """Show the first page of upcoming events."""
    return events_page(ctx, 0)


@router.on_action("evs", int)
def events_page(ctx: Context, page: int) -> list[Reply]:
    """Show one page of upcoming events, soonest first."""
    t = ctx.t
    found = upcoming_events(ctx.session, now=ctx.now, page=page, size=PAGE_SIZE)
    if not found.items:
        return [main_menu(ctx, t._("There are no upcoming events right now."))]
    titles = _titles(ctx, found)
    rows = _event_rows(ctx, found, titles)
    rows.append((Button(t.pgettext("button", "🏷 By topic"), action("ecats")), menu_button(t)))
    if nav := pager_row(t, found, "evs"):
        rows.append(nav)  # last, so "previous" and "next" keep their numbers (handlers/ui.py)
    heading = t.ngettext("%(count)s upcoming event.", "%(count)s upcoming events.", found.total)
    return [Reply(_list_text(ctx, heading, found, titles), buttons=tuple(rows), replace=True)]


@router.on_action("ecats")
def event_topics(ctx: Context) -> list[Reply]:
    """List the topics that have upcoming events, with how many each has."""
    t = ctx.t
    rows = topic_buttons(t, categories_with_events(ctx.session, now=ctx.now), "ec")
    back = Button(t.pgettext("button", "◀ All events"), action("events"))
    rows.append((back, menu_button(t)))
    return [Reply(t._("Choose a topic:"), buttons=tuple(rows), replace=True)]


@router.on_action("ec", int, int)
def events_in_topic(ctx: Context, category_id: int, page: int) -> list[Reply]:
    """Show one page of the upcoming events of a topic, soonest first."""
    t = ctx.t
    category = ctx.session.get(Category, category_id)
    if category is None:
        return router.call(ctx, "stale")
    found = upcoming_events(
        ctx.session, now=ctx.now, page=page, size=PAGE_SIZE, category_id=category_id
    )
    back = Button(t.pgettext("button", "◀ Topics"), action("ecats"))
    if not found.items:
        text = t._("There are no upcoming events in this topic right now.")
        return [Reply(text, buttons=((back, menu_button(t)),), replace=True)]
    titles = _titles(ctx, found)
    rows = _event_rows(ctx, found, titles)
    rows.append((follow_button(ctx, SubscriptionKind.CATEGORY, category_id),))
    rows.append((back, menu_button(t)))
    if nav := pager_row(t, found, "ec", category_id):
        rows.append(nav)  # last, so "previous" and "next" keep their numbers (handlers/ui.py)
    heading = t.ngettext(
        "%(count)s upcoming event in the topic %(topic)s.",
        "%(count)s upcoming events in the topic %(topic)s.",
        found.total,
        topic=name_in(category.names, t.locale, category.slug),
    )
    return [Reply(_list_text(ctx, heading, found, titles), buttons=tuple(rows), replace=True)]


def _titles(ctx: Context, found: Page[Event]) -> dict[int, str]:
    """The titles of a page's events in the user's language, where they have one."""
    ids = [e.id for e in found.items if e.id]
    return event_titles(ctx.session, event_ids=ids, locale=ctx.t.locale)


def _event_rows(
    ctx: Context, found: Page[Event], titles: dict[int, str]
) -> list[tuple[Button, ...]]:
    """Return one button per event of a page: its date and its title in the user's language."""
    t = ctx.t
    return [
        (
            Button(
                t.pgettext(
                    "event button",
                    "%(date)s · %(title)s",
                    date=t.short_datetime(event.starts_at, all_day=event.all_day),
                    title=titles.get(event.id or 0, event.title),
                ),
                action("e", event.id or 0),
            ),
        )
        for event in found.items
    ]


def _list_text(ctx: Context, heading: str, found: Page[Event], titles: dict[int, str]) -> str:
    """The list's heading and page line, and which language untranslated titles are in."""
    text = with_page_line(ctx.t, heading, found)
    if note := originals_note(ctx, (e.locale for e in found.items if e.id not in titles)):
        text = f"{text}\n{note}"
    return text


@router.on_action("e", int)
def event_detail(ctx: Context, event_id: int) -> list[Reply]:
    """Show one event: when, where, who organises it, and what it is about."""
    t = ctx.t
    event = ctx.session.get(Event, event_id)
    if event is None or not visible(ctx, event):
        return [main_menu(ctx, t._("This event is no longer available."))]
    organisation = ctx.session.get(Organisation, event.organisation_id)
    texts = event_texts(ctx, event)
    lines = [f"📅 {t.isolate(texts.title)}"]
    if event.status == ItemStatus.CANCELLED:
        lines.append(t._("This event has been cancelled."))
    if note := untranslated_note(ctx, texts):
        lines.append(note)
    if event.starts_at >= ctx.now:
        lines.append(
            t._(
                "When: %(when)s (%(relative)s)",
                when=t.datetime(event.starts_at, all_day=event.all_day),
                relative=t.relative(event.starts_at, ctx.now),
            )
        )
    else:
        lines.append(
            t._(
                "When: %(when)s (already started)",
                when=t.datetime(event.starts_at, all_day=event.all_day),
            )
        )
    if event.ends_at and not event.all_day:
        lines.append(t.until(event.starts_at, event.ends_at))
    place = place_of(event)
    if place is not None:
        lines.append(t._("Where: %(place)s", place=where_text(event)))
    if organisation:
        lines.append(t._("Organised by: %(name)s", name=organisation.name))
    if texts.summary:
        lines.append(t.isolate(texts.summary))
    if texts.description:
        lines.append(t.isolate(texts.description))
    rows: list[tuple[Button, ...]] = []
    if event.status == ItemStatus.PUBLISHED:
        status_line, sign_up = _attendance(ctx, event)
        lines.append(status_line)
        if sign_up is not None:
            rows.append((sign_up,))
    if event.status in (ItemStatus.PUBLISHED, ItemStatus.CANCELLED):
        rows.append((calendar_button(ctx, event_id),))
    back = Button(t.pgettext("button", "◀ All events"), action("events"))
    rows.extend([(back,), (menu_button(t),)])
    return [Reply("\n\n".join(lines), buttons=tuple(rows), place=place)]


def visible(ctx: Context, item: Event | Offer) -> bool:
    """Published and cancelled items show to everyone; drafts only to their coordinators."""
    if item.status in (ItemStatus.PUBLISHED, ItemStatus.CANCELLED):
        return True
    return item.status == ItemStatus.DRAFT and acts_for(ctx, item.organisation_id)


def _attendance(ctx: Context, event: Event) -> tuple[str, Button | None]:
    """Say how many are going and where the user stands, and offer what they can do."""
    t = ctx.t
    assert event.id is not None and ctx.user.id is not None
    count = going_count(ctx.session, event_id=event.id)
    lines = [t.ngettext("%(count)s person is going.", "%(count)s people are going.", count)]
    full = event.capacity is not None and count >= event.capacity
    if event.capacity is not None:
        if full:
            lines.append(t._("The event is full; you can join the waiting list."))
        else:
            free = event.capacity - count
            lines.append(t.ngettext("%(count)s place left.", "%(count)s places left.", free))
    mine = attendance_of(ctx.session, user_id=ctx.user.id, event_id=event.id)
    started = event.starts_at <= ctx.now
    if mine is not None and mine.status == AttendanceStatus.GOING:
        lines.append(t._("You are going."))
        button = Button(t.pgettext("button", "❌ Can't come"), action("nogo", event.id))
    elif mine is not None:
        lines.append(
            t._(
                "You are number %(position)s on the waiting list.",
                position=t.number(waiting_position(ctx.session, attendance=mine)),
            )
        )
        button = Button(t.pgettext("button", "❌ Leave the waiting list"), action("nogo", event.id))
    elif started:
        button = None
    elif full:
        button = Button(t.pgettext("button", "⏳ Join the waiting list"), action("go", event.id))
    else:
        button = Button(t.pgettext("button", "✋ I'm going"), action("go", event.id))
    return " ".join(lines), button
