"""Following topics, districts and organisations, and how news of them arrives."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import col, select

from bot.config import WEEKDAYS, Settings, parse_clock_time
from bot.messages import Button, Reply
from db.attendance import attendance_of
from db.models import (
    Attendance,
    AttendanceStatus,
    Category,
    District,
    Event,
    ItemStatus,
    Organisation,
    Subscription,
    SubscriptionKind,
)
from handlers.actions import action
from handlers.context import Context
from handlers.router import router
from handlers.ui import main_menu, menu_button, name_in

# One letter per kind keeps action ids short: fol:c:3 follows category 3.
KIND_LETTERS = {
    "c": SubscriptionKind.CATEGORY,
    "d": SubscriptionKind.DISTRICT,
    "g": SubscriptionKind.ORGANISATION,
}
LETTER_OF = {kind: letter for letter, kind in KIND_LETTERS.items()}
MODELS = {
    SubscriptionKind.CATEGORY: Category,
    SubscriptionKind.DISTRICT: District,
    SubscriptionKind.ORGANISATION: Organisation,
}


def target_name(ctx: Context, kind: str, target: Category | District | Organisation) -> str:
    if kind == SubscriptionKind.ORGANISATION:
        return target.name
    return name_in(target.names, ctx.t.locale, target.slug)


def find_subscription(ctx: Context, kind: str, target_id: int) -> Subscription | None:
    return ctx.session.exec(
        select(Subscription).where(
            Subscription.user_id == ctx.user.id,
            Subscription.kind == kind,
            Subscription.target_id == target_id,
        )
    ).first()


def follow_button(ctx: Context, kind: str, target_id: int) -> Button:
    """Return "follow" or "unfollow" for a topic, district or organisation, as it stands."""
    letter = LETTER_OF[SubscriptionKind(kind)]
    if find_subscription(ctx, kind, target_id):
        return Button(ctx.t.pgettext("button", "🔕 Unfollow"), action("unf", letter, target_id))
    return Button(ctx.t.pgettext("button", "🔔 Follow"), action("fol", letter, target_id))


@router.on_action("fol", str, int)
def follow(ctx: Context, letter: str, target_id: int) -> list[Reply]:
    """Follow a topic, district or organisation."""
    kind = KIND_LETTERS.get(letter)
    target = ctx.session.get(MODELS[kind], target_id) if kind else None
    if kind is None or target is None:
        return router.call(ctx, "stale")
    if find_subscription(ctx, kind, target_id) is None:
        ctx.session.add(
            Subscription(
                user_id=ctx.user.id or 0, kind=kind, target_id=target_id, created_at=ctx.now
            )
        )
    t = ctx.t
    name = target_name(ctx, kind, target)
    if ctx.user.alert_mode == "instant":
        text = t._(
            "You now follow %(name)s. I will tell you about new offers and events as "
            "soon as they are published.",
            name=name,
        )
    else:
        text = t._("You now follow %(name)s. Once a week I will send you what is new.", name=name)
    return [main_menu(ctx, text)]


@router.on_action("unf", str, int)
def unfollow(ctx: Context, letter: str, target_id: int) -> list[Reply]:
    """Stop following a topic, district or organisation."""
    kind = KIND_LETTERS.get(letter)
    target = ctx.session.get(MODELS[kind], target_id) if kind else None
    if kind is None or target is None:
        return router.call(ctx, "stale")
    found = find_subscription(ctx, kind, target_id)
    if found is not None:
        ctx.session.delete(found)
        ctx.session.flush()
    text = ctx.t._("You no longer follow %(name)s.", name=target_name(ctx, kind, target))
    return [*my_subscriptions(ctx, intro=text)]


@router.on_action("subs", commands=("subscriptions", "following"))
def my_subscriptions(ctx: Context, intro: str | None = None) -> list[Reply]:
    """Show what the user follows and the events they go to, each with a way to undo it."""
    t = ctx.t
    subscriptions = ctx.session.exec(
        select(Subscription)
        .where(Subscription.user_id == ctx.user.id)
        .order_by(col(Subscription.created_at))
    ).all()
    rows: list[tuple[Button, ...]] = []
    for subscription in subscriptions:
        target = ctx.session.get(
            MODELS[SubscriptionKind(subscription.kind)], subscription.target_id
        )
        if target is None:
            continue
        label = t.pgettext(
            "button", "🔕 Unfollow %(name)s", name=target_name(ctx, subscription.kind, target)
        )
        rows.append(
            (
                Button(
                    label,
                    action(
                        "unf",
                        LETTER_OF[SubscriptionKind(subscription.kind)],
                        subscription.target_id,
                    ),
                ),
            )
        )
    going = ctx.session.exec(
        select(Event)
        .join(Attendance, col(Attendance.event_id) == col(Event.id))
        .where(
            Attendance.user_id == ctx.user.id,
            Event.status == ItemStatus.PUBLISHED,
            col(Event.starts_at) > ctx.now,
        )
        .order_by(col(Event.starts_at))
    ).all()
    for event in going:
        found = attendance_of(ctx.session, user_id=ctx.user.id or 0, event_id=event.id or 0)
        label = t.pgettext(
            "event button",
            "%(date)s · %(title)s",
            date=t.short_datetime(event.starts_at, all_day=event.all_day),
            title=event.title,
        )
        if found and found.status == AttendanceStatus.WAITING:
            label = t.pgettext("button", "⏳ %(event)s", event=label)
        rows.append((Button(label, action("e", event.id or 0)),))
    lines = [intro] if intro else []
    if not rows:
        lines.append(
            t._("You do not follow anything yet. Open a topic or a district and tap Follow.")
        )
    else:
        lines.append(
            t.ngettext(
                "You follow %(count)s topic, district or organisation.",
                "You follow %(count)s topics, districts or organisations.",
                len(subscriptions),
            )
        )
    if ctx.user.alert_mode == "instant":
        lines.append(t._("News arrives as soon as it is published."))
        mode = Button(t.pgettext("button", "🗓 Weekly summary instead"), action("amode", "digest"))
    else:
        lines.append(
            t._(
                "News arrives once a week; the next summary comes on %(when)s.",
                when=t.datetime(next_digest(ctx.settings, ctx.now)),
            )
        )
        mode = Button(
            t.pgettext("button", "⚡ Tell me at once instead"), action("amode", "instant")
        )
    rows.append((mode,))
    rows.append((menu_button(t),))
    return [Reply("\n".join(lines), buttons=tuple(rows))]


def next_digest(settings: Settings, now: datetime) -> datetime:
    """Return when the weekly summary is next sent, by the configured weekday and time."""
    local = now.astimezone(settings.tz)
    at = parse_clock_time(settings.digest_time)
    days_ahead = (WEEKDAYS.index(settings.digest_weekday) - local.weekday()) % 7
    moment = datetime.combine(local.date() + timedelta(days=days_ahead), at, tzinfo=settings.tz)
    if moment <= local:
        moment = datetime.combine(moment.date() + timedelta(days=7), at, tzinfo=settings.tz)
    return moment


@router.on_action("amode", str)
def alert_mode(ctx: Context, mode: str) -> list[Reply]:
    """Choose between news at once and a weekly summary."""
    if mode not in ("instant", "digest"):
        return router.call(ctx, "stale")
    ctx.user.alert_mode = mode
    return my_subscriptions(ctx)
