"""The outbox: every message the bot sends on its own is a row first, and leaves it once sent.

Rows are claimed in one short transaction, sent with no transaction open, and their outcome is
recorded in another. Only the process that holds a messenger's delivery lock (db/locks.py)
claims that messenger's rows, and a claim cannot take a row twice even without that lock: on
PostgreSQL the candidates are locked with `FOR UPDATE SKIP LOCKED` (a second claimer passes over
rows another has locked and takes the next ones, without waiting), on SQLite (one writer at a
time) the claim is a compare-and-set on the status. A crash between claim and send leaves the
row `sending`; the next holder of the lock puts such rows back in the queue when it takes over,
so at most the messages in flight at a crash can arrive twice.

Rows wait in three lanes: conversation-bound notices (reminders, promotions, answers to people,
event changes) are claimed first, then the Telegram messages of urgent announcements (sent as
paid broadcasts, far faster), then bulk ones (announcements, news), so a large announcement
never holds a reminder back by more than one claim, and an urgent one does not wait behind an
ordinary one.
"""

from __future__ import annotations

import random
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from db.models import JobMark, OutboxMessage, OutboxStatus, User

RETRY_BASE = timedelta(seconds=30)
RETRY_CAP = timedelta(hours=1)

CONVERSATION_LANE = 0
URGENT_LANE = 1
BULK_LANE = 2
# Messages to many people at once; everything else concerns something a person is doing.
BULK_KINDS = frozenset({"broadcast", "alert", "digest"})


# Notices telling the admins that a messenger limits the bot: they go out while the others
# wait out that limit (the limit may spare a chat with someone who wrote to the bot).
LIMIT_NOTICE_KINDS = frozenset({"send_limit", "send_challenge"})


def lane_of(kind: str) -> int:
    """Return the lane a kind of message waits in."""
    return BULK_LANE if kind in BULK_KINDS else CONVERSATION_LANE


def enqueue(
    session: Session,
    *,
    user: User,
    kind: str,
    dedupe_key: str,
    payload: dict[str, Any],
    now: datetime,
    not_before: datetime | None = None,
    status: str = OutboxStatus.PENDING,
    event_id: int | None = None,
    broadcast_id: int | None = None,
    lane: int | None = None,
) -> bool:
    """Queue a message unless one with the same dedupe key exists; return whether it was new.

    It waits in its kind's lane, or in `lane` when given."""
    assert user.id is not None
    exists = session.exec(
        select(OutboxMessage.id).where(OutboxMessage.dedupe_key == dedupe_key)
    ).first()
    if exists is not None:
        return False
    row = OutboxMessage(
        user_id=user.id,
        transport=user.transport,
        kind=kind,
        event_id=event_id,
        broadcast_id=broadcast_id,
        dedupe_key=dedupe_key,
        payload=payload,
        status=status,
        lane=lane_of(kind) if lane is None else lane,
        next_attempt_at=not_before or now,
        created_at=now,
    )
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:  # queued by someone else in the meantime
        return False
    return True


@dataclass(frozen=True)
class NewMessage:
    """One message for `enqueue_many`: the same fields `enqueue` takes."""

    user: User
    kind: str
    dedupe_key: str
    payload: dict[str, Any]
    not_before: datetime | None = None
    status: str = OutboxStatus.PENDING
    event_id: int | None = None
    broadcast_id: int | None = None
    # Another lane than the kind's (URGENT_LANE for an urgent announcement's Telegram rows).
    lane: int | None = None


# How many dedupe keys one query looks up (SQLite allows 32,766 parameters, PostgreSQL 65,535).
_KEYS_PER_QUERY = 500


