"""The inbox: updates fetched from a messenger, kept until handled and answered.

A messenger that redelivers what was not confirmed (Telegram's getUpdates `offset`) is told an
update arrived only after it was stored here, so a kill -9 loses nothing: on restart, what was
fetched but not handled is handled, and an answer that was stored but not sent is sent. The
answer is stored in the same transaction as what handling changed, so nothing is handled twice.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, Text, bindparam, cast, delete, insert, null, or_, update
from sqlmodel import Session, col, select

from db.models import InboxUpdate, JobMark

# Performance: the inbox is read and written for every update, so it is spoken to through Core
# statements built once, here, and run on the session's connection (in its transaction) with
# the values as parameters. Building a statement anew costs SQLAlchemy about eight times what
# running a built one does, the ORM's identity map and unit of work cost more again, and the
# stored update's JSON is not parsed just to learn whether it was handled (benchmarks/RESULTS.md,
# "Profile").
_INBOX: Table = InboxUpdate.__table__  # type: ignore[attr-defined]
_THIS = (_INBOX.c.transport == bindparam("in_transport"), _INBOX.c.update_id == bindparam("in_id"))
_AMONG = (
    _INBOX.c.transport == bindparam("in_transport"),
    _INBOX.c.update_id.in_(bindparam("ids", expanding=True)),
)
_KNOWN = select(_INBOX.c.update_id).where(*_AMONG)
_INSERT = insert(_INBOX)
# Handled: no payload left. Rows settled before these statements hold JSON null rather than SQL
# NULL, so both count.
_HANDLED = select(or_(_INBOX.c.payload.is_(None), cast(_INBOX.c.payload, Text) == "null")).where(
    *_THIS
)
_SETTLE = update(_INBOX).where(*_THIS).values(payload=null(), replies=bindparam("in_replies"))
_FINISH = delete(_INBOX).where(*_AMONG)


@dataclass(frozen=True)
class Fetched:
    """One update as fetched: its id, the chat it belongs to, and its JSON."""

    update_id: int
    chat_key: str
    payload: dict[str, Any]


def _offset_mark(transport: str) -> str:
    return f"inbox:{transport}:offset"


def stored_offset(session: Session, *, transport: str) -> int | None:
    """Return the first update id not yet stored, as remembered across restarts."""
    mark = session.get(JobMark, _offset_mark(transport))
    return int(mark.value) if mark is not None and mark.value.isdigit() else None


def store_fetched(
    session: Session,
    *,
    transport: str,
    updates: Sequence[Fetched],
    now: datetime,
    track_offset: bool = True,
) -> list[int]:
    """Keep fetched updates and move the stored offset past them; return the ids new here.

    Without `track_offset` (updates posted to a webhook, where no offset is asked for) the
    offset is left as it is, so processes storing side by side do not contend for its row.
    """
    if not updates:
        return []
    ids = [update.update_id for update in updates]
    connection = session.connection()
    known = set(connection.execute(_KNOWN, {"in_transport": transport, "ids": ids}).scalars())
    new = [update for update in updates if update.update_id not in known]
    if new:
        connection.execute(
            _INSERT,
            [
                {
                    "transport": transport,
                    "update_id": update.update_id,
                    "chat_key": update.chat_key[:64],
                    "payload": update.payload,
                    "replies": null(),
                    "received_at": now,
                }
                for update in new
            ],
        )
    if not track_offset:
        return [update.update_id for update in new]
    offset = max(ids) + 1
    name = _offset_mark(transport)
    mark = session.get(JobMark, name)
    if mark is None:
        session.add(JobMark(name=name, value=str(offset), moment=now))
    elif not mark.value.isdigit() or int(mark.value) < offset:
        mark.value, mark.moment = str(offset), now
    return [update.update_id for update in new]


def unfinished(
    session: Session, *, transport: str, among: Collection[int] | None = None
) -> list[InboxUpdate]:
    """Return what a stopped process left: updates not handled, answers not sent; oldest first.

    With `among`, only those of these update ids that are still there.
    """
    query = select(InboxUpdate).where(InboxUpdate.transport == transport)
    if among is not None:
        query = query.where(col(InboxUpdate.update_id).in_(sorted(among)))
    return list(session.exec(query.order_by(col(InboxUpdate.update_id))).all())


def unfinished_ids(
    session: Session, *, transport: str, among: Collection[int] | None = None
) -> list[int]:
    """Return the ids of what `unfinished` returns, without reading the updates themselves."""
    query = select(InboxUpdate.update_id).where(InboxUpdate.transport == transport)
    if among is not None:
        query = query.where(col(InboxUpdate.update_id).in_(sorted(among)))
    return list(session.exec(query.order_by(col(InboxUpdate.update_id))).all())


def settle(
    session: Session, *, transport: str, update_id: int, replies: list[dict[str, Any]]
) -> None:
    """Record, while handling an update, that it was handled and what its answer is.

    The caller checked `was_handled` first in the same transaction. An update that was never
    stored (sent by a messenger without redelivery) is not recorded.
    """
    session.connection().execute(
        _SETTLE, {"in_transport": transport, "in_id": update_id, "in_replies": replies}
    )


def was_handled(session: Session, *, transport: str, update_id: int) -> bool:
    """Return whether a stored update was handled already."""
    handled = (
        session.connection()
        .execute(_HANDLED, {"in_transport": transport, "in_id": update_id})
        .scalar()
    )
    return bool(handled)


def finish(session: Session, *, transport: str, update_ids: Iterable[int]) -> int:
    """Forget updates whose answer went out (or that needed none)."""
    ids = list(update_ids)
    if not ids:
        return 0
    result = session.connection().execute(_FINISH, {"in_transport": transport, "ids": ids})
    return int(result.rowcount or 0)
