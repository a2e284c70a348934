"""What one /sync batch brings: messages to answer, rooms joined and left, and where it ends.

The homeserver hands out everything after a `since` token again until a sync with a later token
(client-server API, "Syncing"). So the later token (`next_batch`) is stored in the same database
transaction that keeps the batch's messages in the inbox (db/inbox.py): a kill -9 before that
commit gets the same batch again, one after it finds the messages in the inbox and answers what
was not answered. Nothing is lost and nothing is answered twice. Messages are numbered for the
inbox in the order they came, continuing from the last number given.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from nio import (
    MegolmEvent,
    RoomMemberEvent,
    RoomMessageEmote,
    RoomMessageMedia,
    RoomMessageText,
    RoomMessageUnknown,
    StickerEvent,
    SyncResponse,
)
from nio.events.room_events import RoomEncryptedMedia
from sqlmodel import Session

from bot.inbox import Fetched
from db.inbox import store_fetched
from db.models import JobMark

SINCE_MARK = "matrix:since"

# Only what the bot needs from each sync: no presence, no typing or receipts of others, and
# room state without the members' lazy-loaded list (spec, "Filtering").
SYNC_FILTER: dict[str, Any] = {
    "presence": {"not_types": ["*"]},
    "account_data": {"not_types": ["*"]},
    "room": {
        "ephemeral": {"not_types": ["*"]},
        # The timeline of one batch: big enough that a busy minute is not cut short (a cut
        # timeline is "limited"; the older part is then fetched, see MatrixTransport).
        "timeline": {"limit": 200},
    },
}
# The very first start ignores history: one event per room is enough to learn the token.
FIRST_SYNC_FILTER: dict[str, Any] = {**SYNC_FILTER, "room": {"timeline": {"limit": 1}}}


@dataclass
class Batch:
    """What the transport does with one sync response."""

    since: str
    messages: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (room, payload)
    invited: list[str] = field(default_factory=list)
    departed: list[tuple[str, str]] = field(default_factory=list)  # (room, user) who left
    left: list[str] = field(default_factory=list)  # rooms the bot is no longer in
    cut_short: list[tuple[str, str]] = field(default_factory=list)  # (room, prev_batch)


def read_batch(response: SyncResponse, *, me: str, history: bool = True) -> Batch:
    """Sort a sync response into what needs doing; `history=False` ignores every message."""
    batch = Batch(since=response.next_batch)
    batch.invited = list(response.rooms.invite)
    batch.left = list(response.rooms.leave)
    for room_id, info in response.rooms.join.items():
        if history and info.timeline.limited and info.timeline.prev_batch:
            batch.cut_short.append((room_id, info.timeline.prev_batch))
        for event in info.timeline.events:
            if isinstance(event, RoomMemberEvent):
                if event.state_key != me and event.membership in ("leave", "ban"):
                    batch.departed.append((room_id, event.state_key))
                continue
            if not history:
                continue
            payload = message_payload(event, me=me)
            if payload is not None:
                batch.messages.append((room_id, payload))
    return batch


def message_payload(event: object, *, me: str) -> dict[str, Any] | None:
    """Return what the bot keeps of one timeline event someone sent it, or None to ignore it.

    Text (m.text, m.emote) is answered; a file, picture or sticker is asked for text; a message
    that could not be decrypted (nio leaves it a MegolmEvent) is asked for again. m.notice is
    never answered: by the spec's advice it is what bots send each other, and answering it
    could start two bots talking forever.
    """
    sender = getattr(event, "sender", None)
    if not isinstance(sender, str) or sender == me:
        return None
    base = {"sender": sender, "event": getattr(event, "event_id", "")}
    if isinstance(event, RoomMessageText | RoomMessageEmote):
        body = event.body if isinstance(event.body, str) else ""
        return {**base, "text": _without_reply_fallback(body)}
    if isinstance(event, MegolmEvent):
        return {**base, "text": None, "unreadable": "encrypted"}
    if isinstance(event, RoomMessageMedia | RoomEncryptedMedia | StickerEvent):
        return {**base, "text": None}
    if isinstance(event, RoomMessageUnknown) and event.msgtype != "m.notice":
        return {**base, "text": None}
    return None


def _without_reply_fallback(body: str) -> str:
    """Drop the quoted lines a client puts before a reply (spec, "Fallbacks for rich replies")."""
    lines = body.split("\n")
    if not lines or not lines[0].startswith("> <"):
        return body
    while lines and lines[0].startswith(">"):
        lines.pop(0)
    return "\n".join(lines).lstrip("\n")


def stored_since(session: Session) -> str | None:
    """Return the token after the last batch kept, or None before the first start."""
    mark = session.get(JobMark, SINCE_MARK)
    return mark.value if mark is not None and mark.value else None


def keep_batch(
    session: Session,
    *,
    since: str,
    messages: list[tuple[str, dict[str, Any]]],
    first_id: int,
    now: datetime,
) -> list[Fetched]:
    """Keep a batch's messages in the inbox and its end token, in one transaction."""
    fetched = [
        Fetched(first_id + number, room_id, {**payload, "room": room_id})
        for number, (room_id, payload) in enumerate(messages)
    ]
    new = set(store_fetched(session, transport="matrix", updates=fetched, now=now))
    mark = session.get(JobMark, SINCE_MARK)
    if mark is None:
        session.add(JobMark(name=SINCE_MARK, value=since, moment=now))
    else:
        mark.value, mark.moment = since, now
    return [update for update in fetched if update.update_id in new]
