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
import contextlib
import json
import logging
import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bot.config import parse_endpoint
from bot.messages import Incoming, Reply
from bot.transports.base import (
    DeliveryError,
    Progress,
    RecipientGone,
    RetryLater,
)
from bot.transports.signal_daemon import (
    METHOD_NOT_FOUND,
    DaemonUnavailable,
    JsonRpcClient,
    RateLimiter,
    SignalRpcError,
    delivery_error,
    failure_of,
    retry_after_hint,
    send_results,
)
from bot.transports.signal_render import SignalMessage, render_messages

if TYPE_CHECKING:
    from bot.config import Settings
    from handlers.conversation import Conversation

log = logging.getLogger(__name__)

# What a person can send that is not text, as JsonDataMessage names it.
_UNREADABLE = ("attachments", "sticker", "contacts", "pollCreate", "payment")

# A challenge token as Signal hands them out (a UUID); anything else stays out of a command line.
_PLAIN_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,100}$")
# An account configured by its ACI rather than its number.
_ACI = re.compile(r"^[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}$")

# signal-cli's --receive-mode values that fit a bot. "on-start" (its default) takes messages
# off Signal even while no bot is connected and prints them, so they are lost to the bot.
RECEIVE_MODES = ("on-connection", "manual")

# After a rate limit lifts, the bot's own sends go at half the pace for this long: Signal's
# limits are unpublished, and a limit met again soon may come with a captcha.
SLOW_AFTER_LIMIT = 3600.0


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
                self._note_limits(send_results(exc.data), failure)
            raise failure from exc
        results = send_results(result)
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
                self._report(retry_after_hint([result]), str(token))
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
