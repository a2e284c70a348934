"""Signal through signal-cli's JSON-RPC daemon: numbered menus instead of buttons, careful pacing.

signal-cli holds the Signal account; `signal-cli -a ACCOUNT daemon --tcp HOST:PORT` speaks
JSON-RPC 2.0 with one JSON object per line (signal-cli-jsonrpc(5)). Our requests carry ids and
are answered in any order; incoming messages arrive as "receive" notifications. Facts about
shapes and codes below come from signal-cli's man pages; where those are silent we say so and
name the class of signal-cli's source that does it.

Receiving, as signal-cli does it: while anything subscribes to an account's messages, its
receive loop (ReceiveHelper) takes each message off Signal's server, stores it in its message
cache, acknowledges it to the server, then hands it to every subscriber and deletes it from the
cache. A message written to our connection is therefore gone from Signal: we answer it, or
nobody does. With `--receive-mode on-connection` each connection is subscribed as it opens
(SocketHandler, SignalJsonRpcDispatcherHandler.handleConnection), so signal-cli takes messages
for as long as the connection is open. With `--receive-mode manual` nothing is taken until we
call `subscribeReceive`, and `unsubscribeReceive` stops it again; that is how a stopping bot
takes nothing it will not answer.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import heapq
import itertools
import json
import logging
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bot.config import parse_endpoint
from bot.i18n import FSI, PDI, RLM
from bot.messages import Attachment, Incoming, Reply
from bot.transports.base import (
    DeliveryError,
    Progress,
    RecipientGone,
    RetryLater,
    TemporaryFailure,
    numbered_menu,
)

if TYPE_CHECKING:
    from bot.config import Settings
    from handlers.conversation import Conversation

log = logging.getLogger(__name__)

# JSON-RPC error codes of signal-cli. signal-cli-jsonrpc(5) does not list them; they are the
# exit codes of signal-cli(1) ("Exit codes"), negated: 1 user error, 3 server or IO error,
# 4 untrusted key, 5 rate limiting, 6 captcha rejected. Protocol errors use JSON-RPC's own
# -32600 to -32603.
USER_ERROR = -1
IO_ERROR = -3
UNTRUSTED_KEY_ERROR = -4
RATE_LIMIT_ERROR = -5
CAPTCHA_REJECTED_ERROR = -6
METHOD_NOT_FOUND = -32601
# SignalJsonRpcCommandHandler answers an exception it did not expect (an IOException from the
# network, a failed attachment upload) as JSON-RPC's internal error, with `data` null.
INTERNAL_ERROR = -32603

# What a person can send that is not text, as JsonDataMessage names it.
_UNREADABLE = ("attachments", "sticker", "contacts", "pollCreate", "payment")

# A challenge token as Signal hands them out (a UUID); anything else stays out of a command line.
_PLAIN_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,100}$")
# An account configured by its ACI rather than its number.
_ACI = re.compile(r"^[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}$")

# signal-cli's --receive-mode values that fit a bot. "on-start" (its default) takes messages
# off Signal even while no bot is connected and prints them, so they are lost to the bot.
RECEIVE_MODES = ("on-connection", "manual")

# Signal answers a rate limit with a hint most of the time; without one, wait a full minute
# rather than hammer an account that Signal may then ask to solve a captcha.
DEFAULT_RETRY_AFTER = 60.0
# signal-cli's ServiceConfig.MAX_MESSAGE_SIZE_BYTES: a body of more UTF-8 bytes is cut there and
# the whole text uploaded as a `text/x-signal-plain` attachment (ManagerImpl.applyMessage), an
# upload that can fail or be rate limited on its own. Every message we send stays within it.
MAX_MESSAGE_BYTES = 2000
# After a rate limit lifts, the bot's own sends go at half the pace for this long: Signal's
# limits are unpublished, and a limit met again soon may come with a captcha.
SLOW_AFTER_LIMIT = 3600.0
# Incoming envelopes are small, but a group's metadata or a long text can make a long line.
MAX_LINE_BYTES = 8 * 1024 * 1024


# -- JSON-RPC over TCP -------------------------------------------------------------------------


class SignalRpcError(Exception):
    """signal-cli answered a request with a JSON-RPC error object."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(f"signal-cli error {code}: {message}")
        self.code = code
        self.message = message
        self.data = data


class DaemonUnavailable(Exception):
    """signal-cli could not be reached, or did not answer, within the time allowed."""


@dataclass(eq=False)
class _Request:
    id: int
    line: bytes
    future: asyncio.Future[Any]
    # The connection this request was last written to; after a reconnect it is written again.
    written_on: int = 0
    resend: bool = True


