"""A transport's view of the inbox (db/inbox.py): keep what was fetched, take up what was left.

Every call runs on the conversation's database thread, off the event loop. Answered updates
are forgotten by the conversation core (`Conversation.answered`).

On a database several processes share (PostgreSQL), each update in hand is claimed by the
process that holds it: an advisory lock per update (db/locks.py `AdvisoryClaims`), taken before
the update is stored and given up only once its row is gone. A process takes up only what
nobody holds, so it never answers an update another live process is answering, and it takes
up what a killed process had in hand as soon as that process is gone (`left`, asked again every
few seconds). On SQLite a process takes up what was left when it starts.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

from bot.messages import Reply, kept_edit, replies_from_json
from db.engine import session_scope
from db.inbox import Fetched, store_fetched, stored_offset, unfinished, unfinished_ids
from db.locks import advisory_key, shared_claims
from handlers.conversation import Conversation

__all__ = ["Fetched", "Inbox", "Left"]


@dataclass(frozen=True)
class Left:
    """What a stopped process left of one update: the update itself, or its unsent answer."""

    update_id: int
    chat_key: str
    payload: dict[str, Any] | None
    replies: list[Reply]
    # The pressed message the first reply edits (the messenger's id), if it was kept.
    edits: str | None = None


class Inbox:
    """The updates of one transport that were fetched and are not finished."""

    def __init__(self, conversation: Conversation, transport: str) -> None:
        self.conversation = conversation
        self.transport = transport
        self._claims = shared_claims(conversation.engine, f"{transport} inbox")
        self._keys: dict[int, int] = {}  # update id -> its claim's key, for those in hand

    @property
    def shared(self) -> bool:
        """Return whether other processes may keep updates in the same inbox at the same time."""
        return self._claims is not None

    async def offset(self) -> int | None:
        """Return the first update id not yet stored (None before the first)."""
        return await self.conversation.run_db(self._offset)

    async def keep(self, fetched: list[Fetched], *, track_offset: bool = True) -> list[int]:
        """Store fetched updates; return the ids of those not stored (or in hand) before."""
        return await self.conversation.run_db(self._keep, fetched, track_offset)

    async def left(self) -> list[Left]:
        """Return what a stopped process left and nobody holds, oldest first; it is ours now."""
        return await self.conversation.run_db(self._left)

    async def let_go_finished(self) -> None:
        """Give up the claims of updates whose rows are gone (answered and forgotten)."""
        if self._claims is not None and self._keys:
            await self.conversation.run_db(self._let_go_finished)

    def close(self) -> None:
        if self._claims is not None:
            self._claims.close()
            self._keys.clear()

    def _offset(self) -> int | None:
        with session_scope(self.conversation.engine) as session:
            return stored_offset(session, transport=self.transport)

    def _key(self, update_id: int) -> int:
        return advisory_key(f"inbox:{self.transport}:{update_id}")

    def _claim(self, update_ids: list[int]) -> set[int]:
        """Claim these updates; return those that are ours now (all, without claims)."""
        if self._claims is None:
            return set(update_ids)
        keys = {update_id: self._key(update_id) for update_id in update_ids}
        got = self._claims.take(list(keys.values()))
        ours = {update_id for update_id, key in keys.items() if key in got}
        self._keys.update((update_id, keys[update_id]) for update_id in ours)
        return ours

    def _let_go(self, update_ids: set[int]) -> None:
        if self._claims is None or not update_ids:
            return
        keys = [self._keys.pop(update_id) for update_id in update_ids if update_id in self._keys]
        with contextlib.suppress(Exception):  # a lost session has let go already
            self._claims.release(keys)

    def _keep(self, fetched: list[Fetched], track_offset: bool) -> list[int]:
        # Claimed before it is stored: another process's take-up never sees it unclaimed.
        ours = self._claim([update.update_id for update in fetched])
        if not ours:
            return []  # another process has these in hand (a copy Telegram posted again)
        try:
            with session_scope(self.conversation.engine) as session:
                new = store_fetched(
                    session,
                    transport=self.transport,
                    updates=[update for update in fetched if update.update_id in ours],
                    now=self.conversation.clock.now(),
                    track_offset=track_offset,
                )
        except BaseException:
            self._let_go(ours)
            raise
        self._let_go(ours - set(new))
        return new

    def _left(self) -> list[Left]:
        ours: set[int] | None = None
        if self._claims is not None:
            with session_scope(self.conversation.engine) as session:
                found = unfinished_ids(session, transport=self.transport)
            ours = self._claim([update_id for update_id in found if update_id not in self._keys])
            if not ours:
                return []
        # Read once claimed: the one that held them may have finished them meanwhile.
        with session_scope(self.conversation.engine) as session:
            entries = unfinished(session, transport=self.transport, among=ours)
        if ours is not None:
            self._let_go(ours - {entry.update_id for entry in entries})
        return [
            Left(
                entry.update_id,
                entry.chat_key,
                entry.payload,
                [] if entry.payload is not None else replies_from_json(entry.replies or []),
                None if entry.payload is not None else kept_edit(entry.replies or []),
            )
            for entry in entries
        ]

    def _let_go_finished(self) -> None:
        with session_scope(self.conversation.engine) as session:
            there = unfinished_ids(session, transport=self.transport, among=set(self._keys))
        self._let_go(set(self._keys) - set(there))