def enqueue_many(session: Session, messages: Iterable[NewMessage], *, now: datetime) -> set[str]:
    """Queue many messages at once, skipping dedupe keys that exist; return the keys queued.

    The same as calling `enqueue` for each, in far fewer statements: one query per 500 keys
    finds those queued already and one multi-row INSERT adds the rest. Row by row, 5,000
    reminders kept the database thread (and so every conversation) busy for about 3 s; this
    takes a small fraction of that (benchmarks/RESULTS.md, "Scheduler"). If another process
    queued one of them in the meantime, the insert is undone and `enqueue` goes row by row.
    """
    new: dict[str, NewMessage] = {}
    for message in messages:
        new.setdefault(message.dedupe_key, message)  # a key given twice is queued once
    keys = list(new)
    for start in range(0, len(keys), _KEYS_PER_QUERY):
        chunk = keys[start : start + _KEYS_PER_QUERY]
        for key in session.exec(
            select(OutboxMessage.dedupe_key).where(col(OutboxMessage.dedupe_key).in_(chunk))
        ).all():
            new.pop(key, None)
    if not new:
        return set()
    rows = []
    for message in new.values():
        assert message.user.id is not None
        rows.append(
            {
                "user_id": message.user.id,
                "transport": message.user.transport,
                "kind": message.kind,
                "event_id": message.event_id,
                "broadcast_id": message.broadcast_id,
                "dedupe_key": message.dedupe_key,
                "payload": message.payload,
                "status": message.status,
                "lane": lane_of(message.kind) if message.lane is None else message.lane,
                "attempts": 0,
                "parts_sent": 0,
                "next_attempt_at": message.not_before or now,
                "created_at": now,
            }
        )
    try:
        with session.begin_nested():
            session.execute(insert(OutboxMessage), rows)
    except IntegrityError:  # some were queued by someone else in the meantime
        return {
            message.dedupe_key
            for message in new.values()
            if enqueue(
                session,
                user=message.user,
                kind=message.kind,
                dedupe_key=message.dedupe_key,
                payload=message.payload,
                now=now,
                not_before=message.not_before,
                status=message.status,
                event_id=message.event_id,
                broadcast_id=message.broadcast_id,
                lane=message.lane,
            )
        }
    return set(new)


def claim_due(
    session: Session,
    *,
    transport: str,
    now: datetime,
    limit: int,
    kinds: Collection[str] | None = None,
    recipient: str | None = None,
) -> list[int]:
    """Mark up to `limit` due rows of one transport as being sent and return their ids.

    Conversation-bound rows come first, then bulk ones, each oldest first; only those of
    `kinds` when given, only those of one person (their id on that transport) with
    `recipient` (a console session delivers its own user's rows, and nobody else's). On
    PostgreSQL the candidates are locked as they are chosen, skipping rows another transaction
    holds; the update is a compare-and-set on both databases: only rows still pending are taken.
    """
    query = select(OutboxMessage.id).where(
        OutboxMessage.status == OutboxStatus.PENDING,
        OutboxMessage.transport == transport,
        OutboxMessage.next_attempt_at <= now,
    )
    if kinds is not None:
        query = query.where(col(OutboxMessage.kind).in_(sorted(kinds)))
    if recipient is not None:
        query = query.where(_of_recipient(transport, recipient))
    query = query.order_by(
        col(OutboxMessage.lane), col(OutboxMessage.next_attempt_at), col(OutboxMessage.id)
    ).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        # Without it a second claimer would wait for the first one's row locks (up to the lock
        # timeout) and then find those rows taken: nothing to send, after a stall.
        query = query.with_for_update(skip_locked=True)
    candidates = list(session.exec(query).all())
    if not candidates:
        return []
    claimed = set(
        session.execute(
            update(OutboxMessage)
            .where(
                col(OutboxMessage.id).in_(candidates),
                col(OutboxMessage.status) == OutboxStatus.PENDING,
            )
            .values(status=OutboxStatus.SENDING, claimed_at=now)
            .returning(col(OutboxMessage.id))
            .execution_options(synchronize_session=False)
        ).scalars()
    )
    return [message_id for message_id in candidates if message_id in claimed]


def release_claims(session: Session, *, transport: str, recipient: str | None = None) -> int:
    """Put one transport's rows that were being sent back in the queue (one person's only,
    with `recipient`).

    Called by the holder of the delivery lock for them only: when it takes over from a
    process that died (whose claims nobody else can finish), and when it stops itself.
    """
    query = (
        update(OutboxMessage)
        .where(
            col(OutboxMessage.status) == OutboxStatus.SENDING,
            col(OutboxMessage.transport) == transport,
        )
        .values(status=OutboxStatus.PENDING, claimed_at=None)
    )
    if recipient is not None:
        query = query.where(_of_recipient(transport, recipient))
    result = session.execute(query.execution_options(synchronize_session=False))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def _of_recipient(transport: str, recipient: str) -> Any:
    """The condition that a row is for the person known as `recipient` on `transport`."""
    return col(OutboxMessage.user_id).in_(
        select(User.id).where(User.transport == transport, User.external_id == recipient)
    )


