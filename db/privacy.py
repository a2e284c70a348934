"""Everything stored about one user: exporting it, erasing it, and retention.

Erasing a user finds their rows by index: the audit entries they wrote (`actor_id`), and the
rest, audit entries about them (`subject_id`) included, through ON DELETE CASCADE. Retention
runs in slices: each looks at the next few hundred rows by id after where the previous one
stopped, so the nightly job is many short transactions, and a conversation waiting for the
database thread is answered between two of them (see `Jobs.clean_up` in bot/scheduler.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import String, and_, cast, delete, literal, or_
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel, col, select

from db.engine import session_scope
from db.models import (
    Attendance,
    AuditEntry,
    ConversationState,
    Event,
    HelpMessage,
    HelpRequest,
    HelpRequestStatus,
    ItemStatus,
    Offer,
    OutboxMessage,
    OutboxStatus,
    Role,
    Subscription,
    User,
)
from db.outbox import NewMessage, enqueue_many

# Every table with rows about one user, and the column that names them.
PERSONAL_TABLES: tuple[tuple[str, type[SQLModel], Any], ...] = (
    ("subscriptions", Subscription, Subscription.user_id),
    ("attendances", Attendance, Attendance.user_id),
    ("help_requests", HelpRequest, HelpRequest.user_id),
    # Messages the user wrote in requests to help (as a resident, or for an organisation).
    ("help_messages_written", HelpMessage, HelpMessage.author_id),
    ("messages_sent_or_queued", OutboxMessage, OutboxMessage.user_id),
    ("conversation_state", ConversationState, ConversationState.user_id),
    ("roles", Role, Role.user_id),
    ("audit_entries", AuditEntry, AuditEntry.actor_id),
    ("audit_entries_about_the_user", AuditEntry, AuditEntry.subject_id),
)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def export_user(
    session: Session, *, user: User, state: ConversationState | None = None
) -> dict[str, Any]:
    """Collect everything stored about a user, table by table.

    `state` is their conversation state as an update being handled holds it, which is written
    back only after the handler (db/states.py): the copy shows it rather than the stored one.
    """
    data: dict[str, Any] = {"user": {k: _plain(v) for k, v in user.model_dump().items()}}
    for name, model, column in PERSONAL_TABLES:
        if model is ConversationState and state is not None:
            data[name] = [{k: _plain(v) for k, v in state.model_dump().items()}]
            continue
        rows = session.exec(select(model).where(column == user.id)).all()
        data[name] = [{k: _plain(v) for k, v in row.model_dump().items()} for row in rows]
    # The conversation of each of their requests, the organisation's messages included.
    for request in data["help_requests"]:
        messages = session.exec(
            select(HelpMessage)
            .where(HelpMessage.request_id == request["id"])
            .order_by(col(HelpMessage.id))
        ).all()
        request["messages"] = [
            {k: _plain(v) for k, v in m.model_dump().items() if k != "author_id"} for m in messages
        ]
    return data


def erase_user(session: Session, *, user: User) -> None:
    """Delete a user and every row that refers to them."""
    assert user.id is not None
    # What they did as a coordinator or admin is theirs too (the foreign key only forgets them).
    session.execute(delete(AuditEntry).where(col(AuditEntry.actor_id) == user.id))
    # Everything else refers to the user with ON DELETE CASCADE or SET NULL, audit entries about
    # them (`subject_id`) included; the database finds each kind of row by an index.
    session.delete(user)
    session.flush()


def erase_users(session: Session, *, user_ids: Sequence[int]) -> None:
    """Delete several users at once, none of them loaded, and every row that refers to them."""
    if not user_ids:
        return
    session.execute(delete(AuditEntry).where(col(AuditEntry.actor_id).in_(user_ids)))
    session.execute(delete(User).where(col(User.id).in_(user_ids)))


# -- retention ------------------------------------------------------------------------------

# Rows one slice deletes or queues at most: 500 delivered messages or audit entries take 10 to
# 20 ms on two cores. An erased user takes their rows in half a dozen tables along, so fewer
# of them (their audit entries are bounded separately, see `erase_expired_users`).
ROWS_PER_SLICE = 500
USERS_PER_SLICE = 50


class RetentionSettings(Protocol):
    """What retention reads from the settings (bot.config.Settings), in days."""

    retention_messages_days: int
    retention_blocked_days: int
    retention_inactive_days: int
    retention_notice_days: int
    retention_audit_days: int
    retention_help_days: int


@dataclass(frozen=True)
class RetentionPolicy:
    """How long each kind of data is kept."""

    keep_messages: timedelta
    keep_blocked: timedelta
    keep_inactive: timedelta
    notice_before: timedelta
    keep_audit: timedelta
    # A closed request to help, with its messages (the names and words two people exchanged).
    keep_closed_help: timedelta = timedelta(days=30)
    # A draft is saved at the preview of the publishing conversation; one left for a day is
    # abandoned (the conversation says so if it is picked up again).
    keep_drafts: timedelta = timedelta(days=1)

    @classmethod
    def from_settings(cls, settings: RetentionSettings) -> RetentionPolicy:
        return cls(
            keep_messages=timedelta(days=settings.retention_messages_days),
            keep_blocked=timedelta(days=settings.retention_blocked_days),
            keep_inactive=timedelta(days=settings.retention_inactive_days),
            notice_before=timedelta(days=settings.retention_notice_days),
            keep_audit=timedelta(days=settings.retention_audit_days),
            keep_closed_help=timedelta(days=settings.retention_help_days),
        )


@dataclass(frozen=True)
class Slice:
    """What one slice did: rows deleted or queued, the last id it looked at, whether any remain."""

    done: int
    last_id: int
    more: bool


def _next_ids(
    session: Session, column: Any, *conditions: Any, after_id: int, limit: int
) -> tuple[list[int], bool]:
    """The ids of the next `limit` rows after `after_id` that meet the conditions, in id order,
    and whether there are more (one row more is read to tell)."""
    ids = list(
        session.exec(
            select(column).where(column > after_id, *conditions).order_by(column).limit(limit + 1)
        ).all()
    )
    return ids[:limit], len(ids) > limit


def _slice(ids: list[int], more: bool, after_id: int, done: int | None = None) -> Slice:
    return Slice(len(ids) if done is None else done, ids[-1] if ids else after_id, more)


FINISHED = (OutboxStatus.SENT, OutboxStatus.DEAD, OutboxStatus.DROPPED, OutboxStatus.SKIPPED)


@dataclass(frozen=True)
class OldRows:
    """A retention step for rows deleted in slices, by primary key, once older than kept.

    A step deletes the next slice of `model` rows whose `timestamp` lies further back than
    `kept(policy)` and that meet the `conditions`, and before them the rows of `dependents`
    (a model and its column naming the row) that refer to them.
    """

    model: type[SQLModel]
    timestamp: Any
    kept: Callable[[RetentionPolicy], timedelta]
    conditions: tuple[Any, ...] = ()
    dependents: tuple[tuple[type[SQLModel], Any], ...] = ()

    def __call__(
        self,
        session: Session,
        *,
        now: datetime,
        policy: RetentionPolicy,
        after_id: int = 0,
        limit: int = ROWS_PER_SLICE,
    ) -> Slice:
        key: Any = self.model.id  # type: ignore[attr-defined]
        ids, more = _next_ids(
            session,
            key,
            *self.conditions,
            col(self.timestamp) < now - self.kept(policy),
            after_id=after_id,
            limit=limit,
        )
        if ids:
            for model, column in self.dependents:
                session.execute(delete(model).where(col(column).in_(ids)))
            session.execute(delete(self.model).where(col(key).in_(ids)))
        return _slice(ids, more, after_id)


# Messages sent (or given up) longer ago than they are kept.
delete_old_messages = OldRows(
    OutboxMessage,
    OutboxMessage.created_at,
    lambda policy: policy.keep_messages,
    # `status || ''`, not `status`: otherwise SQLite reads every finished message through the
    # status index and sorts them all by id, in every slice; this way it walks the primary key
    # from where the last slice stopped and stops after one slice's worth.
    conditions=((col(OutboxMessage.status) + literal("")).in_(FINISHED),),
)

# Audit entries older than they are kept.
delete_old_audit_entries = OldRows(
    AuditEntry, AuditEntry.created_at, lambda policy: policy.keep_audit
)

# Requests to help closed longer ago than they are kept, and their messages with them.
delete_closed_help_requests = OldRows(
    HelpRequest,
    HelpRequest.closed_at,
    lambda policy: policy.keep_closed_help,
    conditions=(HelpRequest.status == HelpRequestStatus.CLOSED,),
    dependents=((HelpMessage, HelpMessage.request_id),),
)


def erase_expired_users(
    session: Session,
    *,
    now: datetime,
    policy: RetentionPolicy,
    after_id: int = 0,
    limit: int = USERS_PER_SLICE,
) -> Slice:
    """Erase the next slice of users who blocked the bot, or have not written, for too long."""
    ids, more = _next_ids(
        session,
        User.id,
        or_(
            and_(col(User.active).is_(False), col(User.last_seen_at) < now - policy.keep_blocked),
            and_(col(User.active).is_(True), col(User.last_seen_at) < now - policy.keep_inactive),
        ),
        after_id=after_id,
        limit=limit,
    )
    # A coordinator may have written thousands of audit entries: those go first, a slice's
    # worth at a time, and the same users come again in the next slice until none are left.
    entries, entries_left = _next_ids(
        session,
        AuditEntry.id,
        col(AuditEntry.actor_id).in_(ids),
        after_id=0,
        limit=ROWS_PER_SLICE,
    )
    if entries_left:
        session.execute(delete(AuditEntry).where(col(AuditEntry.id).in_(entries)))
        return Slice(0, after_id, True)
    erase_users(session, user_ids=ids)
    return _slice(ids, more, after_id)


def warn_before_erasure(
    session: Session,
    *,
    now: datetime,
    policy: RetentionPolicy,
    after_id: int = 0,
    limit: int = ROWS_PER_SLICE,
) -> Slice:
    """Tell the next slice of silent users that they will be deleted unless they write."""
    deleted_before = now - policy.keep_inactive
    users = list(
        session.exec(
            select(User)
            .where(
                col(User.id) > after_id,
                col(User.active).is_(True),
                col(User.last_seen_at) < deleted_before + policy.notice_before,
                col(User.last_seen_at) >= deleted_before,
            )
            .order_by(col(User.id))
            .limit(limit + 1)
        ).all()
    )
    more = len(users) > limit
    users = users[:limit]
    queued = enqueue_many(
        session,
        [
            NewMessage(
                user=user,
                kind="retention_notice",
                dedupe_key=f"retention:{user.id}:{user.last_seen_at.date().isoformat()}",
                payload={},
            )
            for user in users
        ],
        now=now,
    )
    return _slice([user.id or 0 for user in users], more, after_id, done=len(queued))


def delete_abandoned_drafts(
    session: Session,
    *,
    now: datetime,
    policy: RetentionPolicy,
    after_id: int = 0,
    limit: int = ROWS_PER_SLICE,
) -> Slice:
    """Delete the next slice of draft offers and events nobody has touched for too long."""
    done, more = 0, False
    for model in (Offer, Event):
        # Through the status index, not the primary key: drafts are few among thousands of
        # published items, and the rows deleted are gone, so every slice starts afresh.
        ids = list(
            session.exec(
                select(model.id)
                .where(
                    model.status == ItemStatus.DRAFT,
                    col(model.updated_at) < now - policy.keep_drafts,
                )
                .limit(limit + 1)
            ).all()
        )
        left = len(ids) > limit
        ids = ids[:limit]
        if ids:
            session.execute(delete(model).where(col(model.id).in_(ids)))
        done, more = done + len(ids), more or left
    return Slice(done, 0, more)


def forget_saved_searches(
    session: Session,
    *,
    now: datetime,
    policy: RetentionPolicy,
    after_id: int = 0,
    limit: int = ROWS_PER_SLICE,
) -> Slice:
    """Forget the next slice of search queries kept for paging, whatever their age.

    A query is kept only while its results are paged, for a day at most (handlers/search.py);
    forgetting every one each night makes sure none is stored for longer, even if nobody
    touches the conversation again.
    """
    states = list(
        session.exec(
            select(ConversationState)
            .where(
                col(ConversationState.user_id) > after_id,
                cast(ConversationState.data, String).like('%"search"%'),
            )
            .order_by(col(ConversationState.user_id))
            .limit(limit + 1)
        ).all()
    )
    more = len(states) > limit
    states = states[:limit]
    done = 0
    for state in states:
        if "search" in state.data:
            state.data = {k: v for k, v in state.data.items() if k != "search"}
            done += 1
    return _slice([state.user_id for state in states], more, after_id, done=done)


class RetentionStep(Protocol):
    def __call__(
        self,
        session: Session,
        *,
        now: datetime,
        policy: RetentionPolicy,
        after_id: int = 0,
        limit: int = ...,
    ) -> Slice: ...


# In this order: a user erased first is not told they will be.
RETENTION_STEPS: tuple[tuple[str, RetentionStep], ...] = (
    ("messages", delete_old_messages),
    ("users", erase_expired_users),
    ("warned", warn_before_erasure),
    ("audit", delete_old_audit_entries),
    ("drafts", delete_abandoned_drafts),
    ("help", delete_closed_help_requests),
    ("searches", forget_saved_searches),
)


class RetentionRun:
    """The nightly retention, one slice at a time; each slice is its own short transaction.

    `next_slice` does one slice and tells whether any remain; `done` counts what was deleted
    or queued so far, by kind. `limit`, if given, caps every slice (tests make them small).
    """

    def __init__(self, *, now: datetime, policy: RetentionPolicy, limit: int | None = None) -> None:
        self.now = now
        self.policy = policy
        self.limit = limit
        self.done = {name: 0 for name, _ in RETENTION_STEPS}
        self._step = 0
        self._after_id = 0

    def next_slice(self, engine: Engine) -> bool:
        """Do the next slice in a transaction of its own; return whether more remain."""
        name, work = RETENTION_STEPS[self._step]
        limit: dict[str, int] = {} if self.limit is None else {"limit": self.limit}
        with session_scope(engine) as session:
            result = work(
                session, now=self.now, policy=self.policy, after_id=self._after_id, **limit
            )
        # Only now that the slice is committed does the run move past it.
        self.done[name] += result.done
        if result.more:
            self._after_id = result.last_id
        else:
            self._step += 1
            self._after_id = 0
        return self._step < len(RETENTION_STEPS)
