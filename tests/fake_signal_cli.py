"""A local stand-in for `signal-cli daemon --tcp`, speaking its JSON-RPC lines and nothing more.

Shapes follow signal-cli-jsonrpc(5) and signal-cli(1): one JSON object per line; answers echo
the request id; incoming messages are "receive" notifications with `envelope` and `account`;
`send` answers `{"timestamp", "results": [{"recipientAddress", "type", ...}]}`. The man pages
show `send` answering only a timestamp and do not describe failures; here the fake follows what
signal-cli does (its SendMessageResultUtils): per-recipient results, and when nobody got the
message an error object whose `data.response` holds those results, with code -5 when all
failures were rate limits, -4 when all were untrusted identities, else -1 "Failed to send
message". Error codes are signal-cli's exit codes negated (signal-cli(1), "Exit codes"); what
else goes wrong in a send (an IOException, an attachment that cannot be read or uploaded) is
-32603 with `data` null (SignalJsonRpcCommandHandler). `sendTyping` answers and fails the same
way (SendTypingCommand). Every receive notification's `account` is the account's number, even
where the bot names it by its ACI (JsonReceiveMessageHandler); `listAccounts` is served only by
a multi-account daemon. With `answer_delay` each answer comes after a random pause, so answers
overtake one another as they do when signal-cli runs each request on its own thread
(JsonRpcReader).

Receiving follows signal-cli's SignalJsonRpcDispatcherHandler and DaemonCommand. In
--receive-mode on-connection every connection is subscribed as it opens, and its notifications
carry the receive object itself as `params`. In --receive-mode manual a connection gets nothing
until it calls `subscribeReceive`, which answers the subscription id (a number, counted across
all connections and subscriptions, from 0); its notifications are `{"subscription": id,
"result": <the receive object>}`. `unsubscribeReceive` with `{"subscription": id}` answers `{}`
or error -1 "Unknown subscription id"; subscriptions end with their connection. While no
connection is subscribed, messages stay on Signal's server (here: `waiting`); once one is
written to a connection, signal-cli has acknowledged it to Signal (ReceiveHelper), so it is
gone from there (here: in `handed_over`).
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

_UUID = re.compile(r"^[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}$")
_timestamps = itertools.count(int(time.time() * 1000))

# Default messages in the daemon's own words, for errors a test asks for without one. signal-cli
# reports a failed send per recipient (NETWORK_FAILURE and so on); what else fails in `send` is
# an IOException that SendCommand wraps as UnexpectedErrorException and
# SignalJsonRpcCommandHandler answers as -32603, naming both classes, with `data` null. `send`
# never answers -3 (only other commands do).
ERROR_MESSAGES = {
    -1: "Failed to send message",
    -3: "Failed to read the message (IOException)",
    -4: "Failed to send message due to untrusted identities",
    -5: "Failed to send message due to rate limiting",
    -32603: (
        "Failed to send message: Connection reset (SocketException) (UnexpectedErrorException)"
    ),
}
# What `send` answers when Signal rate limits an attachment upload (a 413 from the upload
# service, libsignal's RateLimitException, an IOException): no retry hint survives.
UPLOAD_RATE_LIMITED = (
    "Failed to send message: Rate limit exceeded: 413 (RateLimitException) "
    "(UnexpectedErrorException)"
)


# ServiceConfig.MAX_MESSAGE_SIZE_BYTES and MimeUtils.LONG_TEXT.
MAX_MESSAGE_SIZE_BYTES = 2000
LONG_TEXT = "text/x-signal-plain"
# DataURI.DATA_URI_PATTERN, written as Python.
DATA_URI_PATTERN = re.compile(
    r"\Adata:(?P<type>.+?/.+?)?(?P<parameters>;.+?=.+?)?(?P<base64>;base64)?,(?P<data>.+)\Z",
    re.IGNORECASE,
)


def _now_ms() -> int:
    return next(_timestamps)


def data_envelope(
    uuid: str,
    text: str | None = None,
    *,
    number: str | None = "+4917612345678",
    name: str = "Resident",
    group_id: str | None = None,
    attachments: int = 0,
    **content: Any,
) -> dict[str, Any]:
    """Return an envelope with a data message, as signal-cli prints one it received.

    `content` adds JsonDataMessage fields, such as CONTACT, POLL or PAYMENT below.
    """
    sent = _now_ms()
    data = _data_message(sent, text, group_id=group_id, attachments=attachments)
    return _envelope(uuid, number, name, sent, dataMessage={**data, **content})


# Data message contents without text, as JsonSharedContact, JsonPollCreate and JsonPayment
# write them.
CONTACT = {
    "contacts": [
        {
            "name": {
                "nickname": None,
                "given": "Anna",
                "family": "Schmitt",
                "prefix": None,
                "suffix": None,
                "middle": None,
            },
            "phone": [{"value": "+4963112345", "type": "MOBILE", "label": None}],
            "organization": None,
        }
    ]
}
POLL = {"pollCreate": {"question": "Wann?", "allowMultiple": False, "options": ["Sa", "So"]}}
PAYMENT = {"payment": {"note": "Danke", "receipt": "cmVjZWlwdA=="}}


def sync_sent_envelope(own_aci: str, to: str, text: str) -> dict[str, Any]:
    """Return what signal-cli prints when another device of the bot's account sent a message.

    JsonSyncMessage.sentMessage is a JsonSyncDataMessage: the destination, then the data
    message's fields unwrapped beside it.
    """
    sent = _now_ms()
    sent_message = {
        "destination": to,
        "destinationNumber": None,
        "destinationUuid": to,
        **_data_message(sent, text),
    }
    return _envelope(own_aci, None, "Bot", sent, syncMessage={"sentMessage": sent_message})


def edit_envelope(
    uuid: str, text: str, edits: dict[str, Any], *, number: str | None = "+4917612345678"
) -> dict[str, Any]:
    """Return the envelope of a correction of the message in envelope `edits`.

    JsonEditMessage: `targetSentTimestamp` names the message corrected, `dataMessage` is the
    whole new message (its own timestamp, the text as it reads now); no `dataMessage` beside it.
    """
    sent = _now_ms()
    edit = {
        "targetSentTimestamp": edits["timestamp"],
        "dataMessage": _data_message(sent, text),
    }
    return _envelope(uuid, number, "Resident", sent, editMessage=edit)


def _data_message(
    sent: int, text: str | None, *, group_id: str | None = None, attachments: int = 0
) -> dict[str, Any]:
    # JsonDataMessage: these four always; the rest only when set (NON_NULL).
    data: dict[str, Any] = {
        "timestamp": sent,
        "message": text,
        "expiresInSeconds": 0,
        "isExpirationUpdate": False,
        "viewOnce": False,
    }
    if attachments:
        data["attachments"] = [
            {
                "contentType": "image/jpeg",
                "filename": f"photo{i}.jpg",
                "id": f"attachment{sent}{i}.jpg",
                "size": 48213,
                "width": 800,
                "height": 600,
                "caption": None,
                "uploadTimestamp": sent,
            }
            for i in range(attachments)
        ]
    if group_id is not None:
        data["groupInfo"] = group_info(group_id)
    return data


def group_info(group_id: str, *, update: bool = False) -> dict[str, Any]:
    """Return a data message's group, as JsonGroupInfo writes it (every field, always).

    `groupId` is the group's id in base64, `type` "UPDATE" for a change of the group (members,
    name, settings) and "DELIVER" for a message to it.
    """
    return {
        "groupId": group_id,
        "groupName": "Nachbarschaft Innenstadt-West",
        "revision": 5 if update else 4,
        "type": "UPDATE" if update else "DELIVER",
    }


def group_update_envelope(uuid: str, group_id: str) -> dict[str, Any]:
    """Return what signal-cli prints when someone changed a group: no text, type UPDATE."""
    sent = _now_ms()
    data = {**_data_message(sent, None), "groupInfo": group_info(group_id, update=True)}
    return _envelope(uuid, None, "Resident", sent, dataMessage=data)


def receipt_envelope(
    uuid: str, *, number: str | None = None, kind: str = "delivery"
) -> dict[str, Any]:
    """Return a receipt envelope (`kind` delivery, read or viewed): nothing to answer.

    JsonReceiptMessage: `when`, one flag per kind of receipt, and the timestamps of the
    messages it is about; no dataMessage beside it.
    """
    sent = _now_ms()
    receipt = {
        "when": sent,
        "isDelivery": kind == "delivery",
        "isRead": kind == "read",
        "isViewed": kind == "viewed",
        "timestamps": [sent - 1000],
    }
    return _envelope(uuid, number, "Resident", sent, receiptMessage=receipt)


def typing_envelope(
    uuid: str, *, action: str = "STARTED", group_id: str | None = None
) -> dict[str, Any]:
    """Return a typing indicator envelope (`action` STARTED or STOPPED).

    JsonTypingMessage: `action`, `timestamp`, and `groupId` only for typing in a group.
    """
    sent = _now_ms()
    typing: dict[str, Any] = {"action": action, "timestamp": sent}
    if group_id is not None:
        typing["groupId"] = group_id
    return _envelope(uuid, None, "Resident", sent, typingMessage=typing)


def _envelope(
    uuid: str, number: str | None, name: str, sent: int, **content: Any
) -> dict[str, Any]:
    # JsonMessageEnvelope: these eight always; one of the message kinds beside them.
    return {
        # `source` is deprecated: the number when known, else the ACI.
        "source": number or uuid,
        "sourceNumber": number,
        "sourceUuid": uuid,
        "sourceName": name,
        "sourceDevice": 1,
        "timestamp": sent,
        "serverReceivedTimestamp": sent + 40,
        "serverDeliveredTimestamp": sent + 55,
        **content,
    }


@dataclass(frozen=True)
class Call:
    """One request the daemon read, and when (time.monotonic())."""

    method: str
    params: dict[str, Any]
    at: float
    id: Any


@dataclass(frozen=True)
class Delivery:
    """A message the daemon handed to Signal: to a person's ACI or to a group."""

    to: str
    text: str
    attachments: tuple[str, ...]
    at: float