class JsonRpcClient:
    """Keeps one connection to `signal-cli daemon --tcp` and matches answers to requests.

    A request stays pending until its answer arrives. When the connection drops, every pending
    request is written again, in the order they were made, as soon as the daemon is back; so a
    message is only lost if the daemon stays away longer than a caller is willing to wait. A
    request the daemon had already carried out when it went away is carried out twice: the
    protocol has no way to ask "did you send this?".
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        on_notification: Callable[[str, dict[str, Any]], None],
        on_connect: Callable[[int], None] | None = None,
        reconnect_initial: float = 0.5,
        reconnect_max: float = 30.0,
        connect_wait: float = 15.0,
        answer_timeout: float = 90.0,
    ) -> None:
        self.host = host
        self.port = port
        self.on_notification = on_notification
        # Called with the connection's number as soon as each connection is up.
        self.on_connect = on_connect
        self.reconnect_initial = reconnect_initial
        self.reconnect_max = reconnect_max
        self.connect_wait = connect_wait
        # Sending to a recipient with many devices, or through a slow network, takes seconds.
        self.answer_timeout = answer_timeout
        self._ids = itertools.count(1)
        self._pending: dict[int, _Request] = {}  # insertion order is the order to resend in
        self._writer: asyncio.StreamWriter | None = None
        self._connection = 0
        self._connected = asyncio.Event()
        self._lost: asyncio.Future[None] | None = None
        self._stopped = False

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    @property
    def connection(self) -> int:
        """The number of the current (or last) connection, counting from 1."""
        return self._connection

    async def run(self) -> None:
        """Stay connected to the daemon until cancelled, reconnecting with back-off."""
        delay = self.reconnect_initial
        outage_logged = False
        self._stopped = False
        try:
            while True:
                try:
                    reader, writer = await asyncio.open_connection(
                        self.host, self.port, limit=MAX_LINE_BYTES
                    )
                except OSError as exc:
                    # One warning per outage: a daemon that is restarting is not news each second.
                    level = logging.DEBUG if outage_logged else logging.WARNING
                    log.log(level, "signal-cli at %s:%s not reachable: %s", *self._at(), exc)
                    outage_logged = True
                else:
                    log.info("connected to signal-cli at %s:%s", *self._at())
                    outage_logged = False
                    delay = self.reconnect_initial
                    await self._serve(reader, writer)
                    log.warning("lost the connection to signal-cli; reconnecting")
                # Jitter keeps several bots from knocking on a restarted daemon in lockstep.
                await asyncio.sleep(delay * random.uniform(0.8, 1.2))
                delay = min(delay * 2, self.reconnect_max)
        finally:
            self._stopped = True
            for request in self._pending.values():
                if not request.future.done():
                    request.future.set_exception(DaemonUnavailable("the Signal transport stopped"))

    async def call(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        connect_wait: float | None = None,
        resend: bool = True,
    ) -> Any:
        """Send one request and return its result; raise SignalRpcError or DaemonUnavailable.

        With `resend=False` the request goes out on the current connection only and is given
        up if that connection drops: signal-cli keeps subscriptions per connection, so a
        subscription asked for on a connection that is gone means nothing on the next one.
        """
        if self._stopped:
            raise DaemonUnavailable("the Signal transport is not running")
        if not resend and not self._connected.is_set():
            raise DaemonUnavailable(f"not connected to signal-cli for {method}")
        request_id = next(self._ids)
        body: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "id": request_id}
        if params:
            body["params"] = params
        line = (json.dumps(body, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
        request = _Request(
            request_id, line, asyncio.get_running_loop().create_future(), resend=resend
        )
        self._pending[request_id] = request
        wait = self.connect_wait if connect_wait is None else connect_wait
        try:
            while True:
                if not self._connected.is_set():
                    try:
                        async with asyncio.timeout(wait):
                            await self._connected.wait()
                    except TimeoutError:
                        raise DaemonUnavailable(
                            "signal-cli at {}:{} is not reachable".format(*self._at())
                        ) from None
                lost = self._lost
                assert lost is not None
                await self._write(request)
                done, _ = await asyncio.wait(
                    {request.future, lost},
                    timeout=self.answer_timeout,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                if request.future.done():
                    return request.future.result()
                if not done:
                    raise DaemonUnavailable(f"signal-cli did not answer {method} in time")
                if not resend:
                    raise DaemonUnavailable(f"the connection to signal-cli dropped during {method}")
                # The connection dropped before the answer came: write it again once back.
        finally:
            del self._pending[request_id]
            if not request.future.done():
                request.future.cancel()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Read answers and notifications from one connection until it ends."""
        self._connection += 1
        self._writer = writer
        self._lost = asyncio.get_running_loop().create_future()
        # Whatever was waiting or unanswered goes out first, in its original order.
        for request in list(self._pending.values()):
            self._write_now(request)
        self._connected.set()
        if self.on_connect is not None:
            try:
                self.on_connect(self._connection)
            except Exception:
                log.exception("failed to set up a new connection to signal-cli")
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                self._dispatch(line)
        except (OSError, ValueError) as exc:  # ValueError: a line over MAX_LINE_BYTES
            log.warning("reading from signal-cli failed: %s", exc)
        finally:
            self._connected.clear()
            self._writer = None
            self._lost.set_result(None)
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def _write(self, request: _Request) -> None:
        writer = self._writer
        if writer is None or request.written_on == self._connection:
            return
        self._write_now(request)
        # On failure the reader sees the connection end, and the request goes out again.
        with contextlib.suppress(OSError):
            await writer.drain()

    def _write_now(self, request: _Request) -> None:
        writer = self._writer
        if writer is None or writer.is_closing() or request.future.done():
            return
        if not request.resend and request.written_on:
            return  # it belonged to a connection that is gone
        writer.write(request.line)
        request.written_on = self._connection

    def _dispatch(self, line: bytes) -> None:
        try:
            message = json.loads(line)
        except ValueError:
            log.warning("signal-cli sent a line that is not JSON; ignored")
            return
        if not isinstance(message, dict):
            return  # a batch answer; we never send batches
        if "method" in message:
            params = message.get("params")
            if isinstance(params, dict):
                try:
                    self.on_notification(str(message["method"]), params)
                except Exception:
                    log.exception("failed to handle a %s notification", message["method"])
            return
        request_id = message.get("id")
        request = self._pending.get(request_id) if isinstance(request_id, int) else None
        if request is None or request.future.done():
            if message.get("error"):
                log.warning("signal-cli reported an error for no request: %s", message["error"])
            return
        error = message.get("error")
        if error is not None:
            error = error if isinstance(error, dict) else {}
            code = error.get("code")
            request.future.set_exception(
                SignalRpcError(
                    code if isinstance(code, int) else 0,
                    str(error.get("message", "")),
                    error.get("data"),
                )
            )
        else:
            request.future.set_result(message.get("result"))

    def _at(self) -> tuple[str, int]:
        return self.host, self.port


