"""A transport's view of the inbox (db/inbox.py): keep what was fetched, take up what was left.

Every call runs on the conversation's database thread, off the event loop. Answered updates
are forgotten by the conversation core (`Conversation.answered`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.messages import Reply, replies_from_json
from db.engine import session_scope
from db.inbox import Fetched, store_fetched, stored_offset, unfinished
from handlers.conversation import Conversation

__all__ = ["Fetched", "Inbox", "Left"]


@dataclass(frozen=True)
class Left:
    """What a stopped process left of one update: the update itself, or its unsent answer."""

    update_id: int
    chat_key: str
    payload: dict[str, Any] | None
    replies: list[Reply]


class Inbox:
    """The updates of one transport that were fetched and are not finished."""

    def __init__(self, conversation: Conversation, transport: str) -> None:
        self.conversation = conversation
        self.transport = transport

    async def offset(self) -> int | None:
        """Return the first update id not yet stored (None before the first)."""
        return await self.conversation.run_db(self._offset)

    async def keep(self, fetched: list[Fetched]) -> list[int]:
        """Store fetched updates; return the ids of those not stored before."""
        return await self.conversation.run_db(self._keep, fetched)

    async def left(self) -> list[Left]:
        """Return what a stopped process left, oldest first."""
        return await self.conversation.run_db(self._left)

    def _offset(self) -> int | None:
        with session_scope(self.conversation.engine) as session:
            return stored_offset(session, transport=self.transport)

    def _keep(self, fetched: list[Fetched]) -> list[int]:
        with session_scope(self.conversation.engine) as session:
            return store_fetched(
                session,
                transport=self.transport,
                updates=fetched,
                now=self.conversation.clock.now(),
            )

    def _left(self) -> list[Left]:
        with session_scope(self.conversation.engine) as session:
            return [
                Left(
                    entry.update_id,
                    entry.chat_key,
                    entry.payload,
                    [] if entry.payload is not None else replies_from_json(entry.replies or []),
                )
                for entry in unfinished(session, transport=self.transport)
            ]
