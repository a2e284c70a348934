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
from db.outbox import NewMessage, enqueue, enqueue_many, get_mark, set_mark

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
        select(Event, User)  # each (event, user) once: attendances are unique per user and event
        .select_from(Attendance)
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
    # Performance: every reminder of the tick goes into the outbox in one multi-row INSERT
    # (`enqueue_many`) rather than one query, savepoint and insert each; with 5,000 due this
    # is what keeps the database thread, and every conversation waiting on it, free.
    messages = [
        message
        for event, user in rows
        for message in _reminder_messages(user=user, event=event, now=now, leads=leads, since=since)
    ]
    queued = _count_pending(enqueue_many(session, messages, now=now), messages)
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
    messages = _reminder_messages(user=user, event=event, now=now, leads=leads, since=since)
    return _count_pending(enqueue_many(session, messages, now=now), messages)


def _reminder_messages(
    *, user: User, event: Event, now: datetime, leads: tuple[timedelta, ...], since: datetime
) -> list[NewMessage]:
    """The reminders of `user` for `event` whose lead time fell in (since, now]: the shortest
    lead to send, any longer one (missed while the bot was down) recorded as skipped."""
    due = [lead for lead in leads if since < event.starts_at - lead <= now]
    if not due:
        return []
    shortest = min(due)
    starts = int(event.starts_at.timestamp())
    messages = []
    for lead in due:
        minutes = int(lead.total_seconds() // 60)
        messages.append(
            NewMessage(
                user=user,
                kind="reminder",
                dedupe_key=f"reminder:{user.id}:{event.id}:{minutes}:{starts}",
                payload={"event_id": event.id, "lead_minutes": minutes},
                status=OutboxStatus.PENDING if lead == shortest else OutboxStatus.SKIPPED,
                event_id=event.id,
            )
        )
    return messages


def _count_pending(queued: set[str], messages: list[NewMessage]) -> int:
    """How many of the newly queued messages will be sent (skipped ones are only records)."""
    return sum(1 for m in messages if m.dedupe_key in queued and m.status == OutboxStatus.PENDING)


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
        # One multi-row INSERT per item, however many follow it (see `enqueue_many`).
        queued += len(
            enqueue_many(
                session,
                [
                    NewMessage(
                        user=user,
                        kind="alert",
                        dedupe_key=f"alert:{user.id}:{letter}:{item.id}",
                        payload={"item": letter, "id": item.id},
                        not_before=after_quiet_hours(now, _user_tz(user, settings), settings.quiet),
                    )
                    for user in _followers(
                        session,
                        category_id=item.category_id,
                        district_id=item.district_id,
                        organisation_id=item.organisation_id,
                        mode="instant",
                    )
                ],
                now=now,
            )
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
