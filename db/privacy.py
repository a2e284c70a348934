"""Everything stored about one user: exporting it, erasing it, and retention."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete
from sqlmodel import Session, SQLModel, col, select

from db.models import (
    Attendance,
    AuditEntry,
    ConversationState,
    HelpRequest,
    OutboxMessage,
    OutboxStatus,
    Role,
    Subscription,
    User,
)
from db.outbox import enqueue

# Every table with rows about one user, and the column that names them.
PERSONAL_TABLES: tuple[tuple[str, type[SQLModel], Any], ...] = (
    ("subscriptions", Subscription, Subscription.user_id),
    ("attendances", Attendance, Attendance.user_id),
    ("help_requests", HelpRequest, HelpRequest.user_id),
    ("messages_sent_or_queued", OutboxMessage, OutboxMessage.user_id),
    ("conversation_state", ConversationState, ConversationState.user_id),
    ("roles", Role, Role.user_id),
    ("audit_entries", AuditEntry, AuditEntry.actor_id),
)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def export_user(session: Session, *, user: User) -> dict[str, Any]:
    """Collect everything stored about a user, table by table."""
    data: dict[str, Any] = {"user": {k: _plain(v) for k, v in user.model_dump().items()}}
    for name, model, column in PERSONAL_TABLES:
        rows = session.exec(select(model).where(column == user.id)).all()
        data[name] = [{k: _plain(v) for k, v in row.model_dump().items()} for row in rows]
    return data


def erase_user(session: Session, *, user: User) -> None:
    """Delete a user and every row that refers to them."""
    # Audit entries that name the user as actor, or as the subject of an admin's action.
    session.execute(delete(AuditEntry).where(col(AuditEntry.actor_id) == user.id))
    for entry in session.exec(select(AuditEntry)).all():
        if entry.detail.get("user_id") == user.id:
            session.delete(entry)
    # Everything else refers to the user with ON DELETE CASCADE or SET NULL.
    session.delete(user)
    session.flush()


def apply_retention(
    session: Session,
    *,
    now: datetime,
    keep_messages: timedelta,
    keep_blocked: timedelta,
    keep_inactive: timedelta,
    notice_before: timedelta,
) -> dict[str, int]:
    """Delete what is kept no longer: old delivered messages, users who blocked the bot, and
    users who have not written for a long time (after telling them two weeks before)."""
    finished = (OutboxStatus.SENT, OutboxStatus.DEAD, OutboxStatus.DROPPED, OutboxStatus.SKIPPED)
    messages = session.execute(
        delete(OutboxMessage).where(
            col(OutboxMessage.status).in_(finished),
            col(OutboxMessage.created_at) < now - keep_messages,
        )
    ).rowcount
    blocked = session.exec(
        select(User).where(col(User.active).is_(False), col(User.last_seen_at) < now - keep_blocked)
    ).all()
    inactive = session.exec(
        select(User).where(col(User.active).is_(True), col(User.last_seen_at) < now - keep_inactive)
    ).all()
    for user in (*blocked, *inactive):
        erase_user(session, user=user)
    warned = 0
    for user in session.exec(
        select(User).where(
            col(User.active).is_(True),
            col(User.last_seen_at) < now - keep_inactive + notice_before,
            col(User.last_seen_at) >= now - keep_inactive,
        )
    ).all():
        warned += enqueue(
            session,
            user=user,
            kind="retention_notice",
            dedupe_key=f"retention:{user.id}:{user.last_seen_at.date().isoformat()}",
            payload={},
            now=now,
        )
    return {"messages": int(messages or 0), "users": len(blocked) + len(inactive), "warned": warned}
