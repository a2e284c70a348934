"""A local stand-in for `signal-cli daemon --tcp`, speaking its JSON-RPC lines and nothing more.

Shapes follow signal-cli-jsonrpc(5) and signal-cli(1): one JSON object per line; answers echo
the request id; incoming messages are "receive" notifications with `envelope` and `account`;
`send` answers `{"timestamp", "results": [{"recipientAddress", "type", ...}]}`. The man pages
show `send` answering only a timestamp and do not describe failures; here the fake follows what
signal-cli does (its SendMessageResultUtils): per-recipient results, and when nobody got the
message an error object whose `data.response` holds those results, with code -5 when all
failures were rate limits, -4 when all were untrusted identities, else -1 "Failed to send
message". Error codes are signal-cli's exit codes negated (signal-cli(1), "Exit codes").
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

_UUID = re.compile(r"^[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}$")
_timestamps = itertools.count(int(time.time() * 1000))

# Default messages in the daemon's own words, for errors a test asks for without one. signal-cli
# reports a failed send per recipient (NETWORK_FAILURE and so on); -3, a server or IO error, is
# what its other commands answer when they cannot reach Signal.
ERROR_MESSAGES = {
    -1: "Failed to send message",
    -3: "Failed to send message: Connection reset (IOException)",
    -4: "Failed to send message due to untrusted identities",
    -5: "Failed to send message due to rate limiting",
}


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
) -> dict[str, Any]:
    """Return an envelope with a data message, as signal-cli prints one it received."""
    sent = _now_ms()
    data: dict[str, Any] = {
        "timestamp": sent,
        "message": text,
        "expiresInSeconds": 0,
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
        data["groupInfo"] = {
            "groupId": group_id,
            "groupName": "Nachbarschaft Innenstadt-West",
            "revision": 4,
            "type": "DELIVER",
        }
    return _envelope(uuid, number, name, sent, dataMessage=data)


def receipt_envelope(uuid: str, *, number: str | None = None) -> dict[str, Any]:
    """Return a delivery receipt envelope: no dataMessage, nothing to answer."""
    sent = _now_ms()
    receipt = {
        "when": sent,
        "isDelivery": True,
        "isRead": False,
        "isViewed": False,
        "timestamps": [sent - 1000],
    }
    return _envelope(uuid, number, "Resident", sent, receiptMessage=receipt)


def typing_envelope(uuid: str) -> dict[str, Any]:
    """Return a typing indicator envelope."""
    sent = _now_ms()
    return _envelope(
        uuid, None, "Resident", sent, typingMessage={"action": "STARTED", "timestamp": sent}
    )


def _envelope(
    uuid: str, number: str | None, name: str, sent: int, **content: Any
) -> dict[str, Any]:
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

    account: str = "+4963100000000"
    host: str = "127.0.0.1"
    port: int = 0
    calls: list[Call] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    connections: int = 0  # accepted so far, over every restart
    # Recipient ACI -> the per-recipient result type its sends get, e.g. UNREGISTERED_FAILURE.
    recipient_results: dict[str, str] = field(default_factory=dict)
    retry_after_seconds: int | None = None  # the hint RATE_LIMIT_FAILURE results carry
    _server: asyncio.Server | None = None
    _clients: set[asyncio.StreamWriter] = field(default_factory=set)
    # Like --receive-mode=on-connection: with no client connected, messages wait (on Signal's
    # server, in reality) and arrive once one connects.
    _undelivered: list[dict[str, Any]] = field(default_factory=list)
    _errors: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    _crash_on_send: tuple[int, bool, float] | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    # -- life ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Listen, on the same port as before after a restart."""
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop like a killed process: connections cut, unread requests lost."""
        if self._server is not None:
            self._server.close()
        for writer in list(self._clients):
            writer.transport.abort()
        self._clients.clear()
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
        """Pass an incoming Signal message to the connected clients (or keep it for later).

        `account` names another account of a multi-account daemon as the one it came to.
        """
        if not self._clients:
            self._undelivered.append(envelope)
            return
        line = self._notification(envelope, account)
        for writer in list(self._clients):
            writer.write(line)

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

    def crash_on_send(self, number: int, *, delivered: bool, downtime: float = 0.05) -> None:
        """On the `number`-th send from now, die before answering (after sending it or not)."""
        self._crash_on_send = (len(self.calls_of("send")) + number, delivered, downtime)

    # -- what a test reads -------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return bool(self._clients)

    def calls_of(self, method: str) -> list[Call]:
        return [call for call in self.calls if call.method == method]

    def delivered_to(self, to: str) -> list[Delivery]:
        return [delivery for delivery in self.deliveries if delivery.to == to]

    # -- the protocol ------------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._clients.add(writer)
        self.connections += 1
        waiting, self._undelivered = self._undelivered, []
        for envelope in waiting:
            writer.write(self._notification(envelope))
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
            self._clients.discard(writer)
            writer.transport.abort()

    async def _handle(self, request: dict[str, Any], writer: asyncio.StreamWriter) -> bool:
        """Carry out one request; return False when the daemon "crashed" doing it."""
        method, request_id = request.get("method"), request.get("id")
        if not isinstance(method, str):
            error = {"code": -32600, "message": "method field must be set", "data": None}
            self._answer(writer, request_id, error=error)
            return True
        params = request.get("params") or {}
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
        if method == "send":
            result, error = self._send(params)
            self._answer(writer, request_id, result=result, error=error)
        elif method == "sendTyping":
            self._answer(writer, request_id, result={})
        elif method == "version":
            self._answer(writer, request_id, result={"version": "0.13.4"})
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
        response = {"timestamp": _now_ms(), "results": results}
        kinds = {result["type"] for result in results}
        if "SUCCESS" in kinds:
            return response, None
        code = (
            -5 if kinds == {"RATE_LIMIT_FAILURE"} else -4 if kinds == {"IDENTITY_FAILURE"} else -1
        )
        return None, {"code": code, "message": ERROR_MESSAGES[code], "data": {"response": response}}

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
        if kind == "RATE_LIMIT_FAILURE" and self.retry_after_seconds is not None:
            result["retryAfterSeconds"] = self.retry_after_seconds
        return result

    def _notification(self, envelope: dict[str, Any], account: str | None = None) -> bytes:
        params = {"envelope": envelope, "account": account or self.account}
        return _line({"jsonrpc": "2.0", "method": "receive", "params": params})

    @staticmethod
    def _answer(
        writer: asyncio.StreamWriter, request_id: Any, *, result: Any = None, error: Any = None
    ) -> None:
        body: dict[str, Any] = {"jsonrpc": "2.0"}
        if error is not None:
            body["error"] = error
        else:
            body["result"] = result
        body["id"] = request_id
        writer.write(_line(body))


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
