"""A local server that answers like the Telegram Bot API, for tests through the real HTTP stack.

It serves `/bot<token>/<method>` on 127.0.0.1 with the real JSON envelopes, accepts query,
form-encoded, JSON and multipart bodies, and keeps what a bot would see: chats that wrote to it,
its messages (for edits and button presses), pending updates (held by long polling until
confirmed through `offset`), the command menus and the webhook: with `deliver_webhooks_to`, a
set webhook gets the pending updates posted to it, as Telegram does, and performs a Bot API call
its answer carries (marked `in_webhook_response` in `calls`). A test queues updates built by
the helpers, injects errors (429 with retry_after, 403, 5xx) and can enforce flood limits; every
call is logged in `calls`.

    async with FakeBotApi() as fake:
        fake.queue(fake.private_text(42, "/start", language_code="uk"))
        ...  # point the bot at fake.base_url
        await fake.wait_for(lambda: fake.calls_to("sendMessage", chat_id=42))
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import itertools
import json
import math
import re
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import aiohttp
from aiohttp import web
from aiohttp.web_request import FileField

T = TypeVar("T")

MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_CALLBACK_DATA = 64
# Update types Telegram leaves out unless a bot asks for them by name.
_OPT_IN_UPDATES = {"chat_member", "message_reaction", "message_reaction_count"}
_JSON_FIELDS = {
    "reply_markup",
    "allowed_updates",
    "commands",
    "scope",
    "link_preview_options",
    "reply_parameters",
    "entities",
    "caption_entities",
    "media",
}
_INT_FIELDS = {"message_id", "offset", "limit", "timeout", "max_connections", "cache_time"}
_FLOAT_FIELDS = {"latitude", "longitude"}
_BOOL_FIELDS = {
    "drop_pending_updates",
    "show_alert",
    "disable_notification",
    "protect_content",
    "allow_paid_broadcast",
}
_COMMAND = re.compile(r"^[a-z0-9_]{1,32}$")
_SECRET = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_CHAT_ID = re.compile(r"^-?[0-9]+$")
# Bot API, setWebhook: "If specified, the request will contain a header
# 'X-Telegram-Bot-Api-Secret-Token' with the secret token as content."
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
_NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a content and reply markup of the current message"
)


class ApiError(Exception):
    """An error answer of the Bot API."""

    def __init__(self, code: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.retry_after = retry_after


@dataclass
class UploadedFile:
    filename: str | None
    content_type: str
    content: bytes


@dataclass
class ApiCall:
    """One request the bot made, and what the fake answered (status 0: the bot hung up)."""

    method: str
    params: dict[str, Any]
    at: float
    status: int = 0
    response: dict[str, Any] = field(default_factory=dict)
    # Made in the bot's answer to a webhook post, not as a request of its own (Bot API, "Making
    # requests when getting updates"); the bot never learns its outcome.
    in_webhook_response: bool = False

    @property
    def ok(self) -> bool:
        return self.status == 200

    @property
    def result(self) -> Any:
        return self.response.get("result")

    @property
    def chat_id(self) -> int | str | None:
        return self.params.get("chat_id")

    def __repr__(self) -> str:
        text = self.params.get("text")
        shown = f" {text[:40]!r}" if isinstance(text, str) else ""
        return f"<{self.method} chat={self.chat_id} -> {self.status}{shown}>"


@dataclass(frozen=True)
class WebhookPost:
    """One update the fake posted to the webhook, and the HTTP status it got (0: no answer)."""

    update_id: int
    status: int
    at: float

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


@dataclass
class _Failure:
    error_code: int
    description: str
    retry_after: int | None
    chat_id: int | None
    method: str | None
    times: int | None

    def matches(self, method: str, chat_id: object) -> bool:
        return (self.method is None or self.method.lower() == method.lower()) and (
            self.chat_id is None or self.chat_id == chat_id
        )


class _Bucket:
    """A token bucket: `burst` at once, then `rate` a second."""

    def __init__(self, rate: float, burst: int, now: float) -> None:
        self.rate, self.burst = rate, burst
        self.tokens, self.counted = float(burst), now

    def take(self, now: float) -> float:
        """Take one token; return 0, or how many seconds until one is there."""
        self.tokens = min(float(self.burst), self.tokens + (now - self.counted) * self.rate)
        self.counted = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate


class FakeBotApi:
    """A Bot API server on a free loopback port, with helpers to drive and inspect it."""

    def __init__(
        self,
        token: str = "123:ABC",
        *,
        username: str = "engagebot_test_bot",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.token = token
        # What the flood limits and the calls' `at` are measured on (a test may pass a virtual
        # clock); waiting (long polls, `wait_for`) always uses the real one.
        self.clock = clock
        self.bot_user = {
            "id": int(token.split(":", 1)[0]),
            "is_bot": True,
            "first_name": "Engagebot",
            "username": username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }
        self.calls: list[ApiCall] = []
        self.chats: dict[int, dict[str, Any]] = {}
        self.messages: dict[tuple[int, int], dict[str, Any]] = {}
        self.commands: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.webhook: dict[str, Any] = {}
        # Where webhook requests really go: the base URL standing in for the https host of the
        # webhook's URL (the TLS-terminating proxy in front of the bot); None: nothing is posted.
        self.webhook_host: str | None = None
        self.webhook_posts: list[WebhookPost] = []
        # How long an update whose post failed waits before it is posted again.
        self.webhook_retry_seconds = 0.2
        self._webhook_task: asyncio.Task[None] | None = None
        self._posting: dict[int, object] = {}  # update id -> its chat, while being posted
        self._post_again_at: dict[int, float] = {}
        self.files: list[UploadedFile] = []
        self.limits_hit = 0
        self._updates: list[dict[str, Any]] = []
        self._allowed: list[str] | None = None
        self._update_ids = itertools.count(700_000)
        self._message_ids: dict[int, itertools.count[int]] = {}
        self._query_ids = itertools.count(1)
        self._open_queries: set[str] = set()
        self._failures: list[_Failure] = []
        self._overall: _Bucket | None = None
        self._paid: _Bucket | None = None
        # Messages accepted with `allow_paid_broadcast`, as the bot's paid broadcasts (Telegram
        # bills the Stars of those beyond its free limits; this counts them all).
        self.paid_accepted = 0
        # Of those, how many the overall bucket would have refused had they counted against it:
        # a shadow of that bucket takes a token for every accepted send, paid or not.
        self.paid_beyond_overall = 0
        self._shadow: _Bucket | None = None
        self._per_chat: tuple[float, int] | None = None
        self._chat_buckets: dict[object, _Bucket] = {}
        self._poll_generation = 0
        self._changed = asyncio.Event()
        self._closing = False
        self._runner: web.AppRunner | None = None
        self.port = 0

    # -- server -------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """What TELEGRAM_API_BASE_URL should be for a bot to talk to this server."""
        return f"{self.url}/bot"

    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{bot:bot[^/]*}/{method}", self._handle)
        # Cancel a long poll when the bot hangs up, as a real server stops waiting; no access
        # log, since request paths carry the token.
        self._runner = web.AppRunner(
            app, handler_cancellation=True, access_log=None, shutdown_timeout=1.0
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        self._closing = True
        self._notify()
        if self._webhook_task is not None:
            self._webhook_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._webhook_task
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeBotApi:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # -- building and queueing updates --------------------------------------------------------

    def user(
        self, user_id: int, *, language_code: str | None = "en", first_name: str = "Resident"
    ) -> dict[str, Any]:
        """Build the person behind an update."""
        person: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name}
        if language_code is not None:
            person["language_code"] = language_code
        return person

    def private_message(
        self, user_id: int, *, language_code: str | None = "en", **content: Any
    ) -> dict[str, Any]:
        """Build a private message update with any content (text=..., sticker=..., photo=...)."""
        sender = self.user(user_id, language_code=language_code)
        chat = {"id": user_id, "type": "private", "first_name": sender["first_name"]}
        return {"message": self._incoming_message(chat, sender, content)}

    def private_text(
        self, user_id: int, text: str, *, language_code: str | None = "en"
    ) -> dict[str, Any]:
        """Build a text message (or /command) a person sends the bot in a private chat."""
        return self.private_message(user_id, language_code=language_code, text=text)

    def group_text(
        self,
        chat_id: int,
        user_id: int,
        text: str,
        *,
        chat_type: str = "group",
        language_code: str | None = "de",
    ) -> dict[str, Any]:
        """Build a text message someone sends in a group or supergroup the bot is in."""
        chat = {"id": chat_id, "type": chat_type, "title": "Nachbarschaftsgruppe"}
        sender = self.user(user_id, language_code=language_code)
        return {"message": self._incoming_message(chat, sender, {"text": text})}

    def channel_post(self, chat_id: int, text: str) -> dict[str, Any]:
        """Build a post in a channel (no sender, only the channel)."""
        chat = {"id": chat_id, "type": "channel", "title": "Stadtkanal"}
        return {"channel_post": self._incoming_message(chat, None, {"text": text})}

    def edited_text(self, user_id: int, message_id: int, text: str) -> dict[str, Any]:
        """Build the edit of a message a person sent earlier."""
        sender = self.user(user_id)
        chat = {"id": user_id, "type": "private", "first_name": sender["first_name"]}
        message = {
            "message_id": message_id,
            "date": int(time.time()) - 60,
            "edit_date": int(time.time()),
            "chat": chat,
            "from": sender,
            "text": text,
        }
        return {"edited_message": message}

    def callback_query(
        self,
        user_id: int,
        data: str,
        *,
        message_id: int | None = None,
        language_code: str | None = "en",
    ) -> dict[str, Any]:
        """Build a button press on one of the bot's messages (by default its latest there)."""
        if message_id is None:
            ours = [
                mid
                for (chat, mid), msg in self.messages.items()
                if chat == user_id and msg.get("from", {}).get("id") == self.bot_user["id"]
            ]
            if not ours:
                raise AssertionError(f"the bot has sent no message to {user_id} to press on")
            message_id = max(ours)
        message = self.messages.get((user_id, message_id))
        if message is None:
            raise AssertionError(f"no message {message_id} in chat {user_id}")
        query_id = f"q{next(self._query_ids)}"
        self._open_queries.add(query_id)
        return {
            "callback_query": {
                "id": query_id,
                "from": self.user(user_id, language_code=language_code),
                "message": copy.deepcopy(message),
                "chat_instance": f"ci{user_id}",
                "data": data,
            }
        }

    def queue(self, *updates: dict[str, Any]) -> list[int]:
        """Queue updates for the bot to fetch; return their update ids."""
        ids = []
        for update in updates:
            update = {"update_id": next(self._update_ids), **update}
            self._updates.append(update)
            ids.append(update["update_id"])
        self._notify()
        return ids

    def add_chat(self, chat_id: int) -> None:
        """Make a private chat known, as if that person had once started the bot."""
        self.chats.setdefault(chat_id, {"id": chat_id, "type": "private", "first_name": "Resident"})

    @property
    def pending_updates(self) -> list[dict[str, Any]]:
        """Updates queued and not yet confirmed by the bot."""
        return list(self._updates)

    def _incoming_message(
        self, chat: dict[str, Any], sender: dict[str, Any] | None, content: dict[str, Any]
    ) -> dict[str, Any]:
        message: dict[str, Any] = {
            "message_id": self._next_message_id(chat["id"]),
            "date": int(time.time()),
            "chat": chat,
        }
        if sender is not None:
            message["from"] = sender
        message.update(content)
        # Whoever writes to the bot is a chat it may write to.
        self.chats.setdefault(chat["id"], chat)
        text = content.get("text")
        if isinstance(text, str) and text.startswith("/"):
            command = text.split(maxsplit=1)[0]
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        self.messages[(chat["id"], message["message_id"])] = message
        return message

    def _next_message_id(self, chat_id: int) -> int:
        return next(self._message_ids.setdefault(chat_id, itertools.count(1)))

    # -- faults and limits --------------------------------------------------------------------

    def fail(
        self,
        *,
        error_code: int,
        chat_id: int | None = None,
        method: str | None = None,
        description: str | None = None,
        retry_after: int | None = None,
        times: int | None = 1,
    ) -> None:
        """Answer the next `times` matching calls (None: all) with an error."""
        if description is None:
            description = {
                429: f"Too Many Requests: retry after {retry_after}",
                403: "Forbidden: bot was blocked by the user",
                400: "Bad Request: chat not found",
                500: "Internal Server Error",
                502: "Bad Gateway",
            }.get(error_code, "Error")
        if error_code == 429 and retry_after is None:
            raise ValueError("a 429 needs retry_after")
        self._failures.append(
            _Failure(error_code, description, retry_after, chat_id, method, times)
        )

    def block(self, chat_id: int) -> None:
        """Act as if the person blocked the bot: every send to them gets 403."""
        self.fail(error_code=403, chat_id=chat_id, times=None)

    def enforce_limits(
        self,
        *,
        overall_rate: float = 30.0,
        overall_burst: int = 30,
        chat_rate: float = 1.0,
        chat_burst: int = 4,
        paid_rate: float = 1000.0,
        paid_burst: int = 1000,
    ) -> None:
        """Answer 429 to sends beyond these token buckets: overall, paid, and per chat.

        A send with `allow_paid_broadcast` counts against the paid bucket instead of the
        overall one (Bot API, sendMessage and the other send methods: "Pass True to allow up to
        1000 messages per second, ignoring broadcasting limits for a fee of 0.1 Telegram Stars
        per message"); the limit per chat applies to it all the same, since the Bot API lifts
        only the broadcasting limits. What Telegram answers when the bot's Stars run out is not
        documented; this fake never runs out.
        """
        self._overall = _Bucket(overall_rate, overall_burst, self.clock())
        self._paid = _Bucket(paid_rate, paid_burst, self.clock())
        self._shadow = _Bucket(overall_rate, overall_burst, self.clock())
        self._per_chat = (chat_rate, chat_burst)
        self._chat_buckets.clear()

    def _injected(self, method: str, chat_id: object) -> None:
        for failure in self._failures:
            if failure.method is None and method.lower() == "getupdates":
                continue  # polling only fails when a test names it
            if failure.matches(method, chat_id) and failure.times != 0:
                if failure.times is not None:
                    failure.times -= 1
                raise ApiError(failure.error_code, failure.description, failure.retry_after)

    def _check_limits(self, chat_id: object, params: dict[str, Any]) -> None:
        paid = params.get("allow_paid_broadcast") is True
        now = self.clock()
        waits = []
        if self._per_chat is not None:
            bucket = self._chat_buckets.get(chat_id)
            if bucket is None:
                bucket = self._chat_buckets[chat_id] = _Bucket(*self._per_chat, now)
            waits.append(bucket.take(now))
        overall = self._paid if paid else self._overall
        if overall is not None:
            waits.append(overall.take(now))
        wait = max(waits, default=0.0)
        if wait > 0:
            self.limits_hit += 1
            retry_after = max(1, math.ceil(wait))
            raise ApiError(429, f"Too Many Requests: retry after {retry_after}", retry_after)
        beyond = self._shadow is not None and self._shadow.take(now) > 0
        if paid:
            self.paid_accepted += 1
            self.paid_beyond_overall += beyond

    # -- looking at what happened -------------------------------------------------------------

    def calls_to(
        self, method: str, *, chat_id: int | None = None, ok: bool | None = None
    ) -> list[ApiCall]:
        """Return the calls of `method` (case-insensitive), optionally to one chat."""
        return [
            call
            for call in self.calls
            if call.method.lower() == method.lower()
            and (chat_id is None or call.chat_id == chat_id)
            and (ok is None or call.ok == ok)
        ]

    def sent(self, chat_id: int) -> list[dict[str, Any]]:
        """Return the messages the bot managed to send to a chat, in order, as sent."""
        return [
            call.result
            for call in self.calls
            if call.ok and call.method.startswith("send") and call.chat_id == chat_id
        ]

    def sent_texts(self, chat_id: int) -> list[str]:
        return [message["text"] for message in self.sent(chat_id) if "text" in message]

    def message(self, chat_id: int, message_id: int) -> dict[str, Any]:
        """Return a message as it looks now (after any edits)."""
        return self.messages[(chat_id, message_id)]

    async def wait_for(
        self, predicate: Callable[[], T], *, timeout: float = 5.0, what: str = ""
    ) -> T:
        """Poll `predicate` until it returns something truthy; fail after `timeout` seconds."""
        deadline = self._now() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if self._now() > deadline:
                recent = "\n  ".join(repr(call) for call in self.calls[-20:])
                raise AssertionError(
                    f"timed out waiting for {what or predicate}; calls:\n  {recent}"
                )
            await asyncio.sleep(0.01)

    # -- the API ------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        if request.match_info["bot"] != f"bot{self.token}":
            return _error_response(ApiError(401, "Unauthorized"))
        try:
            params = await self._params(request)
        except ApiError as exc:
            return _error_response(exc)
        call = await self._perform(ApiCall(method, params, self.clock()))
        return web.json_response(call.response, status=call.status)

    async def _perform(self, call: ApiCall) -> ApiCall:
        """Run one Bot API call, log it in `calls` and fill in what was answered."""
        self.calls.append(call)
        handler = getattr(self, f"_api_{call.method.lower()}", None)
        try:
            if handler is None:
                raise ApiError(404, "Not Found")
            self._injected(call.method, call.params.get("chat_id"))
            result = await handler(call.params)
        except ApiError as exc:
            call.status, call.response = exc.code, json.loads(_error_response(exc).text or "{}")
            return call
        call.status, call.response = 200, {"ok": True, "result": result}
        return call

    async def _params(self, request: web.Request) -> dict[str, Any]:
        raw: dict[str, Any] = dict(request.query)
        files: dict[str, UploadedFile] = {}
        if request.can_read_body:
            if request.content_type == "application/json":
                try:
                    body = await request.json()
                except ValueError:
                    raise ApiError(400, "Bad Request: can't parse JSON") from None
                if not isinstance(body, dict):
                    raise ApiError(400, "Bad Request: request body must be an object")
                raw.update(body)
            else:
                form = await request.post()
                for key, value in form.items():
                    if isinstance(value, FileField):
                        files[key] = UploadedFile(
                            value.filename, value.content_type, value.file.read()
                        )
                    else:
                        raw[key] = value
        params = {key: _coerce(key, value) for key, value in raw.items()}
        for key, value in list(params.items()):
            if isinstance(value, str) and value.startswith("attach://"):
                name = value.removeprefix("attach://")
                if name not in files:
                    raise ApiError(400, f"Bad Request: file {name} not found in the request")
                params[key] = files.pop(name)
        params.update(files)
        return params

    def _chat(self, params: dict[str, Any]) -> int:
        chat_id = params.get("chat_id")
        if chat_id in (None, ""):
            raise ApiError(400, "Bad Request: chat_id is empty")
        if not isinstance(chat_id, int) or chat_id not in self.chats:
            raise ApiError(400, "Bad Request: chat not found")
        return chat_id

    def _outgoing(self, chat_id: int, content: dict[str, Any]) -> dict[str, Any]:
        """Store and return a message the bot sends."""
        message = {
            "message_id": self._next_message_id(chat_id),
            "date": int(time.time()),
            "chat": self.chats[chat_id],
            "from": self.bot_user,
            **content,
        }
        self.messages[(chat_id, message["message_id"])] = message
        return copy.deepcopy(message)

    async def _api_getme(self, params: dict[str, Any]) -> dict[str, Any]:
        return self.bot_user

    async def _api_getupdates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        if self.webhook.get("url"):
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        offset = params.get("offset") or 0
        limit = min(max(params.get("limit") or 100, 1), 100)
        timeout = max(params.get("timeout") or 0, 0)
        if "allowed_updates" in params:
            self._allowed = list(params["allowed_updates"] or []) or None
        if offset > 0:
            # Asking from `offset` on confirms every update before it: they are gone for good.
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        elif offset < 0:
            self._updates = self._updates[offset:]
        # A newer getUpdates ends an older one, as on Telegram.
        self._poll_generation += 1
        generation = self._poll_generation
        self._notify()
        deadline = self._now() + timeout
        while True:
            changed = self._changed
            if generation != self._poll_generation:
                raise ApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; make sure that only "
                    "one bot instance is running",
                )
            ready = self._deliverable(limit)
            remaining = deadline - self._now()
            if ready or remaining <= 0 or self._closing:
                return copy.deepcopy(ready)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), remaining)

    def _deliverable(self, limit: int) -> list[dict[str, Any]]:
        kept = []
        for update in self._updates:
            kind = next(key for key in update if key != "update_id")
            allowed = kind in self._allowed if self._allowed else kind not in _OPT_IN_UPDATES
            if allowed:
                kept.append(update)
        # Types the bot did not ask for are never delivered, so they are not kept either.
        self._updates = kept
        return kept[:limit]

    async def _api_sendmessage(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = self._chat(params)
        text = params.get("text")
        _check_text(text, MAX_TEXT, "message text")
        markup = _checked_markup(params.get("reply_markup"))
        self._check_limits(chat_id, params)
        content: dict[str, Any] = {"text": text}
        if markup:
            content["reply_markup"] = markup
        return self._outgoing(chat_id, content)

    async def _api_editmessagetext(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = self._chat(params)
        message = self.messages.get((chat_id, params.get("message_id") or 0))
        if message is None or message.get("from", {}).get("id") != self.bot_user["id"]:
            raise ApiError(400, "Bad Request: message to edit not found")
        text = params.get("text")
        _check_text(text, MAX_TEXT, "message text")
        markup = _checked_markup(params.get("reply_markup"))
        if message.get("text") == text and message.get("reply_markup") == markup:
            raise ApiError(400, _NOT_MODIFIED)
        message["text"] = text
        message["edit_date"] = int(time.time())
        if markup:
            message["reply_markup"] = markup
        else:
            message.pop("reply_markup", None)
        return copy.deepcopy(message)

    async def _api_answercallbackquery(self, params: dict[str, Any]) -> bool:
        query_id = params.get("callback_query_id")
        if query_id not in self._open_queries:
            raise ApiError(
                400,
                "Bad Request: query is too old and response timeout expired or query ID is invalid",
            )
        self._open_queries.discard(query_id)
        _check_length(params.get("text") or "", 200, "callback answer text")
        return True

    async def _api_sendvenue(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = self._chat(params)
        for name in ("latitude", "longitude", "title", "address"):
            if params.get(name) in (None, ""):
                raise ApiError(400, f"Bad Request: {name} is empty")
        self._check_limits(chat_id, params)
        location = {"latitude": params["latitude"], "longitude": params["longitude"]}
        venue = {"location": location, "title": params["title"], "address": params["address"]}
        return self._outgoing(chat_id, {"venue": venue, "location": location})

    async def _api_senddocument(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = self._chat(params)
        upload = self._upload(params, "document")
        self._check_limits(chat_id, params)
        document = {
            "file_id": f"doc{len(self.files)}",
            "file_unique_id": f"udoc{len(self.files)}",
            "file_name": upload.filename,
            "mime_type": upload.content_type,
            "file_size": len(upload.content),
        }
        return self._outgoing(chat_id, {"document": document, **self._caption(params)})

    async def _api_sendphoto(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = self._chat(params)
        upload = self._upload(params, "photo")
        self._check_limits(chat_id, params)
        size = {
            "file_id": f"photo{len(self.files)}",
            "file_unique_id": f"uphoto{len(self.files)}",
            "width": 320,
            "height": 240,
            "file_size": len(upload.content),
        }
        return self._outgoing(chat_id, {"photo": [size], **self._caption(params)})

    def _upload(self, params: dict[str, Any], name: str) -> UploadedFile:
        upload = params.get(name)
        if not isinstance(upload, UploadedFile) or not upload.content:
            raise ApiError(400, f"Bad Request: there is no {name} in the request")
        self.files.append(upload)
        return upload

    @staticmethod
    def _caption(params: dict[str, Any]) -> dict[str, Any]:
        caption = params.get("caption")
        if not caption:
            return {}
        _check_length(caption, MAX_CAPTION, "message caption")
        return {"caption": caption}

    async def _api_setmycommands(self, params: dict[str, Any]) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise ApiError(400, "Bad Request: commands must be a list of at most 100 commands")
        for command in commands:
            if not _COMMAND.match(str(command.get("command", ""))):
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
            description = command.get("description")
            if not isinstance(description, str) or not 1 <= len(description) <= 256:
                raise ApiError(400, "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
        self.commands[self._commands_key(params)] = commands
        return True

    async def _api_getmycommands(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        return self.commands.get(self._commands_key(params), [])

    async def _api_deletemycommands(self, params: dict[str, Any]) -> bool:
        self.commands.pop(self._commands_key(params), None)
        return True

    @staticmethod
    def _commands_key(params: dict[str, Any]) -> tuple[str, str]:
        language = params.get("language_code") or ""
        if language and not re.match(r"^[a-z]{2}$", language):
            raise ApiError(400, "Bad Request: invalid language code specified")
        scope = params.get("scope") or {"type": "default"}
        return json.dumps(scope, sort_keys=True), language

    def deliver_webhooks_to(self, host: str) -> None:
        """Post updates to `host` (http://127.0.0.1:PORT) whenever a webhook is set.

        The path is the webhook URL's; `host` stands in for its https address, as a
        TLS-terminating proxy does in front of a real bot.
        """
        self.webhook_host = host.rstrip("/")
        self._start_posting()

    async def _api_setwebhook(self, params: dict[str, Any]) -> bool:
        url = params.get("url") or ""
        if url and not url.startswith("https://"):
            raise ApiError(400, "Bad Request: bad webhook: An HTTPS URL must be provided")
        secret = params.get("secret_token")
        if secret and not _SECRET.match(secret):
            raise ApiError(400, "Bad Request: secret token contains unallowed characters")
        # Bot API, setWebhook: max_connections is 1-100 and defaults to 40.
        connections = params.get("max_connections") or 40
        if not 1 <= connections <= 100:
            raise ApiError(400, "Bad Request: bad webhook: invalid max_connections")
        if params.get("drop_pending_updates"):
            self._updates.clear()
        if "allowed_updates" in params:
            self._allowed = list(params["allowed_updates"] or []) or None
        self.webhook = (
            {"url": url, "secret_token": secret, "max_connections": connections} if url else {}
        )
        self._notify()  # a long poll in progress ends with a conflict
        self._start_posting()
        return True

    async def _api_deletewebhook(self, params: dict[str, Any]) -> bool:
        if params.get("drop_pending_updates"):
            self._updates.clear()
        self.webhook = {}
        self._notify()
        return True

    async def _api_getwebhookinfo(self, params: dict[str, Any]) -> dict[str, Any]:
        info: dict[str, Any] = {
            "url": self.webhook.get("url", ""),
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }
        for name in ("max_connections", "last_error_date", "last_error_message"):
            if name in self.webhook:
                info[name] = self.webhook[name]
        return info

    # -- webhook delivery ---------------------------------------------------------------------
    #
    # Bot API, setWebhook: "Whenever there is an update for the bot, we will send an HTTPS POST
    # request to the specified URL, containing a JSON-serialized Update. In case of an
    # unsuccessful request (a request with response HTTP status code different from 2XY), we
    # will repeat the request and give up after a reasonable number of attempts." Up to
    # max_connections requests are open at once. Telegram does not say how it orders them; the
    # fake posts one update of a chat at a time, in order, and never gives up. An update is
    # pending (getWebhookInfo's pending_update_count) until a post of it got a 2xx.

    def _start_posting(self) -> None:
        running = self._webhook_task is not None and not self._webhook_task.done()
        if self.webhook.get("url") and self.webhook_host and not running and not self._closing:
            self._webhook_task = asyncio.create_task(self._post_updates())

    async def _post_updates(self) -> None:
        timeout = aiohttp.ClientTimeout(total=30)
        posts: set[asyncio.Task[None]] = set()
        async with aiohttp.ClientSession(timeout=timeout) as http:
            try:
                while self.webhook.get("url") and not self._closing:
                    changed = self._changed
                    now = self._now()
                    busy = set(self._posting.values())
                    for update in self._deliverable(len(self._updates) or 1):
                        if len(self._posting) >= self.webhook["max_connections"]:
                            break
                        update_id, chat = update["update_id"], _update_chat(update)
                        if update_id in self._posting or chat in busy:
                            continue
                        busy.add(chat)  # a chat's later updates wait for this one
                        if self._post_again_at.get(update_id, 0.0) > now:
                            continue
                        self._posting[update_id] = chat
                        post = asyncio.create_task(self._post(http, update))
                        posts.add(post)
                        post.add_done_callback(posts.discard)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(changed.wait(), self.webhook_retry_seconds / 2)
            finally:
                for post in posts:
                    post.cancel()
                await asyncio.gather(*posts, return_exceptions=True)

    async def _post(self, http: aiohttp.ClientSession, update: dict[str, Any]) -> None:
        update_id = update["update_id"]
        url = f"{self.webhook_host}{_url_path(self.webhook.get('url', ''))}"
        headers = {"Content-Type": "application/json"}
        if self.webhook.get("secret_token"):
            headers[SECRET_HEADER] = self.webhook["secret_token"]
        status, error, carried = 0, "", None
        try:
            async with http.post(url, data=json.dumps(update), headers=headers) as response:
                status = response.status
                body = await response.read()
                error = f"Wrong response from the webhook: {status} {response.reason}"
                if 200 <= status < 300:
                    carried = _carried_call(response.content_type, body)
        except (aiohttp.ClientError, TimeoutError) as exc:
            error = f"Connection failed: {type(exc).__name__}"
        finally:
            del self._posting[update_id]
        self.webhook_posts.append(WebhookPost(update_id, status, self.clock()))
        if carried is not None:
            method, raw = carried
            call = ApiCall(method, raw, self.clock(), in_webhook_response=True)
            try:
                call.params = {key: _coerce(key, value) for key, value in raw.items()}
            except ApiError as exc:  # Telegram drops it; the bot never hears
                call.status, call.response = exc.code, {"description": exc.description}
                self.calls.append(call)
            else:
                await self._perform(call)
        if 200 <= status < 300:
            self._updates = [u for u in self._updates if u["update_id"] != update_id]
            self._post_again_at.pop(update_id, None)
        elif self.webhook:
            self.webhook["last_error_date"] = int(time.time())
            self.webhook["last_error_message"] = error
            self._post_again_at[update_id] = self._now() + self.webhook_retry_seconds
        self._notify()

    # -- internals ----------------------------------------------------------------------------

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    @staticmethod
    def _now() -> float:
        return time.monotonic()


def _update_chat(update: dict[str, Any]) -> object:
    """Return the chat an update belongs to (a button press: its presser's private chat)."""
    for kind, content in update.items():
        if kind == "update_id" or not isinstance(content, dict):
            continue
        chat = content.get("chat") or (content.get("message") or {}).get("chat")
        if chat:
            return chat.get("id")
        return (content.get("from") or {}).get("id")
    return None


def _carried_call(content_type: str, body: bytes) -> tuple[str, dict[str, Any]] | None:
    """Return the Bot API call a webhook's 2xx carries, if any.

    Bot API, "Making requests when getting updates": the answer to a webhook request may pass
    parameters as application/json or application/x-www-form-urlencoded (multipart, for
    uploads, is not faked), with the method to invoke in `method`. Anything else in a 2xx, an
    empty body included, only confirms the update.
    """
    raw: dict[str, Any]
    if content_type == "application/json":
        try:
            parsed = json.loads(body)
        except ValueError:
            return None
        if not isinstance(parsed, dict):
            return None
        raw = parsed
    elif content_type == "application/x-www-form-urlencoded":
        raw = dict(urllib.parse.parse_qsl(body.decode()))
    else:
        return None
    method = raw.pop("method", None)
    if not isinstance(method, str) or not method:
        return None
    return method, raw


def _url_path(url: str) -> str:
    path = url.split("://", 1)[-1]
    return path[path.index("/") :] if "/" in path else "/"


def _coerce(key: str, value: Any) -> Any:
    """Give a form value the type Telegram reads it as (JSON bodies arrive typed already)."""
    if not isinstance(value, str):
        return value
    try:
        if key in _JSON_FIELDS:
            return json.loads(value)
        if key in _INT_FIELDS:
            return int(value)
        if key in _FLOAT_FIELDS:
            return float(value)
    except ValueError:
        raise ApiError(400, f"Bad Request: can't parse {key}") from None
    if key == "chat_id" and _CHAT_ID.match(value):
        return int(value)
    if key in _BOOL_FIELDS:
        return value.lower() in ("true", "1")
    return value


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _check_text(text: object, limit: int, what: str) -> None:
    if not isinstance(text, str) or not text.strip():
        raise ApiError(400, f"Bad Request: {what} is empty")
    _check_length(text, limit, what)


def _check_length(text: str, limit: int, what: str) -> None:
    if _utf16_len(text) > limit:
        raise ApiError(400, f"Bad Request: {what} is too long")


def _checked_markup(markup: Any) -> dict[str, Any] | None:
    if markup is None:
        return None
    if not isinstance(markup, dict):
        raise ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
    rows = markup.get("inline_keyboard")
    if rows is None:
        return markup
    if not isinstance(rows, list):
        raise ApiError(400, "Bad Request: inline keyboard must be an array of arrays")
    for row in rows:
        for button in row:
            if not button.get("text"):
                raise ApiError(
                    400, "Bad Request: text buttons are unallowed in the inline keyboard"
                )
            data = button.get("callback_data")
            if data is not None and not 1 <= len(data.encode()) <= MAX_CALLBACK_DATA:
                raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
    return markup


def _error_response(exc: ApiError) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": exc.code, "description": exc.description}
    if exc.retry_after is not None:
        body["parameters"] = {"retry_after": exc.retry_after}
    return web.json_response(body, status=exc.code)
