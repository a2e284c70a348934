"""Who is going to which event, the waiting list, and telling people when things change."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, delete, func, update
from sqlmodel import Session, col, select

from db.models import (
    Attendance,
    AttendanceStatus,
    Event,
    ItemStatus,
    OutboxMessage,
    OutboxStatus,
    User,
)
from db.outbox import enqueue


@dataclass(frozen=True)
class JoinResult:
    status: str  # "going", "waiting", or "closed" (cancelled or already started)
    position: int | None = None  # place on the waiting list
    changed: bool = True


# Asked whenever an event is shown, so built once and run with parameters (see db/inbox.py).
_ATTENDANCE_OF = select(Attendance).where(
    Attendance.user_id == bindparam("user_id"), Attendance.event_id == bindparam("event_id")
)
_GOING_COUNT = select(func.count(col(Attendance.id))).where(
    Attendance.event_id == bindparam("event_id"), Attendance.status == AttendanceStatus.GOING
)


def attendance_of(session: Session, *, user_id: int, event_id: int) -> Attendance | None:
    return session.exec(_ATTENDANCE_OF, params={"user_id": user_id, "event_id": event_id}).first()


def going_count(session: Session, *, event_id: int) -> int:
    return int(session.exec(_GOING_COUNT, params={"event_id": event_id}).one())


def waiting_position(session: Session, *, attendance: Attendance) -> int:
    """Return 1 for the first person on the waiting list."""
    ahead = session.exec(
        select(func.count(col(Attendance.id))).where(
            Attendance.event_id == attendance.event_id,
            Attendance.status == AttendanceStatus.WAITING,
            (col(Attendance.created_at) < attendance.created_at)
            | (
                (col(Attendance.created_at) == attendance.created_at)
                & (col(Attendance.id) < attendance.id)
            ),
        )
    ).one()
    return int(ahead) + 1


def join_event(session: Session, *, user: User, event: Event, now: datetime) -> JoinResult:
    """Put the user on the list of people going, or on the waiting list when the event is full."""
    assert user.id is not None and event.id is not None
    if event.status != ItemStatus.PUBLISHED or event.starts_at <= now:
        return JoinResult("closed", changed=False)
    existing = attendance_of(session, user_id=user.id, event_id=event.id)
    if existing is not None:
        if existing.status == AttendanceStatus.GOING:
            return JoinResult("going", changed=False)
        return JoinResult("waiting", waiting_position(session, attendance=existing), changed=False)
    full = event.capacity is not None and going_count(session, event_id=event.id) >= event.capacity
    attendance = Attendance(
        user_id=user.id,
        event_id=event.id,
        status=AttendanceStatus.WAITING if full else AttendanceStatus.GOING,
        created_at=now,
    )
    session.add(attendance)
    session.flush()
    if full:
        return JoinResult("waiting", waiting_position(session, attendance=attendance))
    return JoinResult("going")


def leave_event(session: Session, *, user: User, event: Event, now: datetime) -> bool:
    """Take the user off the event; a freed place goes to the next person waiting, who is told."""
    assert user.id is not None and event.id is not None
    existing = attendance_of(session, user_id=user.id, event_id=event.id)
    if existing is None:
        return False
    was_going = existing.status == AttendanceStatus.GOING
    session.delete(existing)
    session.flush()
    _drop_pending_event_messages(session, user_id=user.id, event_id=event.id)
    if was_going:
        promote_waiting(session, event=event, now=now)
    return True


def promote_waiting(session: Session, *, event: Event, now: datetime) -> list[User]:
    """Fill free places from the waiting list in order, and queue a message to each promoted."""
    assert event.id is not None
    if event.status != ItemStatus.PUBLISHED or event.starts_at <= now:
        return []
    promoted: list[User] = []
    while event.capacity is None or going_count(session, event_id=event.id) < event.capacity:
        nxt = session.exec(
            select(Attendance)
            .where(Attendance.event_id == event.id, Attendance.status == AttendanceStatus.WAITING)
            .order_by(col(Attendance.created_at), col(Attendance.id))
            .limit(1)
        ).first()
        if nxt is None:
            break
        nxt.status = AttendanceStatus.GOING
        session.flush()
        user = session.get(User, nxt.user_id)
        if user is not None:
            promoted.append(user)
            enqueue(
                session,
                user=user,
                kind="promoted",
                dedupe_key=f"promoted:{user.id}:{event.id}:{int(now.timestamp())}",
                payload={"event_id": event.id},
                now=now,
                event_id=event.id,
            )
    return promoted


def people_going(session: Session, *, event_id: int) -> list[User]:
    return list(
        session.exec(
            select(User)
            .join(Attendance, col(Attendance.user_id) == col(User.id))
            .where(Attendance.event_id == event_id, Attendance.status == AttendanceStatus.GOING)
        ).all()
    )


def event_changed(session: Session, *, event: Event, now: datetime, change: str) -> int:
    """Tell everyone going (and waiting) that an event moved, changed place or was cancelled.

    Reminders still queued for the old time are dropped; the reminder job queues new ones for
    the new time, because a reminder's dedupe key contains the start time it was made for.
    """
    assert event.id is not None
    _drop_pending_event_messages(session, event_id=event.id, kinds=("reminder",))
    attendees = session.exec(
        select(User)
        .join(Attendance, col(Attendance.user_id) == col(User.id))
        .where(Attendance.event_id == event.id)
    ).all()
    stamp = int(now.timestamp())
    queued = 0
    for user in attendees:
        queued += enqueue(
            session,
            user=user,
            kind="event_cancelled" if change == "cancelled" else "event_changed",
            dedupe_key=f"changed:{user.id}:{event.id}:{change}:{stamp}",
            payload={"event_id": event.id, "change": change},
            now=now,
            event_id=event.id,
        )
    if change == "cancelled":
        session.execute(delete(Attendance).where(col(Attendance.event_id) == event.id))
    else:
        promote_waiting(session, event=event, now=now)
    return queued


def _drop_pending_event_messages(
    session: Session,
    *,
    event_id: int,
    user_id: int | None = None,
    kinds: tuple[str, ...] = ("reminder", "promoted"),
) -> None:
    conditions = [
        col(OutboxMessage.event_id) == event_id,
        col(OutboxMessage.status) == OutboxStatus.PENDING,
        col(OutboxMessage.kind).in_(kinds),
    ]
    if user_id is not None:
        conditions.append(col(OutboxMessage.user_id) == user_id)
    session.execute(
        update(OutboxMessage)
        .where(*conditions)
        .values(status=OutboxStatus.DROPPED, last_error="event changed")
    )