@dataclass
class FakeSignalCli:
    """The daemon: listens on 127.0.0.1 (a free port), answers, pushes, fails when told."""

    account: str = "+4963100000000"  # the number, which every receive notification carries
    aci: str = "5e0a1c3b-9d2f-4b8e-8c7a-1f2e3d4c5b6a"  # the same account's ACI
    # Further accounts make it a multi-account daemon (started without -a).
    other_accounts: tuple[str, ...] = ()
    host: str = "127.0.0.1"
    port: int = 0
    receive_mode: str = "on-connection"  # or "manual", as `daemon --receive-mode`
    calls: list[Call] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    connections: int = 0  # accepted so far, over every restart
    # Recipient ACI -> the per-recipient result type its sends get, e.g. UNREGISTERED_FAILURE.
    recipient_results: dict[str, str] = field(default_factory=dict)
    retry_after_seconds: int | None = None  # the hint RATE_LIMIT_FAILURE results carry
    # A "proof required" challenge: RATE_LIMIT_FAILURE results then carry this `token`.
    challenge_token: str | None = None
    # Envelopes written to a connection: acknowledged to Signal, the bot's to answer.
    handed_over: list[dict[str, Any]] = field(default_factory=list)
    # Answer each request after up to this many seconds, so answers come out of order.
    answer_delay: float = 0.0
    answered: list[Any] = field(default_factory=list)  # request ids, in the order answered
    _server: asyncio.Server | None = None
    # Each connection with its subscriptions: id -> whether the daemon made it by itself
    # (on-connection), whose notifications are not wrapped.
    _clients: dict[asyncio.StreamWriter, dict[int, bool]] = field(default_factory=dict)
    _subscription_ids: itertools.count[int] = field(default_factory=itertools.count)
    # Messages on Signal's server, waiting for a subscribed connection.
    _undelivered: list[tuple[dict[str, Any], str | None]] = field(default_factory=list)
    _errors: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    _crash_on_send: tuple[int, bool, float] | None = None
    _upload_limited: bool = False
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    # -- life ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Listen, on the same port as before after a restart."""
        # A new process: subscription ids count from 0 again (a static counter in signal-cli).
        self._subscription_ids = itertools.count()
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop like a killed process: connections cut, unread requests lost."""
        if self._server is not None:
            self._server.close()
        for writer in list(self._clients):
            writer.transport.abort()
        self._clients.clear()  # subscriptions die with their connections
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def restart(self, downtime: float = 0.05) -> None:
        """Go away for `downtime` seconds and come back on the same port."""
        await self.stop()
        await asyncio.sleep(downtime)
        await self.start()

    async def close(self) -> None:
        await self.stop()
        for task in list(self._tasks):
            task.cancel()

    # -- what a test tells it ----------------------------------------------------------------

    def receive(self, envelope: dict[str, Any], *, account: str | None = None) -> None:
        """Pass an incoming Signal message to every subscription (or keep it for later).

        `account` names another account of a multi-account daemon as the one it came to.
        """
        if not any(self._clients.values()):
            self._undelivered.append((envelope, account))
            return
        for writer, subscriptions in self._clients.items():
            for subscription, internal in subscriptions.items():
                self._hand_over(writer, envelope, account, None if internal else subscription)

    def fail_next(
        self, method: str, code: int, message: str | None = None, data: Any = None
    ) -> None:
        """Answer the next call of `method` with this error object instead of doing it."""
        error = {
            "code": code,
            "message": message or ERROR_MESSAGES.get(code, "error"),
            "data": data,
        }
        self._errors.setdefault(method, []).append(error)

    def rate_limit_next_upload(self) -> None:
        """Fail the next send with attachments as a rate limit on their upload form does."""
        self._upload_limited = True

    def crash_on_send(self, number: int, *, delivered: bool, downtime: float = 0.05) -> None:
        """On the `number`-th send from now, die before answering (after sending it or not)."""
        self._crash_on_send = (len(self.calls_of("send")) + number, delivered, downtime)

    # -- what a test reads -------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return bool(self._clients)

    @property
    def subscribed(self) -> bool:
        """Whether some connection receives messages (signal-cli's receive loop runs)."""
        return any(self._clients.values())

    @property
    def waiting(self) -> list[dict[str, Any]]:
        """Envelopes still on Signal's server: nothing has taken them yet."""
        return [envelope for envelope, _ in self._undelivered]

    def calls_of(self, method: str) -> list[Call]:
        return [call for call in self.calls if call.method == method]

    def delivered_to(self, to: str) -> list[Delivery]:
        return [delivery for delivery in self.deliveries if delivery.to == to]

    # -- the protocol ------------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._clients[writer] = {}
        self.connections += 1
        if self.receive_mode == "on-connection":
            # SignalJsonRpcDispatcherHandler.handleConnection: subscribeReceive(m, true).
            self._clients[writer][next(self._subscription_ids)] = True
            self._flush(writer, None)
        try:
            while line := await reader.readline():
                try:
                    request = json.loads(line)
                except ValueError:
                    self._answer(writer, None, error={"code": -32700, "message": "Parse error"})
                    continue
                if not await self._handle(request, writer):
                    return
        except (ConnectionError, OSError):
            pass
        finally:
            self._clients.pop(writer, None)
            writer.transport.abort()

    async def _handle(self, request: dict[str, Any], writer: asyncio.StreamWriter) -> bool:
        """Carry out one request; return False when the daemon "crashed" doing it."""
        method, request_id = request.get("method"), request.get("id")
        if not isinstance(method, str):
            error = {"code": -32600, "message": "method field must be set", "data": None}
            self._answer(writer, request_id, error=error)
            return True
        raw_params = request.get("params")
        params = raw_params or {}
        self.calls.append(Call(method, params, time.monotonic(), request_id))
        if method == "send" and self._crash_on_send:
            number, delivered, downtime = self._crash_on_send
            if len(self.calls_of("send")) == number:
                self._crash_on_send = None
                if delivered:
                    self._send(params)
                task = asyncio.create_task(self.restart(downtime))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
                return False
        if self._errors.get(method):
            self._answer(writer, request_id, error=self._errors[method].pop(0))
            return True
        account = params.get("account") if isinstance(params, dict) else None
        # SignalJsonRpcCommandHandler.getManagerFromParams: a number or an ACI will do.
        known = (self.account, self.aci, *self.other_accounts)
        if self.other_accounts and account is not None and account not in known:
            error = {"code": -32602, "message": "Specified account does not exist", "data": None}
            self._answer(writer, request_id, error=error)
            return True
        if method == "send":
            result, error = self._send(params)
            self._answer(writer, request_id, result=result, error=error)
        elif method == "sendTyping":
            result, error = self._typing(params)
            self._answer(writer, request_id, result=result, error=error)
        elif method == "listAccounts" and self.other_accounts:
            # ListAccountsCommand: numbers only (its JsonAccount record has no ACI).
            numbers = [self.account, *self.other_accounts]
            self._answer(writer, request_id, result=[{"number": n} for n in numbers])
        elif method == "version":
            self._answer(writer, request_id, result={"version": "0.13.4"})
        elif method == "subscribeReceive":
            subscription = next(self._subscription_ids)
            self._clients.setdefault(writer, {})[subscription] = False
            self._answer(writer, request_id, result=subscription)
            self._flush(writer, subscription)
        elif method == "unsubscribeReceive":
            result, error = self._unsubscribe(self._clients.get(writer, {}), raw_params)
            self._answer(writer, request_id, result=result, error=error)
        else:
            error = {"code": -32601, "message": "Method not implemented", "data": None}
            self._answer(writer, request_id, error=error)
        return True

    def _send(self, params: dict[str, Any]) -> tuple[Any, Any]:
        recipients = params.get("recipient") or []
        if isinstance(recipients, str):
            recipients = [recipients]
        group_id = params.get("groupId")
        text = params.get("message") or ""
        attachments = params.get("attachments") or []
        if isinstance(attachments, str):
            attachments = [attachments]
        if not recipients and not group_id:
            return None, {"code": -1, "message": "No recipients given", "data": None}
        if not text and not attachments:
            message = (
                "Sending empty message is not allowed, either a message, attachment or sticker "
                "must be given."
            )
            return None, {"code": -1, "message": message, "data": None}
        for attachment in attachments:
            if not DATA_URI_PATTERN.match(attachment):
                # AttachmentHelper reads what is not a data URI as a file path.
                message = (
                    f"Failed to send message: {attachment}: {attachment} (No such file or "
                    "directory) (AttachmentInvalidException) (UnexpectedErrorException)"
                )
                return None, {"code": -32603, "message": message, "data": None}
        if attachments and self._upload_limited:
            self._upload_limited = False
            message = (
                f"Failed to send message: {attachments[0]}: Rate limit exceeded: 413 "
                "(AttachmentInvalidException) (UnexpectedErrorException)"
            )
            return None, {"code": -32603, "message": message, "data": None}
        if len(text.encode()) > MAX_MESSAGE_SIZE_BYTES:
            # ManagerImpl.applyMessage: the body is cut, the whole text goes as an attachment.
            long_text = base64.b64encode(text.encode()).decode()
            attachments = [*attachments, f"data:{LONG_TEXT};base64,{long_text}"]
            text = text.encode()[:MAX_MESSAGE_SIZE_BYTES].decode(errors="ignore")
        now = time.monotonic()
        results = []
        for recipient in recipients:
            kind = self.recipient_results.get(recipient, "SUCCESS")
            results.append(self._result(recipient, kind))
            if kind == "SUCCESS":
                self.deliveries.append(Delivery(recipient, text, tuple(attachments), now))
        if group_id:
            # Group sends report one result per member; the fake group has one other member.
            member = self._result("0b9c6d1e-7a55-4f0e-9a1c-3d2e1f0a9b8c", "SUCCESS")
            results.append({**member, "groupId": group_id})
            self.deliveries.append(Delivery(group_id, text, tuple(attachments), now))
        return self._outcome(results)

    def _typing(self, params: dict[str, Any]) -> tuple[Any, Any]:
        """Follow SendTypingCommand: per-recipient results, failing as `send` does."""
        recipients = params.get("recipient") or []
        if isinstance(recipients, str):
            recipients = [recipients]
        group_id = params.get("groupId")
        if not recipients and not group_id:
            return None, {"code": -1, "message": "No recipients given", "data": None}
        results = [
            self._result(recipient, self.recipient_results.get(recipient, "SUCCESS"))
            for recipient in recipients
        ]
        if group_id:
            member = self._result("0b9c6d1e-7a55-4f0e-9a1c-3d2e1f0a9b8c", "SUCCESS")
            results.append({**member, "groupId": group_id})
        return self._outcome(results)

    @staticmethod
    def _outcome(results: list[dict[str, Any]]) -> tuple[Any, Any]:
        """Answer as SendMessageResultUtils.outputResult: the results, or an error holding them."""
        response = {"timestamp": _now_ms(), "results": results}
        kinds = {result["type"] for result in results}
        if "SUCCESS" in kinds:
            return response, None
        code = (
            -5 if kinds == {"RATE_LIMIT_FAILURE"} else -4 if kinds == {"IDENTITY_FAILURE"} else -1
        )
        return None, {"code": code, "message": ERROR_MESSAGES[code], "data": {"response": response}}

    @staticmethod
    def _unsubscribe(subscriptions: dict[int, bool], params: Any) -> tuple[Any, Any]:
        """Follow SignalJsonRpcDispatcherHandler.UnsubscribeReceiveCommand (single account)."""
        if params is None:
            # unsubscribeReceive(m): one subscription of this connection, if there is one.
            for subscription in list(subscriptions)[:1]:
                del subscriptions[subscription]
            return {}, None
        if isinstance(params, list) and params:
            wanted = params[0]
        elif isinstance(params, dict) and "subscription" in params:
            wanted = params["subscription"]
        else:
            # `req.get("subscription").asInt()` on a missing field: a NullPointerException.
            message = (
                'Cannot invoke "com.fasterxml.jackson.databind.JsonNode.asInt()" because the '
                'return value of "...ObjectNode.get(String)" is null (NullPointerException)'
            )
            return None, {"code": -32603, "message": message, "data": None}
        wanted = _as_int(wanted)
        if wanted not in subscriptions:
            return None, {"code": -1, "message": "Unknown subscription id", "data": None}
        del subscriptions[wanted]
        return {}, None

    def _flush(self, writer: asyncio.StreamWriter, subscription: int | None) -> None:
        """Hand the messages waiting on Signal's server to a connection that just subscribed."""
        waiting, self._undelivered = self._undelivered, []
        for envelope, account in waiting:
            self._hand_over(writer, envelope, account, subscription)

    def _hand_over(
        self,
        writer: asyncio.StreamWriter,
        envelope: dict[str, Any],
        account: str | None,
        subscription: int | None,
    ) -> None:
        # JsonReceiveMessageHandler's object; wrapped for an explicit subscription.
        payload = {"envelope": envelope, "account": account or self.account}
        params = (
            payload if subscription is None else {"subscription": subscription, "result": payload}
        )
        writer.write(_line({"jsonrpc": "2.0", "method": "receive", "params": params}))
        self.handed_over.append(envelope)

    def _result(self, recipient: str, kind: str) -> dict[str, Any]:
        is_uuid = bool(_UUID.match(recipient))
        result: dict[str, Any] = {
            "recipientAddress": {
                "uuid": recipient if is_uuid else None,
                "number": None if is_uuid else recipient,
                "username": None,
            },
            "type": kind,
        }
        # JsonSendMessageResult: `token` and `retryAfterSeconds` only when set (NON_NULL).
        if kind == "RATE_LIMIT_FAILURE" and self.challenge_token is not None:
            result["token"] = self.challenge_token
        if kind == "RATE_LIMIT_FAILURE" and self.retry_after_seconds is not None:
            result["retryAfterSeconds"] = self.retry_after_seconds
        return result

    def _answer(
        self,
        writer: asyncio.StreamWriter,
        request_id: Any,
        *,
        result: Any = None,
        error: Any = None,
    ) -> None:
        body: dict[str, Any] = {"jsonrpc": "2.0"}
        if error is not None:
            body["error"] = error
        else:
            body["result"] = result
        body["id"] = request_id
        if self.answer_delay <= 0:
            self._write_answer(writer, body)
            return
        # JsonRpcReader hands each request to its own (virtual) thread: a slow send is
        # answered after a quick one that came later.
        delay = random.uniform(0, self.answer_delay)
        task = asyncio.create_task(self._answer_later(writer, body, delay))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _answer_later(
        self, writer: asyncio.StreamWriter, body: dict[str, Any], delay: float
    ) -> None:
        await asyncio.sleep(delay)
        if not writer.is_closing():
            self._write_answer(writer, body)

    def _write_answer(self, writer: asyncio.StreamWriter, body: dict[str, Any]) -> None:
        writer.write(_line(body))
        self.answered.append(body["id"])


def _as_int(value: Any) -> int:
    """Read a JSON value as Jackson's JsonNode.asInt() does: what is not a number is 0."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float):
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return 0
    return 0


def _line(body: dict[str, Any]) -> bytes:
    return (json.dumps(body, ensure_ascii=False) + "\n").encode()


async def wait_until(
    condition: Callable[[], bool], *, timeout: float = 5.0, what: str = "condition"
) -> None:
    """Poll `condition` every few milliseconds; fail the test if it stays false too long."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.005)
