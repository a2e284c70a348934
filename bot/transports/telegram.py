"""Telegram: the Bot API (or a server that speaks it), through python-telegram-bot's ExtBot.

Updates arrive by long polling, or by webhook when WEBHOOK_URL is set. Each is read from its
JSON (`telegram_updates`) and becomes a small `Incoming` for the conversation core; its
replies come back as plain-text messages with inline keyboards, venues and files. Nothing here
knows about offers or events.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from sqlalchemy.exc import OperationalError
from telegram import BotCommand
from telegram.error import (
    BadRequest,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
)
from telegram.ext import ExtBot

from bot.config import SUPPORTED_LOCALES, Settings, SettingsError
from bot.i18n import N_
from bot.inbox import Fetched, Inbox, Left
from bot.logs import hide_in_logs
from bot.messages import Incoming, Reply
from bot.transports.base import (
    DeliveryError,
    Progress,
    RecipientGone,
    RetryLater,
    TemporaryFailure,
)
from bot.transports.chats import ChatQueues
from bot.transports.telegram_http import AiohttpRequest, fetch_updates
from bot.transports.telegram_limits import ChatPacer, PacedRateLimiter, retry_after
from bot.transports.telegram_render import answer_press, file_url_for
from bot.transports.telegram_render import steps as render_steps
from bot.transports.telegram_updates import PRIVATE, Kind, TelegramUpdate, read_update
from handlers.commands import COMMANDS

if TYPE_CHECKING:
    from handlers.conversation import Conversation

log = logging.getLogger(__name__)


# setMyCommands: a command's description, at most this many characters.
MAX_COMMAND_DESCRIPTION = 256
# Connections to the Bot API for everything but getUpdates (which has one of its own): as
# many as the delivery worker's largest window (bot/runner.py, MAX_WINDOW).
HTTP_CONNECTIONS = 64

# Only what the bot answers; Telegram then does not even send edits, channel posts and the rest.
# (Bot API, "Update": the names of its optional fields.)
ALLOWED_UPDATES = ("message", "callback_query")

# BadRequest descriptions that mean the person cannot be reached any more.
_GONE = ("chat not found", "user not found", "user is deactivated", "peer_id_invalid")
# The core's apology for its own failures, reused for when the core itself fails.
_APOLOGY = N_("Sorry, something went wrong on my side. Please try again, or send /menu.")


class TelegramTransport:
    """Talks to people on Telegram through python-telegram-bot, polling or by webhook."""

    name = "telegram"

    def __init__(
        self,
        conversation: Conversation,
        settings: Settings,
        *,
        poll_timeout: float = 30.0,
        chat_rate: float = 1.0,
        chat_burst: int = 4,
        reply_retries: int = 3,
        overall_rate: float | None = None,
        max_backlog: int = 1000,
        stop_drain_seconds: float = 20.0,
        take_over_seconds: float = 2.0,
    ) -> None:
        if not settings.telegram_bot_token:
            raise SettingsError("invalid setting TELEGRAM_BOT_TOKEN: is empty")
        self.conversation = conversation
        self.settings = settings
        self.poll_timeout = poll_timeout
        self.reply_retries = reply_retries
        self._token = settings.telegram_bot_token
        self._pacer = ChatPacer(rate=chat_rate, burst=chat_burst)
        # PTB's limit for the whole bot, in messages a second; 0 turns it off (for a caller that
        # paces every message itself, such as a test on a virtual clock).
        self.overall_rate = settings.telegram_rate if overall_rate is None else overall_rate
        # The bot, while it runs: its connections and rate limiter.
        self._bot: ExtBot | None = None
        # getUpdates has a connection of its own, and is asked here rather than through PTB's
        # `get_updates`, so the inbox keeps the JSON as Telegram sent it (`fetch_updates`).
        self._updates_request = AiohttpRequest(connections=1)
        # Updates taken and not yet finished, by chat; fetching pauses at `max_backlog`.
        self._chats: ChatQueues[TelegramUpdate | Left] = ChatQueues(self._handle, bound=max_backlog)
        self.inbox = Inbox(conversation, self.name)
        # On a clean stop, how long answering what was taken may take (systemd waits 90 s).
        self.stop_drain_seconds = stop_drain_seconds
        # Updates handled without being kept (the database could not store them).
        self._unkept: set[int] = set()
        self._answered_wake = asyncio.Event()
        self._finisher: asyncio.Task[None] | None = None
        self._sweeper: asyncio.Task[None] | None = None
        # How often a process on a shared database looks for updates a dead one left.
        self.take_over_seconds = take_over_seconds
        self._closing = False
        # Before any Bot exists: python-telegram-bot logs its API URL, token included, at DEBUG.
        hide_in_logs(self._token)
        if settings.webhook_secret:
            hide_in_logs(settings.webhook_secret)

    @property
    def backlog(self) -> int:
        """Return how many updates were taken and are not yet answered."""
        return self._chats.backlog

    @property
    def webhook_mode(self) -> bool:
        """Return whether Telegram posts updates to a webhook instead of being polled."""
        return bool(self.settings.webhook_url)

    # -- running ------------------------------------------------------------------------------

    async def run(self) -> None:
        """Receive and answer updates until cancelled, then stop without losing any."""
        bot = self._build_bot()
        receiving: asyncio.Task[None] | None = None
        try:
            await self._retry_network(bot.initialize, "connect to the Bot API")
            self._bot = bot
            self._finisher = asyncio.create_task(self._finish_answered())
            await self._publish_commands(bot)
            await self._take_up_unfinished()
            if self.inbox.shared:
                self._sweeper = asyncio.create_task(self._take_over_left())
            receiving = asyncio.create_task(
                self._receive_by_webhook(bot) if self.webhook_mode else self._poll(bot)
            )
            log.info(
                "telegram: @%s is receiving updates by %s",
                bot.username,
                "webhook" if self.webhook_mode else "polling",
            )
            await receiving
        finally:
            stopping = asyncio.ensure_future(self._stop(bot, receiving))
            try:
                await asyncio.shield(stopping)
            except asyncio.CancelledError:
                # Cancelled again while stopping: finish the stop anyway, it only answers the
                # updates already taken, within its time limit.
                await stopping
                raise

    def _build_bot(self) -> ExtBot:
        """Return the bot: python-telegram-bot's ExtBot, for its requests and rate limiter.

        No Application around it: updates are fetched, kept in the inbox, read and answered
        by this transport (`_poll`, `_receive_by_webhook`, `_answer`), concurrently across
        chats, and scheduling is the process's own (APScheduler over the database).
        """
        base_url = self.settings.telegram_api_base_url
        return ExtBot(
            self._token,
            base_url=base_url,
            base_file_url=file_url_for(base_url),
            # aiohttp rather than PTB's httpx: the same requests for much less of the process's
            # time (benchmarks/RESULTS.md, "Profile"). 64 connections carry the delivery window
            # and the answers; getUpdates has one of its own.
            request=AiohttpRequest(connections=HTTP_CONNECTIONS),
            get_updates_request=self._updates_request,
            # No retries by default, so a 429 in `send` reaches the outbox as RetryLater;
            # replies ask for `reply_retries` and wait a 429 out (see `_render`).
            rate_limiter=PacedRateLimiter(
                self._pacer,
                paid_rate=self.settings.telegram_paid_rate if self.overall_rate else 0,
                max_retries=0,
                overall_max_rate=self.overall_rate,
            ),
        )

    # -- receiving: fetch, keep, answer, forget -------------------------------------------------

    async def _poll(self, bot: ExtBot) -> None:
        """Fetch updates by long polling; confirm them to Telegram only once they are stored.

        Telegram keeps every update until a getUpdates with a higher `offset` confirms it. The
        offset used is the one stored with the updates, so a kill at any moment loses nothing:
        what was not stored is fetched again, what was stored is taken up on restart.
        """
        await self._retry_network(
            lambda: bot.delete_webhook(drop_pending_updates=False), "switch to polling"
        )
        offset = await self.inbox.offset()
        pause = 1.0
        while True:
            await self._chats.room()  # a full backlog waits here; Telegram keeps the rest
            try:
                fetched = await fetch_updates(
                    self._updates_request,
                    bot.base_url,
                    offset=offset,
                    timeout=int(self.poll_timeout),  # the Bot API takes whole seconds
                    allowed_updates=list(ALLOWED_UPDATES),
                )
                # Read as they came: no python-telegram-bot objects (`read_update`).
                received = [
                    (update, data) for data in fetched if (update := read_update(data)) is not None
                ]
                if received:
                    await self._accept(received)
                    offset = received[-1][0].update_id + 1
                pause = 1.0
            except InvalidToken:
                raise SettingsError(
                    "invalid setting TELEGRAM_BOT_TOKEN: the Bot API does not accept it"
                ) from None
            except TelegramError as exc:
                # Network trouble, a 5xx, another process polling with this token (409): the
                # same updates come again later.
                self._on_polling_error(exc)
                await asyncio.sleep(pause)
                pause = min(pause * 2, 30.0)

    async def _receive_by_webhook(self, bot: ExtBot) -> None:
        """Serve the webhook; keep each update Telegram posts before answering the request.

        The request is answered (200) only once the update is stored (`WebhookServer`), so a
        kill -9 loses nothing: Telegram posts again what got no answer. The answer to a button
        press carries answerCallbackQuery (`_answer_in_response`). Several processes may serve
        one webhook behind a proxy; each answers the updates posted to it.
        """

        async def keep(data: dict[str, Any]) -> dict[str, Any] | None:
            update = read_update(data)
            if update is None:  # the server only passes updates with an id
                return None
            await self._chats.room()  # a full backlog holds the request; Telegram waits
            await self._accept([(update, data)], track_offset=False)
            return _answer_in_response(update)

        url = self.settings.webhook_url or ""
        # Imported here: aiohttp's server side is only needed in webhook mode (memory).
        from bot.transports.webhook import WebhookServer

        server = WebhookServer(
            listen=self.settings.webhook_listen,
            port=self.settings.webhook_port,
            path=urlsplit(url).path,
            secret=self.settings.webhook_secret or "",
            keep=keep,
        )
        await server.start()  # before Telegram is told where to post
        try:
            try:
                await self._retry_network(
                    lambda: bot.set_webhook(
                        url,
                        secret_token=self.settings.webhook_secret,
                        allowed_updates=ALLOWED_UPDATES,
                        drop_pending_updates=False,
                    ),
                    "set the webhook",
                )
            except BadRequest as exc:  # e.g. "bad webhook: Failed to resolve host"
                raise SettingsError(
                    f"invalid setting WEBHOOK_URL: the Bot API refused it: {exc.message}"
                ) from None
            await asyncio.Event().wait()  # until cancelled
        finally:
            await server.stop()

    async def _accept(
        self, received: list[tuple[TelegramUpdate, dict[str, Any]]], *, track_offset: bool = True
    ) -> None:
        """Store fetched updates (each with its JSON as received), then queue the new ones
        behind the others of their chat.

        While the database cannot store them (locked past its busy timeout, read-only), they
        are answered all the same, unkept: the core then says "please try again later" in the
        person's language, which beats leaving them without any answer.
        """
        updates = [update for update, _data in received]
        fetched = [Fetched(update.update_id, update.chat_key, data) for update, data in received]
        try:
            new = set(await self.inbox.keep(fetched, track_offset=track_offset))
        except OperationalError as exc:
            log.warning("telegram: cannot keep %s updates (%s); answering them", len(updates), exc)
            new = {update.update_id for update in updates}
            self._unkept |= new
        for update in updates:
            if update.update_id in new:
                self._chats.put(update.chat_key, update)

    def _kept_id(self, update: TelegramUpdate) -> int | None:
        """Return the update's id for the core to record its answer by, if it was kept."""
        return None if update.update_id in self._unkept else update.update_id

    async def _take_up_unfinished(self) -> None:
        """Answer what a stopped process fetched and did not handle, or handled and did not send."""
        left = await self.inbox.left()
        for entry in left:
            if entry.payload is not None:
                update = read_update(entry.payload)
                if update is not None:
                    self._chats.put(entry.chat_key, update)
                    continue
            self._chats.put(entry.chat_key, entry)
        if left:
            log.info("telegram: taking up %s updates left by a stopped process", len(left))

    async def _take_over_left(self) -> None:
        """On a shared database, take up what a process that died had in hand, within seconds."""
        while True:
            await asyncio.sleep(self.take_over_seconds)
            try:
                await self.inbox.let_go_finished()
                await self._take_up_unfinished()
            except Exception as exc:  # the database or the claims' connection; asked again soon
                log.warning(
                    "telegram: cannot look for updates left by others now (%s)", type(exc).__name__
                )

    async def _handle(self, item: TelegramUpdate | Left) -> None:
        """Handle one update (or send an answer kept from before a restart), then forget it."""
        bot = self._bot
        if bot is None:
            return
        if isinstance(item, TelegramUpdate):
            await self._answer(item, bot)
            update_id = item.update_id
        else:
            update_id = item.update_id
            replies = item.replies
            try:
                chat_id = int(item.chat_key)
            except ValueError:
                replies = []
            if replies:
                # An answer to a press edits the pressed message, as it would have at once.
                edits = int(item.edits) if item.edits and item.edits.isdigit() else None
                try:
                    await self._render(
                        bot,
                        chat_id,
                        replies,
                        edit_message_id=edits,
                        retries=self.reply_retries,
                    )
                except TelegramError as exc:
                    log.warning("telegram: could not send a kept answer: %s", exc)
        if update_id in self._unkept:
            self._unkept.discard(update_id)
            return
        self.conversation.answered(self.name, update_id)
        if isinstance(item, Left):
            # Sent once more after a restart: forgotten at once, not with the next transaction,
            # so that another kill right after this restart does not send it a third time.
            with contextlib.suppress(OperationalError):
                await self.conversation.run_db(self.conversation.forget_answered)
        self._answered_wake.set()

    async def _finish_answered(self) -> None:
        """Make sure answered updates are forgotten when no conversation comes to do it."""
        while True:
            await self._answered_wake.wait()
            self._answered_wake.clear()
            if not self._closing:
                # The next conversation's transaction forgets them at no cost; wait for one.
                await asyncio.sleep(0.05)
            if self.conversation.has_answered:
                try:
                    await self.conversation.run_db(self.conversation.forget_answered)
                except OperationalError as exc:
                    log.warning("telegram: cannot record answered updates now (%s)", exc.orig)
                    await asyncio.sleep(1.0)
                    self._answered_wake.set()
                    continue
            if self._closing:
                return

    async def _stop(self, bot: ExtBot, receiving: asyncio.Task[None] | None) -> None:
        """Stop fetching, answer what was taken (within a time limit), then close."""
        try:
            for task in (receiving, self._sweeper):
                if task is not None and not task.done():
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await task
            cut = await self._chats.drain(self.stop_drain_seconds)
            if cut:
                log.warning(
                    "telegram: stopped with %s updates unanswered; they are answered on restart",
                    cut,
                )
            if self._finisher is not None:
                # Let it finish its last write: a restart must not find answered updates.
                self._closing = True
                self._answered_wake.set()
                with contextlib.suppress(TimeoutError, asyncio.CancelledError, Exception):
                    await asyncio.wait_for(self._finisher, timeout=10.0)
        finally:
            self._bot = None
            # What is still in hand goes to whichever process looks next (or the next start).
            with contextlib.suppress(Exception):
                await self.conversation.run_db(self.inbox.close)
            await bot.shutdown()

    async def _retry_network(self, action: Callable[[], Awaitable[object]], what: str) -> None:
        """Run `action`, waiting out network faults; a token Telegram rejects stops start-up."""
        delay = 1.0
        while True:
            try:
                await action()
                return
            except InvalidToken:
                raise SettingsError(
                    "invalid setting TELEGRAM_BOT_TOKEN: the Bot API does not accept it"
                ) from None
            except BadRequest:
                raise
            except NetworkError as exc:
                log.warning("telegram: could not %s (%s); retrying in %.0f s", what, exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 60.0)

    async def _publish_commands(self, bot: ExtBot) -> None:
        """Publish the command menu in every supported language, and a default one."""
        languages: list[str | None] = [*SUPPORTED_LOCALES, None]
        for code in languages:
            t = self.conversation.translations.get(code or self.settings.default_locale)
            commands = [
                BotCommand(command, t._(description)[:MAX_COMMAND_DESCRIPTION])
                for command, description in COMMANDS
            ]
            try:
                await bot.set_my_commands(commands, language_code=code)
            except TelegramError as exc:
                # A missing menu is no reason not to answer people.
                log.warning(
                    "telegram: could not set the %s command menu: %s", code or "default", exc
                )

    # -- incoming -----------------------------------------------------------------------------

    async def _answer(self, update: TelegramUpdate, bot: ExtBot) -> None:
        """Answer one update as its kind asks; what goes wrong is logged, the bot keeps running.

        Anything else (edited messages, channel posts, service messages, updates with no person
        behind them) is not answered (`read_update`).
        """
        try:
            if update.kind is Kind.PRESS:
                await self._on_button(update, bot)
            elif update.kind is Kind.PRIVATE_TEXT:
                await self._on_private_text(update, bot)
            elif update.kind is Kind.PRIVATE_OTHER:
                await self._on_private(update, bot)
            elif update.kind is Kind.GROUP:
                await self._on_group_message(update, bot)
        except Exception as exc:
            await self._on_error(update, exc)

    async def _on_private_text(self, update: TelegramUpdate, bot: ExtBot) -> None:
        """Answer a message typed in a private chat (slash commands included: "/start o_12"
        from a deep link reaches the core as typed)."""
        incoming = Incoming(
            self.name,
            str(update.user_id),
            text=update.text,
            locale_hint=update.language_code,
            update_id=self._kept_id(update),
            display_name=update.display_name,
            handle=update.handle,
        )
        replies = await self._ask_core(incoming)
        await self._render(bot, _chat_of(update), replies, retries=self.reply_retries)

    async def _on_private(self, update: TelegramUpdate, bot: ExtBot) -> None:
        """Answer a private message that has no text, such as a sticker or a voice note."""
        incoming = Incoming(
            self.name,
            str(update.user_id),
            text=None,
            locale_hint=update.language_code,
            update_id=self._kept_id(update),
        )
        replies = await self._ask_core(incoming)
        await self._render(bot, _chat_of(update), replies, retries=self.reply_retries)

    async def _on_group_message(self, update: TelegramUpdate, bot: ExtBot) -> None:
        """Pass a group message to the core, which answers once per group."""
        joined = update.new_chat_members
        if joined and bot.id not in joined:
            return  # someone else joined; only the bot's own arrival is worth a word
        incoming = Incoming(
            self.name,
            str(update.user_id),
            text=update.text,
            locale_hint=update.language_code,
            chat_kind="group",
            chat_key=str(update.chat_id),
            update_id=self._kept_id(update),
        )
        try:
            replies = await self.conversation.handle_async(incoming)
        except Exception:
            # An apology in a group would only add noise; the log has the details.
            log.exception("telegram: the conversation core failed on a group message")
            return
        await self._render(bot, _chat_of(update), replies, retries=self.reply_retries)

    async def _on_button(self, update: TelegramUpdate, bot: ExtBot) -> None:
        """Answer a pressed inline button, editing its message in place where the reply asks."""
        query_id = update.query_id or ""
        if update.chat_type is not None and update.chat_type != PRIVATE:
            # The bot only puts buttons in private chats; a press anywhere else gets no answer.
            await self._acknowledge(bot, query_id)
            return
        # A message older than 48 hours arrives dated 0 and cannot be edited.
        editable = update.pressed_message_id
        incoming = Incoming(
            self.name,
            str(update.user_id),
            action=update.callback_data or "",
            locale_hint=update.language_code,
            update_id=self._kept_id(update),
            can_edit=editable is not None,
            pressed_message=None if editable is None else str(editable),
            display_name=update.display_name,
            handle=update.handle,
        )
        # Always stop the button's spinning clock, whatever the core does: at once, while the
        # core works, so the answer waits for one round trip to the Bot API less.
        acknowledging = asyncio.ensure_future(self._acknowledge(bot, query_id))
        try:
            replies = await self._ask_core(incoming)
            # A press on a message sent in inline mode has no chat: answer in the private one.
            await self._render(
                bot, _chat_of(update), replies, edit_message_id=editable, retries=self.reply_retries
            )
        finally:
            await acknowledging

    async def _ask_core(self, incoming: Incoming) -> list[Reply]:
        """Return the core's replies; if the core itself fails, an apology instead."""
        try:
            return await self.conversation.handle_async(incoming)
        except Exception:
            log.exception("telegram: the conversation core failed to answer")
            t = self.conversation.translations.get(incoming.locale_hint)
            return [Reply(t.directed(t._(_APOLOGY)), rtl=t.rtl)]

    async def _acknowledge(self, bot: ExtBot, query_id: str) -> None:
        """Stop a pressed button's clock, unless the webhook's answer to Telegram did it."""
        if self.webhook_mode:
            # The 200 to the request that brought the press carried answerCallbackQuery
            # (`_answer_in_response`). A press taken up from the inbox after a restart or a
            # kill was answered so too: if its 200 went out, the answer rode in it; if the
            # process died before that, Telegram posted the press again and that 200 carried
            # it. Asking once more would only cost a request ("query is too old").
            return
        try:
            await answer_press(bot, query_id)
        except TelegramError as exc:
            # Typically "query is too old": the user waited long; the reply still goes out.
            log.info("telegram: could not answer a button press: %s", exc)

    # -- errors -------------------------------------------------------------------------------

    async def _on_error(self, update: TelegramUpdate, error: Exception) -> None:
        """Log what went wrong while answering an update; the bot keeps running."""
        try:
            if isinstance(error, Forbidden):
                if update.chat_type == PRIVATE and update.user_id is not None:
                    await self._deactivate(str(update.user_id))
                    return
                log.info("telegram: the bot may no longer write to a group: %s", error)
            elif isinstance(error, RetryAfter):
                log.warning("telegram: still rate limited after retrying; a reply was dropped")
            elif isinstance(error, BadRequest):
                log.error("telegram: the Bot API refused a reply: %s", error, exc_info=error)
            elif isinstance(error, NetworkError):
                log.warning("telegram: network problem while answering: %s", error)
            else:
                log.error("telegram: failed to answer an update", exc_info=error)
        except Exception:  # recording a blocked person: the database, say
            log.exception("telegram: failed while handling an error in answering an update")

    def _on_polling_error(self, error: Exception) -> None:
        log.warning("telegram: fetching updates failed (%s); retrying", error)

    async def _deactivate(self, user_key: str) -> None:
        # The core's deactivate writes to the database: keep it off the event loop.
        await asyncio.to_thread(self.conversation.deactivate, self.name, user_key)

    # -- outgoing -----------------------------------------------------------------------------

    async def send(
        self, user_key: str, replies: list[Reply], progress: Progress | None = None
    ) -> None:
        """Send messages the user did not ask for just now; raise what the outbox should do."""
        bot = self._bot
        if bot is None:
            raise TemporaryFailure("the Telegram transport is not running")
        try:
            chat_id = int(user_key)
        except ValueError:
            raise DeliveryError(f"not a Telegram user id: {user_key!r}") from None
        try:
            await self._render(bot, chat_id, replies, retries=None, progress=progress)
        except RetryAfter as exc:
            raise RetryLater(retry_after(exc), str(exc)) from exc
        except Forbidden as exc:
            await self._deactivate(user_key)
            raise RecipientGone(str(exc)) from exc
        except BadRequest as exc:
            if any(marker in exc.message.lower() for marker in _GONE):
                await self._deactivate(user_key)
                raise RecipientGone(str(exc)) from exc
            raise DeliveryError(f"the Bot API refused the message: {exc.message}") from exc
        except TelegramError as exc:  # NetworkError, TimedOut, 5xx and the rest
            raise TemporaryFailure(str(exc)) from exc

    async def _render(
        self,
        bot: ExtBot,
        chat_id: int,
        replies: list[Reply],
        *,
        edit_message_id: int | None = None,
        retries: int | None,
        progress: Progress | None = None,
    ) -> None:
        """Show replies in a chat: text with buttons, then a venue, then files.

        With `edit_message_id` (a button was pressed on that message) a first reply that asks
        to replace is shown by editing that message. `retries` is how many 429s to wait out.
        With `progress`, the first `progress.sent` Bot API messages are skipped (they went out
        on an earlier attempt) and each one sent is counted.
        """
        steps = render_steps(
            bot,
            chat_id,
            replies,
            edit_message_id,
            retries,
            paid=self.settings.telegram_paid_broadcasts,
        )
        for step in steps[progress.sent if progress is not None else 0 :]:
            await step()
            if progress is not None:
                progress.sent += 1


def _answer_in_response(update: TelegramUpdate) -> dict[str, Any] | None:
    """Return the Bot API call that rides in the webhook's 200 for `update`, if any.

    A button press is answered there (Bot API, "Making requests when getting updates"), which
    saves the answerCallbackQuery request `_acknowledge` makes when polling.
    """
    if update.kind is not Kind.PRESS:
        return None
    return {"method": "answerCallbackQuery", "callback_query_id": update.query_id}


def _chat_of(update: TelegramUpdate) -> int:
    """Return the chat to answer an update in: its own, else the person's private chat."""
    chat_id = update.chat_id if update.chat_id is not None else update.user_id
    if chat_id is None:  # `read_update` gives every answered kind a chat or a person
        raise ValueError(f"update {update.update_id} has no chat to answer in")
    return chat_id
