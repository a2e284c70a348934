"""signal-cli's JSON-RPC daemon: the connection, the pace of sends, and what its answers mean.

`signal-cli -a ACCOUNT daemon --tcp HOST:PORT` speaks JSON-RPC 2.0 with one JSON object per line
(signal-cli-jsonrpc(5)). Our requests carry ids and are answered in any order; incoming messages
arrive as "receive" notifications. Facts about shapes and codes come from signal-cli's man
pages; where those are silent we name the class of signal-cli's source that does it.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import json
import logging
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot.transports.base import DeliveryError, RecipientGone, RetryLater, TemporaryFailure

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

# Signal answers a rate limit with a hint most of the time; without one, wait a full minute
# rather than hammer an account that Signal may then ask to solve a captcha.
DEFAULT_RETRY_AFTER = 60.0
# Incoming envelopes are small, but a group's metadata or a long text can make a long line.
MAX_LINE_BYTES = 8 * 1024 * 1024
# An attachment inside an error text: never something for a log line.
DATA_URI_IN_TEXT = re.compile(r"data:[^,\s]*,[A-Za-z0-9+/=%]*")


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


# -- delivery outcomes -------------------------------------------------------------------------


def send_results(payload: Any) -> list[dict[str, Any]]:
    """Return the per-recipient results of a `send` answer or of an error's `data.response`."""
    if isinstance(payload, dict) and isinstance(payload.get("response"), dict):
        payload = payload["response"]
    results = payload.get("results") if isinstance(payload, dict) else None
    return [r for r in results if isinstance(r, dict)] if isinstance(results, list) else []


def retry_after_hint(results: list[dict[str, Any]]) -> float:
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
        return RetryLater(retry_after_hint(limited), "Signal rate limit")
    if "IDENTITY_FAILURE" in kinds:
        _warn_untrusted()
        return TemporaryFailure("the recipient's safety number changed")
    return TemporaryFailure(f"Signal delivery failed: {', '.join(sorted(map(str, kinds)))}")


def delivery_error(error: SignalRpcError | DaemonUnavailable) -> DeliveryError:
    """Translate a failed `send` into what the sender should do next."""
    if isinstance(error, DaemonUnavailable):
        return TemporaryFailure(str(error))
    from_results = failure_of(send_results(error.data))
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
        reason = DATA_URI_IN_TEXT.sub("data:…", error.message)
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
