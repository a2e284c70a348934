"""What the scheduler does: queue reminders, alerts and digests in the outbox.

The database is the one source of truth: jobs look at events and attendances as they are now,
so an event whose time changed is reminded of at its new time. Each job remembers how far it
got (a JobMark) and looks only at what fell due since then, so a tick costs what is due, not
what is stored, and after downtime the first tick catches up on everything missed.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo

from sqlalchemy import or_
from sqlmodel import Session, col, select

from bot.config import Settings
from db.models import (
    Attendance,
    AttendanceStatus,
    Event,
    ItemStatus,
    Offer,
    OutboxStatus,
    Subscription,
    SubscriptionKind,
    User,
)
from db.outbox import enqueue, get_mark, set_mark

REMINDER_MARK = "reminders"
ALERT_MARK = "alerts"
DIGEST_PERIOD = timedelta(days=7)


def queue_due_reminders(session: Session, *, now: datetime, leads: tuple[timedelta, ...]) -> int:
    """Queue the reminders whose time came since the last tick; return how many were queued.

    After downtime several leads of one event may have come at once: only the shortest is sent,
    the others are recorded as skipped so nobody gets "tomorrow" and "in two hours" together.
    """
    if not leads:
        return 0
    longest = max(leads)
    since = get_mark(session, name=REMINDER_MARK) or now - longest
    windows = [
        (col(Event.starts_at) > since + lead) & (col(Event.starts_at) <= now + lead)
        for lead in leads
    ]
    rows = session.exec(
        select(Attendance, Event, User)
        .join(Event, col(Event.id) == col(Attendance.event_id))
        .join(User, col(User.id) == col(Attendance.user_id))
        .where(
            Attendance.status == AttendanceStatus.GOING,
            Event.status == ItemStatus.PUBLISHED,
            col(Event.starts_at) > now,
            or_(*windows),
            col(User.active).is_(True),
            col(User.paused).is_(False),
        )
    ).all()
    queued = 0
    for _attendance, event, user in rows:
        queued += queue_reminders_for(
            session, user=user, event=event, now=now, leads=leads, since=since
        )
    set_mark(session, name=REMINDER_MARK, moment=now)
    return queued


def queue_reminders_for(
    session: Session,
    *,
    user: User,
    event: Event,
    now: datetime,
    leads: tuple[timedelta, ...],
    since: datetime,
) -> int:
    """Queue the reminder of `user` for `event` whose lead time fell in (since, now]."""
    due = [lead for lead in leads if since < event.starts_at - lead <= now]
    if not due:
        return 0
    shortest = min(due)
    starts = int(event.starts_at.timestamp())
    queued = 0
    for lead in due:
        minutes = int(lead.total_seconds() // 60)
        queued += (
            enqueue(
                session,
                user=user,
                kind="reminder",
                dedupe_key=f"reminder:{user.id}:{event.id}:{minutes}:{starts}",
                payload={"event_id": event.id, "lead_minutes": minutes},
                now=now,
                status=OutboxStatus.PENDING if lead == shortest else OutboxStatus.SKIPPED,
                event_id=event.id,
            )
            and lead == shortest
        )
    return queued


def after_quiet_hours(now: datetime, tz: tzinfo, quiet: tuple[time, time] | None) -> datetime:
    """Return `now`, or the end of the quiet hours if `now` falls within them (local time)."""
    if quiet is None:
        return now
    start, end = quiet
    local = now.astimezone(tz)
    clock = local.time()
    inside = (start <= clock or clock < end) if start > end else (start <= clock < end)
    if not inside:
        return now
    day = local.date() if clock < end else local.date() + timedelta(days=1)
    return datetime.combine(day, end, tzinfo=tz).astimezone(now.tzinfo)


def _followers(
    session: Session,
    *,
    category_id: int | None,
    district_id: int | None,
    organisation_id: int,
    mode: str,
) -> list[User]:
    targets = [
        (Subscription.kind == SubscriptionKind.ORGANISATION)
        & (Subscription.target_id == organisation_id)
    ]
    if category_id is not None:
        targets.append(
            (Subscription.kind == SubscriptionKind.CATEGORY)
            & (Subscription.target_id == category_id)
        )
    if district_id is not None:
        targets.append(
            (Subscription.kind == SubscriptionKind.DISTRICT)
            & (Subscription.target_id == district_id)
        )
    return list(
        session.exec(
            select(User)
            .join(Subscription, col(Subscription.user_id) == col(User.id))
            .where(
                or_(*targets),
                col(User.active).is_(True),
                col(User.paused).is_(False),
                User.alert_mode == mode,
            )
            .distinct()
        ).all()
    )


def _user_tz(user: User, settings: Settings) -> tzinfo:
    if user.timezone:
        try:
            return ZoneInfo(user.timezone)
        except (KeyError, ValueError):
            pass
    return settings.tz


def queue_new_item_alerts(session: Session, *, now: datetime, settings: Settings) -> int:
    """Tell followers who want instant news about offers and events published since last time."""
    since = get_mark(session, name=ALERT_MARK)
    set_mark(session, name=ALERT_MARK, moment=now)
    if since is None:  # first run: nothing is "new" yet
        return 0
    queued = 0
    offers = session.exec(
        select(Offer).where(
            Offer.status == ItemStatus.PUBLISHED,
            col(Offer.published_at) > since,
            col(Offer.published_at) <= now,
        )
    ).all()
    events = session.exec(
        select(Event).where(
            Event.status == ItemStatus.PUBLISHED,
            col(Event.published_at) > since,
            col(Event.published_at) <= now,
            col(Event.starts_at) > now,
        )
    ).all()
    items: list[tuple[str, Offer | Event]] = [("o", o) for o in offers] + [("e", e) for e in events]
    for letter, item in items:
        for user in _followers(
            session,
            category_id=item.category_id,
            district_id=item.district_id,
            organisation_id=item.organisation_id,
            mode="instant",
        ):
            queued += enqueue(
                session,
                user=user,
                kind="alert",
                dedupe_key=f"alert:{user.id}:{letter}:{item.id}",
                payload={"item": letter, "id": item.id},
                now=now,
                not_before=after_quiet_hours(now, _user_tz(user, settings), settings.quiet),
            )
    return queued


def queue_digests(session: Session, *, now: datetime, settings: Settings) -> int:
    """Queue each digest reader's weekly news: what was published for what they follow."""
    readers = session.exec(
        select(User).where(
            User.alert_mode == "digest",
            col(User.active).is_(True),
            col(User.paused).is_(False),
            col(User.id).in_(select(Subscription.user_id)),
        )
    ).all()
    queued = 0
    for user in readers:
        since = user.digest_sent_at or now - DIGEST_PERIOD
        subscriptions = session.exec(
            select(Subscription).where(Subscription.user_id == user.id)
        ).all()
        offer_ids = _matching(session, Offer, subscriptions, since=since, now=now)
        event_ids = _matching(session, Event, subscriptions, since=since, now=now)
        user.digest_sent_at = now
        if not offer_ids and not event_ids:
            continue
        local_day = now.astimezone(_user_tz(user, settings)).date().isoformat()
        queued += enqueue(
            session,
            user=user,
            kind="digest",
            dedupe_key=f"digest:{user.id}:{local_day}",
            payload={"offers": offer_ids, "events": event_ids},
            now=now,
            not_before=after_quiet_hours(now, _user_tz(user, settings), settings.quiet),
        )
    return queued


def _matching(
    session: Session,
    model: type[Offer] | type[Event],
    subscriptions: Sequence[Subscription],
    *,
    since: datetime,
    now: datetime,
) -> list[int]:
    by_kind = {
        SubscriptionKind.CATEGORY: model.category_id,
        SubscriptionKind.DISTRICT: model.district_id,
        SubscriptionKind.ORGANISATION: model.organisation_id,
    }
    targets = [col(by_kind[SubscriptionKind(s.kind)]) == s.target_id for s in subscriptions]
    if not targets:
        return []
    conditions = [
        model.status == ItemStatus.PUBLISHED,
        col(model.published_at) > since,
        col(model.published_at) <= now,
        or_(*targets),
    ]
    if model is Event:
        conditions.append(col(Event.starts_at) > now)
    return [row for row in session.exec(select(model.id).where(*conditions).limit(20)).all()]