def mark_sent(session: Session, *, message_id: int, now: datetime) -> None:
    mark_sent_many(session, message_ids=[message_id], now=now)


def mark_sent_many(
    session: Session, *, message_ids: Collection[int], now: datetime
) -> dict[int, int]:
    """Record that messages were sent, in two statements for any number of them.

    Returns the recipient (user id) of each message found. A person's words in a payload
    (a help request's answer) are kept only until they are delivered, so those rows are
    rewritten one by one; announcements and reminders carry none.
    """
    ids = sorted(set(message_ids))
    if not ids:
        return {}
    recipients: dict[int, int] = {}
    for message_id, user_id, payload in session.execute(
        select(OutboxMessage.id, OutboxMessage.user_id, OutboxMessage.payload).where(
            col(OutboxMessage.id).in_(ids)
        )
    ).all():
        recipients[message_id] = user_id
        if isinstance(payload, dict) and "text" in payload:
            session.execute(
                update(OutboxMessage)
                .where(col(OutboxMessage.id) == message_id)
                .values(payload={k: v for k, v in payload.items() if k != "text"})
                .execution_options(synchronize_session=False)
            )
    session.execute(
        update(OutboxMessage)
        .where(col(OutboxMessage.id).in_(ids))
        .values(
            status=OutboxStatus.SENT,
            sent_at=now,
            claimed_at=None,
            attempts=col(OutboxMessage.attempts) + 1,
        )
        .execution_options(synchronize_session=False)
    )
    return recipients


def mark_dropped(session: Session, *, message_id: int, reason: str) -> None:
    row = session.get(OutboxMessage, message_id)
    if row is not None:
        row.status = OutboxStatus.DROPPED
        row.last_error = reason[:200]
        row.claimed_at = None


def retry_after(
    session: Session, *, message_id: int, now: datetime, seconds: float, parts_sent: int = 0
) -> None:
    """Send again after the messenger's requested pause; this does not count as a failure.

    `parts_sent` messages of it went out already; the retry sends only the rest.
    """
    row = session.get(OutboxMessage, message_id)
    if row is not None and row.status == OutboxStatus.SENDING:
        row.parts_sent = max(row.parts_sent, parts_sent)
        row.status = OutboxStatus.PENDING
        row.claimed_at = None
        row.next_attempt_at = now + timedelta(seconds=max(seconds, 0))
        row.last_error = "rate limited"


def record_failure(
    session: Session,
    *,
    message_id: int,
    now: datetime,
    error: str,
    max_attempts: int,
    rng: random.Random | None = None,
    parts_sent: int = 0,
) -> bool:
    """Count a failed attempt; back off with jitter, or give up for good. Return True if dead.

    A row no longer being sent (dropped meanwhile, say) is left as it is.
    """
    row = session.get(OutboxMessage, message_id)
    if row is None or row.status != OutboxStatus.SENDING:
        return False
    row.parts_sent = max(row.parts_sent, parts_sent)
    row.attempts += 1
    row.claimed_at = None
    row.last_error = error[:200]
    if row.attempts >= max_attempts:
        row.status = OutboxStatus.DEAD
        return True
    delay = min(RETRY_BASE * (2 ** (row.attempts - 1)), RETRY_CAP)
    jitter = (rng or random).uniform(0.8, 1.2)
    row.status = OutboxStatus.PENDING
    row.next_attempt_at = now + delay * jitter
    return False


def drop_pending_for_user(session: Session, *, user_id: int, reason: str) -> int:
    """Drop everything still queued for a user (blocked the bot, gone, or paused)."""
    result = session.execute(
        update(OutboxMessage)
        .where(
            col(OutboxMessage.user_id) == user_id,
            col(OutboxMessage.status).in_([OutboxStatus.PENDING, OutboxStatus.SENDING]),
        )
        .values(status=OutboxStatus.DROPPED, last_error=reason[:200], claimed_at=None)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def get_mark(session: Session, *, name: str) -> datetime | None:
    row = session.get(JobMark, name)
    return row.moment if row else None


def set_mark(session: Session, *, name: str, moment: datetime) -> None:
    row = session.get(JobMark, name)
    if row is None:
        session.add(JobMark(name=name, moment=moment))
    else:
        row.moment = moment