# -- pacing ------------------------------------------------------------------------------------


class RateLimiter:
    """Let at most `rate` sends through per second; urgent ones (answers) go first.

    Sends are spaced evenly, never in bursts: Signal's limits are unpublished and an account
    that bursts may be asked to solve a captcha before it can send again.
    """

    def __init__(self, rate: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.interval = 1.0 / rate
        self._clock = clock
        self._next = 0.0  # the earliest moment the next send may go
        self._waiting: list[tuple[int, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._gate: asyncio.Task[None] | None = None

    async def acquire(self, *, urgent: bool = False) -> None:
        """Wait until one more send may go."""
        now = self._clock()
        if not self._waiting and now >= self._next:
            self._next = now + self.interval
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiting, (0 if urgent else 1, next(self._order), future))
        if self._gate is None or self._gate.done():
            self._gate = asyncio.create_task(self._open_gate())
        await future

    async def _open_gate(self) -> None:
        while self._waiting:
            delay = self._next - self._clock()
            if delay > 0:
                await asyncio.sleep(delay)
            _, _, future = heapq.heappop(self._waiting)
            if future.done():  # its sender was cancelled while waiting
                continue
            # From now, not from the planned moment: a late turn must not cause a burst.
            self._next = max(self._clock(), self._next) + self.interval
            future.set_result(None)


# -- rendering ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SignalMessage:
    """One Signal message: its text and its attachments as data URIs."""

    text: str
    attachments: tuple[str, ...] = ()


_SAFE_FILENAME = re.compile(r"[^A-Za-z0-9._-]+")
_DATA_URI_IN_TEXT = re.compile(r"data:[^,\s]*,[A-Za-z0-9+/=%]*")
_MIME = re.compile(r"^[A-Za-z0-9.+-]+/[A-Za-z0-9.+-]+$")


def data_uri(attachment: Attachment) -> str:
    """Encode an attachment as the data URI signal-cli's `send` takes (RFC 2397 plus filename)."""
    # ";" and "," would end the filename parameter early, so only plain characters stay.
    filename = _SAFE_FILENAME.sub("_", attachment.filename).strip("._") or "file"
    mime = attachment.mime_type if _MIME.match(attachment.mime_type) else "application/octet-stream"
    payload = base64.b64encode(attachment.content).decode("ascii")
    return f"data:{mime};filename={filename};base64,{payload}"


def render_reply(reply: Reply, *, numbered: bool = True) -> SignalMessage:
    """Render one reply as text: the message, its place, captions, then its buttons."""
    mark = RLM if reply.rtl else ""
    lines = [reply.text]
    if reply.place is not None:
        where = ", ".join(filter(None, [reply.place.name, reply.place.address]))
        if reply.rtl:
            where = f"{FSI}{where}{PDI}"  # a German address must not scramble an Arabic line
        lines.append(f"{mark}📍 {where}")
        if reply.place.map_url:
            # The link stands alone on its line, without marks, so every app recognises it.
            lines.append(reply.place.map_url)
    attachments = [a for a in reply.attachments if a.content]
    if len(attachments) < len(reply.attachments):
        # signal-cli reads a data URI with nothing after the comma as a file path
        # (DataURI.DATA_URI_PATTERN wants at least one data character) and fails the send.
        log.warning(
            "not sending empty attachments: %s",
            ", ".join(a.filename for a in reply.attachments if not a.content),
        )
    lines.extend(f"{mark}📎 {a.caption}" for a in attachments if a.caption)
    if numbered:
        lines.extend(mark + line for line in numbered_menu(reply))
    else:
        lines.extend(f"{mark}• {button.label}" for button in reply.flat_buttons())
    return SignalMessage(
        "\n".join(line for line in lines if line),
        tuple(data_uri(attachment) for attachment in attachments),
    )


def render_messages(replies: list[Reply]) -> list[SignalMessage]:
    """Render replies as few Signal messages as possible, each within MAX_MESSAGE_BYTES.

    A typed number presses the n-th button of the last reply that has buttons (the menu the
    conversation core remembers, for answers and for outbox notices alike), so only that menu
    is numbered; buttons of earlier replies are listed with bullets.

    Replies for one update are joined into one message, separated by blank lines: Signal has no
    message threads to keep apart, and every message counts against unpublished rate limits.
    A literal reply (a command to copy) is a message of its own, since phones copy whole
    messages. A reply too long for one message is split at paragraphs, else lines, else words; its
    attachments go with its last part.
    """
    with_buttons = [i for i, reply in enumerate(replies) if reply.buttons]
    last_menu = with_buttons[-1] if with_buttons else None
    messages: list[SignalMessage] = []
    texts: list[str] = []
    attachments: list[str] = []
    for index, reply in enumerate(replies):
        rendered = render_reply(reply, numbered=index == last_menu)
        parts = split_text(rendered.text) if rendered.text else []
        alone = reply.literal or (index > 0 and replies[index - 1].literal)
        for number, part in enumerate(parts):
            starts_alone = alone and number == 0
            if texts and (
                starts_alone or _utf8_size("\n\n".join([*texts, part])) > MAX_MESSAGE_BYTES
            ):
                messages.append(SignalMessage("\n\n".join(texts), tuple(attachments)))
                texts, attachments = [], []
            texts.append(part)
        attachments.extend(rendered.attachments)
    if texts or attachments:
        messages.append(SignalMessage("\n\n".join(texts), tuple(attachments)))
    return messages


def split_text(text: str, limit: int = MAX_MESSAGE_BYTES) -> list[str]:
    """Split text into parts of at most `limit` UTF-8 bytes at the widest boundary that fits."""
    parts = _split(text, limit, ("\n\n", "\n", " "))
    return [part.strip("\n") for part in parts if part.strip()]


def _split(text: str, limit: int, separators: tuple[str, ...]) -> list[str]:
    if _utf8_size(text) <= limit:
        return [text]
    if not separators:
        return _cut(text, limit)
    separator, narrower = separators[0], separators[1:]
    parts: list[str] = []
    current: str | None = None
    for piece in text.split(separator):
        joined = piece if current is None else current + separator + piece
        if _utf8_size(joined) <= limit:
            current = joined
            continue
        if current is not None:
            parts.append(current)
        *whole, current = _split(piece, limit, narrower)
        parts.extend(whole)
    if current is not None:
        parts.append(current)
    return parts


def _cut(text: str, limit: int) -> list[str]:
    """Cut a text without spaces (a long link, say) into pieces of at most `limit` bytes."""
    parts, current, size = [], [], 0
    for character in text:
        width = _utf8_size(character)
        if size + width > limit:
            parts.append("".join(current))
            current, size = [], 0
        current.append(character)
        size += width
    parts.append("".join(current))
    return parts


def _utf8_size(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


# -- delivery outcomes -------------------------------------------------------------------------


def _send_results(payload: Any) -> list[dict[str, Any]]:
    """Return the per-recipient results of a `send` answer or of an error's `data.response`."""
    if isinstance(payload, dict) and isinstance(payload.get("response"), dict):
        payload = payload["response"]
    results = payload.get("results") if isinstance(payload, dict) else None
    return [r for r in results if isinstance(r, dict)] if isinstance(results, list) else []


def _retry_after(results: list[dict[str, Any]]) -> float:
    hints = [r.get("retryAfterSeconds") for r in results]
    seconds = [float(h) for h in hints if isinstance(h, int | float) and h > 0]
    return max(seconds) if seconds else DEFAULT_RETRY_AFTER


def failure_of(results: list[dict[str, Any]]) -> DeliveryError | None:
    """Return what a failed per-recipient result of `send` means for the sender, or None."""
    failed = [r for r in results if r.get("type") != "SUCCESS"]
    if not failed or len(failed) < len(results):
        return None  # some recipient got it (a group): nothing to retry or stop
    kinds = {r.get("type") for r in failed}
    if "UNREGISTERED_FAILURE" in kinds:
        return RecipientGone("the recipient is not registered with Signal")
    if "RATE_LIMIT_FAILURE" in kinds:
        limited = [r for r in failed if r.get("type") == "RATE_LIMIT_FAILURE"]
        tokens = sorted({str(r["token"]) for r in limited if r.get("token")})
        if tokens:
            # A "proof required" limit: it lifts after retryAfterSeconds, or at once when the
            # operator solves a captcha for this challenge token.
            log.warning(
                "Signal asks this account to solve a captcha before sending more: see "
                "submitRateLimitChallenge in signal-cli(1), challenge token %s",
                ", ".join(tokens),
            )
        return RetryLater(_retry_after(limited), "Signal rate limit")
    if "IDENTITY_FAILURE" in kinds:
        _warn_untrusted()
        return TemporaryFailure("the recipient's safety number changed")
    return TemporaryFailure(f"Signal delivery failed: {', '.join(sorted(map(str, kinds)))}")


def delivery_error(error: SignalRpcError | DaemonUnavailable) -> DeliveryError:
    """Translate a failed `send` into what the sender should do next."""
    if isinstance(error, DaemonUnavailable):
        return TemporaryFailure(str(error))
    from_results = failure_of(_send_results(error.data))
    if from_results is not None:
        return from_results
    if error.code == RATE_LIMIT_ERROR:
        return RetryLater(DEFAULT_RETRY_AFTER, "Signal rate limit")
    if error.code == USER_ERROR and "not registered" in error.message:
        # signal-cli says "The user ... is not registered." when it cannot even resolve them.
        return RecipientGone("the recipient is not registered with Signal")
    if error.code == INTERNAL_ERROR:
        # SendCommand turns an IOException (a network fault, an upload that failed) into an
        # UnexpectedErrorException, "Failed to send message: <reason> (<exception class>)",
        # which SignalJsonRpcCommandHandler answers as -32603 with `data` null.
        # An attachment's failure names the whole data URI: not something for a log line.
        reason = _DATA_URI_IN_TEXT.sub("data:…", error.message)
        if "(RateLimitException)" in reason or "Rate limit exceeded" in reason:
            # Signal rate limited an upload (an attachment; AttachmentHelper wraps a limit on
            # its upload form as AttachmentInvalidException) before anything was sent. The
            # Retry-After is lost in the wrapping, so wait as long as for an unhinted limit.
            return RetryLater(DEFAULT_RETRY_AFTER, "Signal rate limit on an upload")
        return TemporaryFailure(f"signal-cli error {error.code}: {reason}")
    if error.code == UNTRUSTED_KEY_ERROR:
        _warn_untrusted()
    elif error.code != IO_ERROR:
        # Not Signal's weather but our request or the daemon's set-up: worth an operator's look.
        log.error("signal-cli rejected a send: %s", error)
    return TemporaryFailure(str(error))


def _warn_untrusted() -> None:
    log.warning(
        "a recipient's safety number changed and signal-cli does not trust it; start the "
        "daemon with --trust-new-identities always, or run `signal-cli trust`"
    )


# -- the transport -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Target:
    """Where an answer goes: one person (their ACI) or a group (its id)."""

    recipient: str | None = None
    group_id: str | None = None

    def params(self) -> dict[str, Any]:
        if self.group_id is not None:
            return {"groupId": self.group_id}
        return {"recipient": [self.recipient]}


@dataclass(eq=False)
class SignalTransport:
    """Answers Signal messages through signal-cli and sends what the outbox hands it."""

    conversation: Conversation
    account: str
    host: str = "127.0.0.1"
    port: int = 7583
    rate: float = 1.0
    # Show "typing…" only when an answer takes longer than this: every indicator is a message
    # to Signal too, and counts against the same limits.
    typing_after: float = 1.0
    reconnect_initial: float = 0.5
    reconnect_max: float = 30.0
    connect_wait: float = 15.0
    # The daemon's --receive-mode; the protocol cannot tell us which one it was started with.
    receive_mode: str = "on-connection"
    # On a clean stop (SIGTERM, Ctrl-C), how long to keep answering what signal-cli already
    # took off Signal's server before giving up on it. Below systemd's TimeoutStopSec (90 s by
    # default), which then kills the process; at SIGNAL_RATE 1 it covers about 20 answers.
    stop_timeout: float = 20.0
    name: str = field(default="signal", init=False)
    client: JsonRpcClient = field(init=False)
    limiter: RateLimiter = field(init=False)
    # The newest answer task per chat: the next message of that chat waits for it.
    _latest: dict[str, asyncio.Task[None]] = field(default_factory=dict, init=False)
    # Every answer task not yet finished, for a stop to wait for.
    _answering: set[asyncio.Task[None]] = field(default_factory=set, init=False)
    _background: set[asyncio.Task[None]] = field(default_factory=set, init=False)
    _received: int = field(default=0, init=False)  # messages taken on to answer, ever
    _stopping: bool = field(default=False, init=False)
    _cut_off: bool = field(default=False, init=False)  # past the stop's time limit
    _dropped: int = field(default=0, init=False)  # messages that came after the cut-off
    # Manual mode: our subscription as (connection number, subscription id), and the request
    # for one while it is on its way.
    _subscription: tuple[int, int] | None = field(default=None, init=False)
    _subscribing: asyncio.Task[None] | None = field(default=None, init=False)
    # The connection on which signal-cli sent an unsubscribed message although we are in
    # manual mode: it subscribed that connection by itself.
    _auto_subscribed: int = field(default=0, init=False)
    # The `account` our receive notifications carry: signal-cli stamps them with the account's
    # number (JsonReceiveMessageHandler: `m.getSelfNumber()`), even when we name it by its ACI.
    # None until known; `_any_account` when the daemon serves one account only.
    _numbers: frozenset[str] | None = field(default=None, init=False)
    _any_account: bool = field(default=False, init=False)
    _learning: asyncio.Task[None] | None = field(default=None, init=False)
    # Notifications that came before we knew our number, in order.
    _held: list[dict[str, Any]] = field(default_factory=list, init=False)
    # Captcha challenges reported to the core, and whether a rate limit was (until a send
    # gets through again).
    _challenges: set[str] = field(default_factory=set, init=False)
    _limited: bool = field(default=False, init=False)
    # Until when (time.monotonic()) proactive sends go at half the pace, after a rate limit.
    _slow_until: float = field(default=0.0, init=False)

    def __post_init__(self) -> None:
        if self.receive_mode not in RECEIVE_MODES:
            raise ValueError(f"receive_mode must be one of {', '.join(RECEIVE_MODES)}")
        if not _ACI.match(self.account):
            self._numbers = frozenset({self.account})
        self.client = JsonRpcClient(
            self.host,
            self.port,
            on_notification=self._on_notification,
            on_connect=self._on_connect,
            reconnect_initial=self.reconnect_initial,
            reconnect_max=self.reconnect_max,
            connect_wait=self.connect_wait,
        )
        self.limiter = RateLimiter(self.rate)

    @classmethod
    def from_settings(cls, conversation: Conversation, settings: Settings) -> SignalTransport:
        """Build the transport from the SIGNAL_* settings."""
        if not settings.signal_account:
            raise ValueError("SIGNAL_ACCOUNT is not set")
        host, port = parse_endpoint(settings.signal_cli_endpoint)
        return cls(
            conversation,
            account=settings.signal_account,
            host=host,
            port=port,
            rate=settings.signal_rate,
            receive_mode=settings.signal_receive_mode,
        )

    async def run(self) -> None:
        """Receive and answer Signal messages until cancelled, then finish what is in flight."""
        self._stopping = self._cut_off = False
        self._dropped = 0
        connection = asyncio.create_task(self.client.run(), name="signal-cli-connection")
        try:
            # Not `await connection`: cancelling run() must leave the connection open, for the
            # answers still on their way and for the outbox's sends.
            await asyncio.wait({connection})
            connection.result()  # it only ends by failing
        finally:
            await self._stop(connection)

    async def _stop(self, connection: asyncio.Task[None]) -> None:
        """Stop taking messages, answer those taken, then close; give up after stop_timeout.

        signal-cli acknowledges a message to Signal's server before it writes it to us (see the
        module's docstring), so an answer cancelled here is an answer nobody ever gets.
        """
        self._stopping = True
        loop = asyncio.get_running_loop()
        began = loop.time()
        deadline = began + self.stop_timeout
        log.info(
            "stopping Signal: finishing %d answers in flight, for at most %.0f s",
            sum(not task.done() for task in self._answering),
            self.stop_timeout,
        )
        try:
            if not connection.done():
                async with asyncio.timeout_at(deadline):
                    await self._stop_receiving()
                    await self._answer_everything_taken()
        except TimeoutError:
            pass
        finally:
            # Cancelled again while waiting, or out of time: whatever is left is cut short.
            self._cut_off = True
            unfinished = [task for task in self._answering if not task.done()]
            for task in unfinished:
                task.cancel()
            connection.cancel()  # after the cancels above, so no answer fails for want of it
            await asyncio.gather(*unfinished, return_exceptions=True)
            with contextlib.suppress(asyncio.CancelledError):
                await connection
            if unfinished or self._dropped:
                log.warning(
                    "stopped Signal %.1f s after the stop began; unanswered messages cut short: %d",
                    loop.time() - began,
                    len(unfinished) + self._dropped,
                )

    async def _stop_receiving(self) -> None:
        """In manual mode, end our subscription: signal-cli then takes nothing more for us."""
        if self.receive_mode != "manual":
            return  # on-connection: signal-cli takes messages until the connection closes
        if self._subscribing is not None:
            # A subscription on its way must be known before it can be ended.
            await asyncio.wait({self._subscribing})
        subscription = self._subscription
        if subscription is None or not self.client.connected:
            return  # none, or it ended with its connection
        connection, subscription_id = subscription
        if connection != self.client.connection:
            return
        try:
            # SignalJsonRpcDispatcherHandler.UnsubscribeReceiveCommand: it answers once the
            # subscription's handler is removed, and everything that handler wrote is on the
            # connection before that answer.
            await self.client.call(
                "unsubscribeReceive",
                {"subscription": subscription_id, "account": self.account},
                resend=False,
            )
        except (SignalRpcError, DaemonUnavailable) as exc:
            log.warning("could not end the Signal subscription: %s", exc)
        else:
            self._subscription = None

    async def _answer_everything_taken(self) -> None:
        """Wait for every answer, and for those of messages still coming in, to be sent."""
        while True:
            while unfinished := {task for task in self._answering if not task.done()}:
                await asyncio.wait(unfinished)
            received = self._received
            try:
                # Whatever signal-cli wrote before it answers this has been read by then
                # (JsonWriterImpl writes one whole line at a time, in order).
                await self.client.call("version", resend=False)
            except (SignalRpcError, DaemonUnavailable):
                return  # the connection is gone, and what it carried has been read
            if self._received == received:
                return

    async def send(
        self, user_key: str, replies: list[Reply], progress: Progress | None = None
    ) -> None:
        """Send messages the user did not ask for just now, paced with every other send.

        Raises RetryLater, RecipientGone (after marking the user inactive) or TemporaryFailure.
        When replies need more than one Signal message, `progress` counts those sent, and a
        retry after a failure part-way sends only the rest.
        """
        target = _Target(recipient=user_key)
        progress = progress or Progress()
        try:
            for message in render_messages(replies)[progress.sent :]:
                await self._deliver(target, message, urgent=False)
                progress.sent += 1
        except RecipientGone:
            await asyncio.to_thread(self.conversation.deactivate, self.name, user_key)
            raise

    # -- incoming --------------------------------------------------------------------------

    def _on_connect(self, connection: int) -> None:
        """Learn our number if we need it; subscribe to our messages in manual mode."""
        if self._numbers is None and not self._any_account and self._learning is None:
            self._learning = asyncio.create_task(self._learn_number())
            self._background.add(self._learning)
            self._learning.add_done_callback(self._background.discard)
        if self.receive_mode != "manual" or self._stopping:
            return
        self._subscribing = asyncio.create_task(self._subscribe(connection))
        self._background.add(self._subscribing)
        self._subscribing.add_done_callback(self._background.discard)

    async def _learn_number(self) -> None:
        """Find out which `account` our notifications carry when we know only our ACI."""
        try:
            # ListAccountsCommand answers [{"number": ...}] for every account of a multi-account
            # daemon; a single-account daemon does not serve it (SignalJsonRpcCommandHandler
            # runs only single-account commands there) and answers "Method not implemented".
            result = await self.client.call("listAccounts", resend=False)
        except DaemonUnavailable as exc:
            log.debug("could not ask signal-cli for its accounts yet: %s", exc)
            return  # the next connection asks again
        except SignalRpcError as exc:
            if exc.code != METHOD_NOT_FOUND:
                log.error("signal-cli did not list its accounts: %s", exc)
                return
            self._any_account = True  # every notification is about the one account there is
        else:
            numbers = [
                account.get("number")
                for account in (result if isinstance(result, list) else [])
                if isinstance(account, dict)
            ]
            if len(numbers) == 1 and isinstance(numbers[0], str):
                self._numbers = frozenset(numbers)
            else:
                # Numbers only: nothing tells which of them belongs to our ACI.
                log.error(
                    "signal-cli serves %d accounts and SIGNAL_ACCOUNT names an ACI, which its "
                    "messages do not carry; set SIGNAL_ACCOUNT to the bot's number",
                    len(numbers),
                )
                self._numbers = frozenset()
        finally:
            self._learning = None
        held, self._held = self._held, []
        for payload in held:
            self._on_payload(payload)

    async def _subscribe(self, connection: int) -> None:
        try:
            # SignalJsonRpcDispatcherHandler.SubscribeReceiveCommand answers the subscription id,
            # a number; `account` picks ours on a multi-account daemon (a single-account one
            # ignores it, the command reads no parameters).
            result = await self.client.call(
                "subscribeReceive", {"account": self.account}, resend=False
            )
        except DaemonUnavailable as exc:
            log.debug("not subscribed: %s", exc)  # the next connection subscribes again
            return
        except SignalRpcError as exc:
            log.error("signal-cli did not subscribe the bot to its messages: %s", exc)
            return
        if isinstance(result, int) and not isinstance(result, bool):
            self._subscription = (connection, result)
            log.info("subscribed to Signal messages (subscription %d)", result)
        else:
            log.error("signal-cli answered subscribeReceive with %r, not a subscription id", result)

    def _on_notification(self, method: str, params: dict[str, Any]) -> None:
        if method != "receive":
            return
        if "subscription" in params:
            # An explicit subscription's notification wraps the object in `result`
            # (SignalJsonRpcDispatcherHandler.createReceiveHandler).
            payload = params.get("result")
            if self._auto_subscribed == self.client.connection:
                return  # a copy of what the daemon's own subscription sends
        else:
            payload = params
            if self.receive_mode == "manual" and self._auto_subscribed != self.client.connection:
                # The daemon subscribed this connection itself: it is not in manual mode and
                # sends every message once more under our subscription; use only these.
                self._auto_subscribed = self.client.connection
                log.warning(
                    "signal-cli sends messages nobody subscribed to: it runs without "
                    "--receive-mode manual; set SIGNAL_RECEIVE_MODE=on-connection to match"
                )
        if not isinstance(payload, dict):
            return
        if self._numbers is None and not self._any_account:
            self._held.append(payload)  # until _learn_number knows which account is ours
            return
        self._on_payload(payload)

    def _on_payload(self, payload: dict[str, Any]) -> None:
        account = payload.get("account")
        if account and not self._any_account and account not in (self._numbers or ()):
            return  # a multi-account daemon also tells us about its other accounts
        if "exception" in payload:
            log.warning("signal-cli could not decrypt or read a message: %s", payload["exception"])
        envelope = payload.get("envelope")
        if isinstance(envelope, dict):
            self._on_envelope(envelope)

    def _on_envelope(self, envelope: dict[str, Any]) -> None:
        """Turn a data message into an Incoming; receipts, typing and sync messages are not."""
        data = envelope.get("dataMessage")
        edit = envelope.get("editMessage")
        if data is None and isinstance(edit, dict):
            # JsonEditMessage: a corrected message, whole, as `dataMessage`; answered like a
            # new one (someone who fixes a typo in "hilfe" wants help).
            data = edit.get("dataMessage")
        sender = envelope.get("sourceUuid")
        if not isinstance(data, dict) or not isinstance(sender, str) or not sender:
            return
        text = data.get("message")
        if not (isinstance(text, str) and text):
            # Something we cannot read (JsonDataMessage's attachments, sticker, contacts,
            # pollCreate, payment) gets asked for text; a reaction, a deletion, a timer
            # change, a group update or a vote needs no answer.
            if not any(data.get(key) for key in _UNREADABLE):
                return
            text = None
        group = data.get("groupInfo") or data.get("groupV2")  # groupV2: older signal-cli
        group_id = (group.get("groupId") or group.get("id")) if isinstance(group, dict) else None
        if group_id:
            incoming = Incoming(
                self.name, sender, text=text, chat_kind="group", chat_key=str(group_id)
            )
            target, key = _Target(group_id=str(group_id)), f"group:{group_id}"
        else:
            # Keyed by the ACI: sourceNumber is null when the person hides their number, and
            # a phone number is more than we need to know about anyone. Name and number travel
            # with the message only so the core can pass them on when the person agrees to be
            # contacted by an organisation ("I'd like to help"); otherwise they are not kept.
            name, number = envelope.get("sourceName"), envelope.get("sourceNumber")
            incoming = Incoming(
                self.name,
                sender,
                text=text,
                display_name=name if isinstance(name, str) and name else None,
                handle=number if isinstance(number, str) and number else None,
            )
            target, key = _Target(recipient=sender), sender
        if self._cut_off:
            self._dropped += 1  # the stop ran out of time; counted in its log line
            return
        self._received += 1
        # Answers to one chat go out in the order its messages came; other chats need not wait.
        previous = self._latest.get(key)
        task = asyncio.create_task(self._answer(previous, incoming, target))
        self._latest[key] = task
        self._answering.add(task)
        task.add_done_callback(lambda done: self._forget(key, done))

    def _forget(self, key: str, task: asyncio.Task[None]) -> None:
        self._answering.discard(task)
        if self._latest.get(key) is task:
            del self._latest[key]

    async def _answer(
        self, previous: asyncio.Task[None] | None, incoming: Incoming, target: _Target
    ) -> None:
        if previous is not None:
            await asyncio.wait({previous})
        answer = asyncio.ensure_future(self.conversation.handle_async(incoming))
        try:
            done, _ = await asyncio.wait({answer}, timeout=self.typing_after)
        except asyncio.CancelledError:
            answer.cancel()  # asyncio.wait leaves it running; a stop out of time must not
            raise
        typing = None
        if not done:
            typing = asyncio.create_task(self._typing(target))
            self._background.add(typing)
            typing.add_done_callback(self._background.discard)
        try:
            replies = await answer
        except Exception:
            log.exception("failed to answer a Signal message")
            return
        if typing is not None:
            # The indicator must reach Signal before the answer, or it would linger after it.
            await typing
        for message in render_messages(replies):
            try:
                await self._deliver(target, message, urgent=True)
            except DeliveryError as exc:
                log.warning("could not answer a Signal message: %s", exc)
                return

    async def _typing(self, target: _Target) -> None:
        try:
            await self.client.call(
                "sendTyping", {**target.params(), "account": self.account}, connect_wait=1.0
            )
        except (SignalRpcError, DaemonUnavailable) as exc:
            log.debug("typing indicator not sent: %s", exc)

    # -- outgoing --------------------------------------------------------------------------

    async def _deliver(self, target: _Target, message: SignalMessage, *, urgent: bool) -> None:
        """Send one message at the transport's pace; raise the DeliveryError that fits."""
        params: dict[str, Any] = {**target.params(), "message": message.text}
        if message.attachments:
            params["attachments"] = list(message.attachments)
        # signal-cli-jsonrpc(5) requires `account` in multi-account mode; a single-account
        # daemon ignores it (the man page is silent; the daemon reads only known parameters).
        params["account"] = self.account
        await self.limiter.acquire(urgent=urgent)
        if not urgent and time.monotonic() < self._slow_until:
            # After a rate limit, what the bot sends on its own takes two turns: half the pace.
            await self.limiter.acquire(urgent=False)
        try:
            result = await self.client.call("send", params)
        except (SignalRpcError, DaemonUnavailable) as exc:
            failure = delivery_error(exc)
            if isinstance(exc, SignalRpcError):
                self._note_limits(_send_results(exc.data), failure)
            raise failure from exc
        results = _send_results(result)
        failure = failure_of(results) if target.group_id is None else None
        self._note_limits(results, failure)
        if failure is not None:
            raise failure

    def _note_limits(self, results: list[dict[str, Any]], failure: DeliveryError | None) -> None:
        """Report each new captcha challenge, and the start of a rate limit, to the core.

        The core tells the admins (in their language); here we only keep count of what was
        reported: a challenge once per token, a rate limit once until a send gets through.
        """
        challenged = False
        for result in results:
            token = result.get("token")
            if result.get("type") != "RATE_LIMIT_FAILURE" or not token:
                continue
            challenged = True
            if str(token) not in self._challenges:
                self._challenges.add(str(token))
                self._report(_retry_after([result]), str(token))
        if not isinstance(failure, RetryLater):
            if failure is None:
                self._limited = False  # it got through: the next limit is news again
            return
        self._slow_until = max(
            self._slow_until, time.monotonic() + failure.retry_after + SLOW_AFTER_LIMIT
        )
        if not self._limited:
            self._limited = True
            if not challenged:
                self._report(failure.retry_after, None)

    def _report(self, retry_after: float, challenge: str | None) -> None:
        if self._cut_off:
            return
        commands = self._solving(challenge) if challenge is not None else None
        report = self.conversation.report_send_limit

        async def tell() -> None:
            try:
                await self.conversation.run_db(report, self.name, retry_after, challenge, commands)
            except Exception:
                log.exception("could not queue the admins' notice of Signal's limit")

        task = asyncio.create_task(tell())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _solving(self, token: str) -> tuple[str, str] | None:
        """What solves a captcha challenge: through the running daemon, and with it stopped.

        The daemon holds the account's files locked, so a second signal-cli cannot use them
        while it runs; the daemon takes the same command as a request (its JSON-RPC command
        handler runs SubmitRateLimitChallengeCommand with `challenge` and `captcha`).
        """
        if not _PLAIN_TOKEN.match(token):
            return None  # nothing we would put in a shell command line
        request = json.dumps(
            {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "submitRateLimitChallenge",
                "params": {"account": self.account, "challenge": token, "captcha": "CAPTCHA"},
            },
            separators=(",", ":"),
        )
        through_daemon = f"echo '{request}' | nc {self.host} {self.port}"
        # signal-cli's -a takes the number; named by its ACI, we may have learned it.
        number = next(iter(self._numbers)) if self._numbers and len(self._numbers) == 1 else None
        stopped = (
            f"signal-cli -a {number or self.account} submitRateLimitChallenge --challenge {token} "
            "--captcha CAPTCHA"
        )
        return through_daemon, stopped
