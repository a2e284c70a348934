"""Matrix through matrix-nio: direct chats, end-to-end encrypted, answered like Signal.

One process at a time runs the bot's Matrix device (a lock, like delivery's): two processes
syncing one device would each answer every message, and would share one key store. The others
wait and take over within seconds of its end, also after a kill -9.

Receiving: each /sync batch is kept (sync.py) before anything is answered; then every message
is answered in its room's order, concurrently across rooms (bot/transports/chats.py), so a
person who floods the bot holds up nobody else. Rooms: an invitation is accepted; a room of
the bot and one person is that person's direct chat; a room with more people is told once that
the bot only talks one to one, and left.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import ClientError
from nio import (
    AsyncClient,
    JoinError,
    LocalProtocolError,
    MegolmEvent,
    MessageDirection,
    RoomMessagesResponse,
    RoomSendResponse,
    SendRetryError,
    SyncResponse,
    UploadResponse,
)
from sqlalchemy.exc import OperationalError

from bot.config import SettingsError
from bot.inbox import Fetched, Inbox, Left
from bot.messages import Incoming, Reply
from bot.transports.base import Progress, RecipientGone, RetryLater, TemporaryFailure
from bot.transports.chats import ChatQueues
from bot.transports.matrix.render import (
    MatrixMessage,
    file_content,
    render_messages,
    text_content,
)
from bot.transports.matrix.session import open_client
from bot.transports.matrix.sync import (
    FIRST_SYNC_FILTER,
    SYNC_FILTER,
    keep_batch,
    message_payload,
    read_batch,
    stored_since,
)
from db.engine import session_scope
from db.locks import owner_lock

if TYPE_CHECKING:
    from bot.config import Settings
    from handlers.conversation import Conversation

log = logging.getLogger(__name__)

LOCK_NAME = "matrix-device"
LOCK_RETRY_SECONDS = 2.0
# How often an answer waits out the homeserver's rate limit before it is given up.
ANSWER_LIMIT_RETRIES = 20
# Without a hint, a 429 waits this long (the spec makes retry_after_ms optional).
DEFAULT_RETRY_AFTER = 5.0


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(eq=False)
class MatrixTransport:
    """Answers Matrix messages in direct rooms and sends what the outbox hands it."""

    conversation: Conversation
    settings: Settings
    sync_timeout_ms: int = 30_000
    stop_drain_seconds: float = 20.0
    name: str = field(default="matrix", init=False)
    client: AsyncClient | None = field(default=None, init=False)
    # Each person's direct room, from the rooms the bot is in.
    rooms: dict[str, str] = field(default_factory=dict, init=False)
    _ready: asyncio.Event = field(default_factory=asyncio.Event, init=False)
    _chats: ChatQueues[Fetched | Left] = field(init=False)
    _inbox: Inbox = field(init=False)
    _told_groups: set[str] = field(default_factory=set, init=False)
    # Rooms the bot left (nio may still list them until it hears so from a sync).
    _left_rooms: set[str] = field(default_factory=set, init=False)
    _unkept: set[int] = field(default_factory=set, init=False)
    _answered_wake: asyncio.Event = field(default_factory=asyncio.Event, init=False)
    _closing: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        self._chats = ChatQueues(self._handle)
        self._inbox = Inbox(self.conversation, self.name)

    # -- running -----------------------------------------------------------------------------

    async def run(self) -> None:
        """Hold the device, answer messages until cancelled, then stop without losing any."""
        lock = owner_lock(self.conversation.engine, LOCK_NAME)
        told = False
        while not await asyncio.to_thread(lock.try_acquire):
            if not told:
                log.info("matrix: another process runs the bot's device; taking over when it stops")
                told = True
            await asyncio.sleep(LOCK_RETRY_SECONDS)
        finisher: asyncio.Task[None] | None = None
        try:
            self.client = await open_client(self.settings)
            finisher = asyncio.create_task(self._finish_answered())
            await self._sync_forever()
        finally:
            await asyncio.shield(self._stop(finisher, lock))

    async def _stop(self, finisher: asyncio.Task[None] | None, lock: Any) -> None:
        self._ready.clear()
        cut = await self._chats.drain(self.stop_drain_seconds)
        if cut:
            log.warning("matrix: stopped with %s messages unanswered; answered on restart", cut)
        if finisher is not None:
            self._closing = True
            self._answered_wake.set()
            with contextlib.suppress(TimeoutError, asyncio.CancelledError, Exception):
                await asyncio.wait_for(finisher, timeout=10.0)
        if self.client is not None:
            with contextlib.suppress(Exception):
                await self.client.close()
        with contextlib.suppress(Exception):
            await asyncio.to_thread(lock.release)

    async def _sync_forever(self) -> None:
        client = self.client
        assert client is not None
        since = await self.conversation.run_db(self._since)
        history = since is not None  # the very first start ignores what came before
        first = True
        pause = 1.0
        while True:
            await self._chats.room()  # a full backlog waits here; the homeserver keeps the rest
            response = await self._sync(client, since, first=first, history=history)
            if not isinstance(response, SyncResponse):
                log.warning("matrix: sync failed (%s); trying again in %.0f s", response, pause)
                await asyncio.sleep(pause * random.uniform(0.8, 1.2))
                pause = min(pause * 2, 30.0)
                continue
            pause = 1.0
            await self._keys()
            batch = read_batch(response, me=client.user_id, history=history)
            for room_id in batch.left:
                self._forget_room(room_id)
            for room_id in batch.invited:
                await self._on_invite(room_id)
            for room_id, user in batch.departed:
                await self._on_departure(room_id, user)
            for room_id, prev_batch in batch.cut_short:
                batch.messages[:0] = await self._older(room_id, prev_batch, since)
            await self._leave_groups()
            self._learn_rooms()
            await self._accept(batch.since, batch.messages)
            since, history = batch.since, True
            if first:
                first = False
                await self._take_up_unfinished()
                self._ready.set()
                log.info("matrix: %s is receiving messages", client.user_id)

    async def _sync(
        self, client: AsyncClient, since: str | None, *, first: bool, history: bool
    ) -> Any:
        try:
            response = await client.sync(
                timeout=0 if first else self.sync_timeout_ms,
                sync_filter=SYNC_FILTER if history else FIRST_SYNC_FILTER,
                since=since,
                # The first sync of each process has every room's whole state: nio keeps rooms,
                # members and which are encrypted in memory only.
                full_state=True if first else None,
            )
        except (ClientError, TimeoutError, OSError) as exc:
            return exc
        if getattr(response, "status_code", None) == "M_UNKNOWN_TOKEN":
            raise SettingsError(
                "the homeserver no longer accepts the bot's Matrix login; remove "
                f"{self.settings.matrix_store / 'credentials.json'} to log in again"
            )
        return response

    async def _keys(self) -> None:
        """Upload, query and claim keys as the last sync asked, and send queued key shares."""
        client = self.client
        assert client is not None
        try:
            if client.should_upload_keys:
                await client.keys_upload()
            if client.should_query_keys:
                await client.keys_query()
            if client.should_claim_keys:
                await client.keys_claim(client.get_users_for_key_claiming())
            await client.send_to_device_messages()
        except (ClientError, TimeoutError, OSError, LocalProtocolError) as exc:
            log.warning("matrix: key exchange failed for now: %s", exc)

    def _since(self) -> str | None:
        with session_scope(self.conversation.engine) as session:
            return stored_since(session)

    # -- rooms ---------------------------------------------------------------------------------

    def _learn_rooms(self) -> None:
        """Know each person's direct room: a room of the bot and one other member."""
        client = self.client
        assert client is not None
        for room_id, room in client.rooms.items():
            others = [user for user in room.users if user != client.user_id]
            if len(others) == 1 and room_id not in self._left_rooms:
                self.rooms.setdefault(others[0], room_id)

    def _forget_room(self, room_id: str) -> None:
        for user, room in list(self.rooms.items()):
            if room == room_id:
                del self.rooms[user]

    async def _on_invite(self, room_id: str) -> None:
        """Accept an invitation; who else is in the room shows in the next sync."""
        client = self.client
        assert client is not None
        self._left_rooms.discard(room_id)  # invited back into a room it left
        joined = await client.join(room_id)
        if isinstance(joined, JoinError):
            log.warning("matrix: could not accept an invitation: %s", joined)

    async def _leave_groups(self) -> None:
        """Tell each room of several people, once, that the bot talks one to one; leave it."""
        client = self.client
        assert client is not None
        for room_id, room in list(client.rooms.items()):
            others = sorted(user for user in room.users if user != client.user_id)
            if len(others) > 1 and room_id not in self._left_rooms:
                await self._leave_group(room_id, others)

    async def _leave_group(self, room_id: str, members: list[str]) -> None:
        client = self.client
        assert client is not None
        if room_id not in self._told_groups:
            self._told_groups.add(room_id)
            incoming = Incoming(self.name, members[0], text="", chat_kind="group", chat_key=room_id)
            replies = await self.conversation.handle_async(incoming)
            for index, message in enumerate(render_messages(replies)):
                # The same transaction id if told again after a crash: the homeserver then
                # keeps the first one only.
                txn = f"group-{_digest(room_id)}.{index}"
                with contextlib.suppress(RecipientGone, RetryLater, TemporaryFailure):
                    await self._send(room_id, message, notice=False, txn=txn)
        await client.room_leave(room_id)
        with contextlib.suppress(Exception):
            await client.room_forget(room_id)
        self._left_rooms.add(room_id)
        self._forget_room(room_id)
        log.info("matrix: left a room of %d people; the bot talks one to one", len(members))

    async def _on_departure(self, room_id: str, user: str) -> None:
        """A person left their direct room: nothing more goes out to them, and the bot leaves."""
        if self.rooms.get(user) != room_id:
            return
        del self.rooms[user]
        await self.conversation.run_db(self.conversation.deactivate, self.name, user)
        client = self.client
        assert client is not None
        self._left_rooms.add(room_id)
        with contextlib.suppress(Exception):
            await client.room_leave(room_id)
            await client.room_forget(room_id)

    async def _older(self, room_id: str, prev_batch: str, since: str | None) -> list[Any]:
        """Fetch the part of a room's timeline that a cut batch left out, oldest first."""
        client = self.client
        assert client is not None
        found: list[tuple[str, dict[str, Any]]] = []
        start: str | None = prev_batch
        while start:
            page = await client.room_messages(
                room_id, start=start, end=since, direction=MessageDirection.back, limit=100
            )
            if not isinstance(page, RoomMessagesResponse) or not page.chunk:
                break
            for event in page.chunk:
                payload = message_payload(event, me=client.user_id)
                if payload is not None:
                    found.append((room_id, payload))
            start = page.end if page.end != start else None
        found.reverse()
        return found

    # -- receiving: keep, answer, forget -------------------------------------------------------

    async def _accept(self, since: str, messages: list[tuple[str, dict[str, Any]]]) -> None:
        """Keep a batch and its token together, then queue the new messages by room."""
        offset = await self._inbox.offset() or 1
        try:
            fetched = await self.conversation.run_db(self._keep, since, messages, offset)
        except OperationalError as exc:
            # The database cannot keep them: answered anyway (the core says "try again later"),
            # and the token stays where it was, so the batch comes again.
            log.warning("matrix: cannot keep %s messages (%s); answering them", len(messages), exc)
            fetched = [
                Fetched(offset + n, room, {**payload, "room": room})
                for n, (room, payload) in enumerate(messages)
            ]
            self._unkept |= {update.update_id for update in fetched}
        for update in fetched:
            self._chats.put(update.chat_key, update)

    def _keep(
        self, since: str, messages: list[tuple[str, dict[str, Any]]], offset: int
    ) -> list[Fetched]:
        with session_scope(self.conversation.engine) as session:
            return keep_batch(
                session,
                since=since,
                messages=messages,
                first_id=offset,
                now=self.conversation.clock.now(),
            )

    async def _take_up_unfinished(self) -> None:
        """Answer what a stopped process kept and did not answer, or answered and did not send."""
        left = await self._inbox.left()
        for entry in left:
            self._chats.put(entry.chat_key, entry)
        if left:
            log.info("matrix: taking up %s messages left by a stopped process", len(left))

    async def _handle(self, item: Fetched | Left) -> None:
        """Answer one message (or send an answer kept from before a restart), then forget it."""
        room_id = item.chat_key
        if item.payload is not None:
            payload = item.payload
            sender = str(payload.get("sender", ""))
            self.rooms[sender] = room_id  # the room they write from is the one to answer in
            text = payload.get("text")
            incoming = Incoming(
                self.name,
                sender,
                text=text if isinstance(text, str) else None,
                update_id=None if item.update_id in self._unkept else item.update_id,
                unreadable=payload.get("unreadable"),
            )
            if payload.get("unreadable") == "encrypted":
                await self._ask_for_key(room_id, payload)
            replies = await self.conversation.handle_async(incoming)
        else:
            replies = item.replies
        await self._answer(room_id, replies, item.update_id)
        if item.update_id in self._unkept:
            self._unkept.discard(item.update_id)
        else:
            self.conversation.answered(self.name, item.update_id)
            self._answered_wake.set()

    async def _answer(self, room_id: str, replies: list[Reply], update_id: int) -> None:
        for index, message in enumerate(render_messages(replies)):
            # Named after the message answered: sent again after a crash, the homeserver
            # recognises the transaction and keeps the first one only.
            txn = f"answer-{update_id}.{index}"
            for _attempt in range(ANSWER_LIMIT_RETRIES):
                try:
                    await self._send(room_id, message, notice=False, txn=txn)
                    break
                except RetryLater as exc:
                    await asyncio.sleep(exc.retry_after)
                except (RecipientGone, TemporaryFailure) as exc:
                    log.warning("matrix: could not answer a message: %s", exc)
                    return

    async def _ask_for_key(self, room_id: str, payload: dict[str, Any]) -> None:
        """Ask the sender's devices for the key of a message nio could not decrypt."""
        client = self.client
        assert client is not None
        event = await client.room_get_event(room_id, str(payload.get("event", "")))
        source = getattr(event, "event", None)
        if isinstance(source, MegolmEvent):
            with contextlib.suppress(Exception):
                await client.request_room_key(source)

    async def _finish_answered(self) -> None:
        """Make sure answered messages are forgotten when no conversation comes to do it."""
        while True:
            await self._answered_wake.wait()
            self._answered_wake.clear()
            if not self._closing:
                await asyncio.sleep(0.05)  # the next conversation's transaction does it free
            if self.conversation.has_answered:
                try:
                    await self.conversation.run_db(self.conversation.forget_answered)
                except OperationalError as exc:
                    log.warning("matrix: cannot record answered messages now (%s)", exc.orig)
                    await asyncio.sleep(1.0)
                    self._answered_wake.set()
                    continue
            if self._closing:
                return

    # -- sending -------------------------------------------------------------------------------

    async def send(
        self, user_key: str, replies: list[Reply], progress: Progress | None = None
    ) -> None:
        """Send what the bot says on its own (m.notice) to a person's direct room.

        Raises RetryLater (a rate limit, or the device not running in this process yet),
        RecipientGone (no direct room with them any more) or TemporaryFailure.
        """
        if not self._ready.is_set():
            raise RetryLater(LOCK_RETRY_SECONDS * 2, "the Matrix device is not running here yet")
        room_id = self.rooms.get(user_key)
        if room_id is None:
            raise RecipientGone("no direct room with this person")
        progress = progress or Progress()
        messages = render_messages(replies)
        for index in range(progress.sent, len(messages)):
            txn = f"{progress.key}.{index}" if progress.key else None
            await self._send(room_id, messages[index], notice=True, txn=txn)
            progress.sent += 1

    async def _send(
        self, room_id: str, message: MatrixMessage, *, notice: bool, txn: str | None
    ) -> None:
        """Send one message (uploading its file first); raise the DeliveryError that fits."""
        client = self.client
        if client is None:
            raise TemporaryFailure("the Matrix client is not running")
        room = client.rooms.get(room_id)
        if room is None:
            raise RecipientGone("the bot is not in that room")
        try:
            if message.attachment is not None:
                content = await self._upload(client, message, encrypted=room.encrypted)
            else:
                content = text_content(message.body, notice=notice)
            if room.encrypted:
                self._trust_on_first_use(room_id)
            response = await client.room_send(
                room_id,
                "m.room.message",
                content,
                tx_id=txn,
                ignore_unverified_devices=True,
            )
        except LocalProtocolError as exc:
            raise RecipientGone(str(exc)) from exc
        except (SendRetryError, ClientError, TimeoutError, OSError) as exc:
            raise TemporaryFailure(f"Matrix: {exc}") from exc
        if not isinstance(response, RoomSendResponse):
            raise _failure(response)

    async def _upload(
        self, client: AsyncClient, message: MatrixMessage, *, encrypted: bool
    ) -> dict[str, Any]:
        """Upload a file to the media repository, encrypted for an encrypted room."""
        import io

        attachment = message.attachment
        assert attachment is not None
        answer, keys = await client.upload(
            io.BytesIO(attachment.content),
            content_type=attachment.mime_type,
            filename=attachment.filename,
            encrypt=encrypted,
            filesize=len(attachment.content),
        )
        if not isinstance(answer, UploadResponse):
            raise _failure(answer)
        if keys is not None:
            return file_content(attachment, url=None, file={**keys, "url": answer.content_uri})
        return file_content(attachment, url=answer.content_uri, file=None)

    def _trust_on_first_use(self, room_id: str) -> None:
        """Trust every device of the room's members the first time the bot sees it.

        Residents do not verify the bot's device, nor the bot theirs: a device that appears is
        trusted as it is (blacklisting one in nio's store keeps it out). A device added since the
        room's key was shared gets that key before the next message, so it can read it.
        """
        client = self.client
        assert client is not None
        room = client.rooms[room_id]
        devices = set()
        for user in room.users:
            for device in client.device_store.active_user_devices(user):
                if device.blacklisted:
                    continue
                if not device.verified:
                    client.verify_device(device)
                devices.add((user, device.id))
        session = client.olm.outbound_group_sessions.get(room_id) if client.olm else None
        if session is not None and devices - session.users_shared_with - session.users_ignored:
            session.shared = False  # nio then shares it with the devices that lack it


def _failure(response: Any) -> RetryLater | RecipientGone | TemporaryFailure:
    """Translate an error answer of the homeserver into what the sender should do next."""
    code = getattr(response, "status_code", None)
    if code in ("M_LIMIT_EXCEEDED", 429, "429"):
        wait = getattr(response, "retry_after_ms", None)
        seconds = wait / 1000 if isinstance(wait, int | float) and wait > 0 else None
        return RetryLater(seconds or DEFAULT_RETRY_AFTER, "Matrix rate limit")
    if code == "M_FORBIDDEN":
        return RecipientGone(f"Matrix: {response}")
    return TemporaryFailure(f"Matrix: {response}")
