"""What the scheduler does: queue reminders, alerts and digests in the outbox.

The database is the one source of truth: jobs look at events and attendances as they are now,
so an event whose time changed is reminded of at its new time. Each job remembers how far it
got (a JobMark) and looks only at what fell due since then, so a tick costs what is due, not
what is stored, and after downtime the first tick catches up on everything missed.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta, tzinfo
from operator import itemgetter
from zoneinfo import ZoneInfo

from sqlalchemy import exists, or_, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from bot.config import Settings
from db.engine import session_scope
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
from db.outbox import NewMessage, enqueue_many, get_mark, set_mark

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
    return queue_alerts_for(session, items, now=now, settings=settings)


def queue_alerts_for(
    session: Session,
    items: list[tuple[str, Offer | Event]],
    *,
    now: datetime,
    settings: Settings,
) -> int:
    """Queue the alerts of instant followers for these ("o" or "e", item) pairs, each once:
    the key is the same whoever queues it, the alert job or an import (whose transaction may
    commit after the job's tick has already moved past the items' publication time)."""
    queued = 0
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


# Readers whose weekly news one slice queues: a few set-based queries and one multi-row INSERT
# for them all, about 15 ms on two cores (50 when the machine is busy), so conversations are
# answered between two slices. Most of it is Python (ORM rows and the outbox INSERT), about
# 0.15 ms a reader, so a bigger slice saves little and holds the database thread longer.
DIGEST_READERS_PER_SLICE = 100
# Offers, and events, that one digest lists at most.
DIGEST_ITEMS = 20


@dataclass(frozen=True)
class DigestSlice:
    """What one slice of the digest did: digests queued, the last reader, whether more remain."""

    queued: int
    last_id: int
    more: bool


def queue_digest_slice(
    session: Session,
    *,
    now: datetime,
    settings: Settings,
    after_id: int = 0,
    limit: int = DIGEST_READERS_PER_SLICE,
) -> DigestSlice:
    """Queue the weekly news of the next `limit` digest readers after `after_id`, in id order.

    A reader's news is what was published since their last digest (or in the last week) for
    what they follow, events only while still to come, at most 20 of each in the order they
    were published. A slice costs the same few statements however many readers it holds: the
    readers, their subscriptions, the offers and the events published since the earliest of
    their last digests (a week's news: few), `enqueue_many`'s look-up and multi-row INSERT, and
    one UPDATE that marks their digest sent. Matching is done here, in dictionaries.
    """
    readers = list(
        session.exec(
            select(User)
            .where(
                col(User.id) > after_id,
                User.alert_mode == "digest",
                col(User.active).is_(True),
                col(User.paused).is_(False),
                exists().where(col(Subscription.user_id) == col(User.id)),
            )
            .order_by(col(User.id))
            .limit(limit + 1)
        ).all()
    )
    more = len(readers) > limit
    readers = readers[:limit]
    if not readers:
        return DigestSlice(queued=0, last_id=after_id, more=False)
    reader_ids = [user.id for user in readers]
    since = {user.id: user.digest_sent_at or now - DIGEST_PERIOD for user in readers}
    follows: dict[int, list[tuple[str, int]]] = defaultdict(list)
    for user_id, kind, target_id in session.exec(
        select(Subscription.user_id, Subscription.kind, Subscription.target_id).where(
            col(Subscription.user_id).in_(reader_ids)
        )
    ).all():
        follows[user_id].append((kind, target_id))
    earliest = min(since.values())
    offers = _News(session, Offer, since=earliest, now=now)
    events = _News(session, Event, since=earliest, now=now)
    messages = []
    for user in readers:
        offer_ids = offers.for_reader(follows[user.id], since=since[user.id])
        event_ids = events.for_reader(follows[user.id], since=since[user.id])
        if not offer_ids and not event_ids:
            continue
        tz = _user_tz(user, settings)
        messages.append(
            NewMessage(
                user=user,
                kind="digest",
                dedupe_key=f"digest:{user.id}:{now.astimezone(tz).date().isoformat()}",
                payload={"offers": offer_ids, "events": event_ids},
                not_before=after_quiet_hours(now, tz, settings.quiet),
            )
        )
    queued = len(enqueue_many(session, messages, now=now))
    # The readers loaded above are not used again: no need to update them in memory too.
    session.execute(
        update(User).where(col(User.id).in_(reader_ids)).values(digest_sent_at=now),
        execution_options={"synchronize_session": False},
    )
    return DigestSlice(queued=queued, last_id=reader_ids[-1] or 0, more=more)


class _News:
    """The offers or events published in a period, found by what a reader follows."""

    def __init__(
        self,
        session: Session,
        model: type[Offer] | type[Event],
        *,
        since: datetime,
        now: datetime,
    ) -> None:
        conditions = [
            model.status == ItemStatus.PUBLISHED,
            col(model.published_at) > since,
            col(model.published_at) <= now,
        ]
        if model is Event:
            conditions.append(col(Event.starts_at) > now)
        rows = session.exec(
            select(
                model.id,
                model.published_at,
                model.category_id,
                model.district_id,
                model.organisation_id,
            )
            .where(*conditions)
            .order_by(col(model.published_at), col(model.id))
        ).all()
        # (kind, target id) -> [(published_at, id)], in the order they were published
        self._by_target: dict[tuple[str, int], list[tuple[datetime, int]]] = defaultdict(list)
        for item_id, published_at, category_id, district_id, organisation_id in rows:
            for kind, target_id in (
                (SubscriptionKind.CATEGORY, category_id),
                (SubscriptionKind.DISTRICT, district_id),
                (SubscriptionKind.ORGANISATION, organisation_id),
            ):
                if target_id is not None:
                    self._by_target[(kind, target_id)].append((published_at, item_id))

    def for_reader(self, follows: Sequence[tuple[str, int]], *, since: datetime) -> list[int]:
        """The ids of at most 20 items published after `since` for any of `follows`."""
        found: set[tuple[datetime, int]] = set()
        for target in follows:
            items = self._by_target.get(target, [])
            found.update(items[bisect_right(items, since, key=itemgetter(0)) :])
        return [item_id for _, item_id in sorted(found)[:DIGEST_ITEMS]]


class DigestRun:
    """The weekly digest, one slice of readers at a time; each slice its own transaction.

    Readers are taken in id order after the last one done, so a run interrupted half-way and
    started again sends the second half and nothing twice: the first half's readers have their
    digest marked sent and get only what is newer.
    """

    def __init__(
        self, *, now: datetime, settings: Settings, limit: int = DIGEST_READERS_PER_SLICE
    ) -> None:
        self.now = now
        self.settings = settings
        self.limit = limit
        self.queued = 0
        self._after_id = 0

    def next_slice(self, engine: Engine) -> bool:
        """Do the next slice in a transaction of its own; return whether more remain."""
        with session_scope(engine) as session:
            result = queue_digest_slice(
                session,
                now=self.now,
                settings=self.settings,
                after_id=self._after_id,
                limit=self.limit,
            )
        # Only now that the slice is committed does the run move past it.
        self.queued += result.queued
        self._after_id = result.last_id
        return result.more
