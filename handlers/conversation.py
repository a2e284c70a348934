"""The conversation core: one Incoming in, the replies out, the same on every messenger."""

from __future__ import annotations

import asyncio
import logging
import re
import unicodedata
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from functools import partial
from typing import Any, TypeVar

from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, col, select

# Importing the flow modules registers their handlers on the router.
import handlers.admin
import handlers.attendance
import handlers.broadcasts
import handlers.calendar
import handlers.coordinator
import handlers.events
import handlers.help
import handlers.help_notices
import handlers.help_requests
import handlers.language
import handlers.manage
import handlers.menu
import handlers.offers
import handlers.privacy
import handlers.publish
import handlers.search
import handlers.settings
import handlers.start
import handlers.subscriptions  # noqa: F401
from bot.clock import Clock
from bot.config import SUPPORTED_LOCALES, Settings
from bot.i18n import Translations, Translator, negotiate_locale
from bot.logref import UserRefs
from bot.messages import Button, Incoming, Reply, replies_to_json
from db.engine import affects_everyone, session_scope
from db.inbox import finish, settle, was_handled
from db.models import Broadcast, ConversationState, Organisation, OutboxMessage, User
from db.outbox import drop_pending_for_user, mark_dropped, mark_sent_many
from db.queries import touch_user, user_and_state
from db.states import hold as hold_states
from db.states import store as store_state
from handlers.actions import BadAction, parse_action
from handlers.batching import Batches
from handlers.commands import command_words, normalise_word
from handlers.context import Context
from handlers.flood import FloodGate
from handlers.notices import queue_send_limit_notices, render_notice
from handlers.router import Router, router
from handlers.search import forget_search

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class Notice:
    """A rendered outbox message: to whom, what, and how much of it went out already."""

    user_key: str
    replies: list[Reply]
    # The action ids of its buttons, the person's typed-number menu once it was delivered.
    menu: list[str] | None = None
    parts_sent: int = 0
    # Part of an urgent announcement: the delivery worker paces it on the paid budget, where
    # its messenger has one (Telegram's paid broadcasts).
    urgent: bool = False


MAX_TEXT_CHARS = 4000
# At most this many updates are answered in one transaction (group commit): enough to take
# the commit off most updates in a rush, few enough that none waits long for the others.
MAX_BATCH = 32
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# Direction marks and isolates: invisible, and the bot itself puts them around commands and
# names in Arabic and Farsi text, so a copied "/join CODE" comes back wrapped in them. The
# zero-width non-joiner (U+200C) is kept: Persian words need it.
_DIRECTION = re.compile("[\u200e\u200f\u061c\u202a-\u202e\u2066-\u2069\ufeff]")
# A menu number in any script's decimal digits: "2", "٢" (Arabic-Indic), "۲" (Persian), "२".
_MENU_NUMBER = re.compile(r"^\s*(\d{1,6})\s*[.)]?\s*$")
_COMMAND = re.compile(r"^/([A-Za-z0-9_]{1,32})(?:@[A-Za-z0-9_]{1,64})?(?:\s+(.*))?$", re.DOTALL)


def clean_text(text: str) -> str:
    """Normalise typed text: NFC, no direction marks, no control characters but newlines and
    tabs, trimmed."""
    return _CONTROL.sub("", _DIRECTION.sub("", unicodedata.normalize("NFC", text))).strip()


class Conversation:
    """Answers every message by looking up the user, their state and the handler that fits."""

    def __init__(
        self,
        *,
        engine: Engine,
        settings: Settings,
        clock: Clock,
        translations: Translations | None = None,
        routes: Router = router,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.clock = clock
        self.translations = translations or Translations(settings.tz, settings.default_locale)
        self.routes = routes
        # Database work runs on one thread: SQLite writes one at a time anyway, the event loop
        # never waits on a busy database, and updates are answered in the order they came.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="conversation")
        self._batches = Batches(self._executor, self.handle_many, limit=MAX_BATCH)
        # The last known language of recent users, to say "try again later" in it when the
        # database cannot be read.
        self._recent_locales: OrderedDict[tuple[str, str], str] = OrderedDict()
        self._flood = FloodGate(clock, burst=settings.flood_burst)
        self.user_ref = UserRefs(settings.log_hash_key)
        self._words = command_words([self.translations.get(code) for code in SUPPORTED_LOCALES])
        # Updates whose answers went out, forgotten from the inbox in the next transaction on
        # the database thread (`forget_answered`); appended from the event loop.
        self._answered: deque[tuple[str, int]] = deque()
        # Group chats already told that the bot only talks one to one (kept for this process).
        self._groups_told: OrderedDict[tuple[str, str], None] = OrderedDict()

    async def handle_async(self, incoming: Incoming) -> list[Reply]:
        """Answer `incoming` without blocking the event loop, in one transaction with the
        others that wait for the database thread at the same time (`handle_many`)."""
        return await self._batches.run(incoming)

    async def run_db(self, function: Callable[..., T], /, *args: Any) -> T:
        """Run database work on the conversation's database thread, off the event loop."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, partial(function, *args))

    def render_notice(self, message_id: int) -> Notice | None:
        """Render a queued message for its recipient, in their language, at send time.

        Returns None, after marking the row dropped, when it should not be sent any more.
        Its buttons become the person's typed-number menu only once it was delivered
        (`record_delivery`): a notice that failed must not change what "2" presses.
        """
        with session_scope(self.engine) as session:
            row = session.get(OutboxMessage, message_id)
            user = session.get(User, row.user_id) if row is not None else None
            if row is None or user is None:
                return None
            state = session.get(ConversationState, user.id)
            return self._render_row(session, row, user, state)

    def render_notices(self, message_ids: list[int]) -> list[Notice | Exception | None]:
        """Render several queued messages in one transaction (see `render_notice`).

        Performance: the rows, their recipients and their states are read with one query
        each, and what they share (an announcement, its sender) once; rendered one by one,
        a claim of 50 took 150 reads (benchmarks/RESULTS.md, "Broadcast"). If any of them
        fails, each is rendered again on its own, and one that still fails comes back as the
        exception it raised.
        """
        try:
            with session_scope(self.engine) as session:
                rows = {
                    row.id: row
                    for row in session.exec(
                        select(OutboxMessage).where(col(OutboxMessage.id).in_(message_ids))
                    ).all()
                }
                user_ids = {row.user_id for row in rows.values()}
                users = {
                    user.id: user
                    for user in session.exec(select(User).where(col(User.id).in_(user_ids))).all()
                }
                states = {
                    state.user_id: state
                    for state in session.exec(
                        select(ConversationState).where(
                            col(ConversationState.user_id).in_(user_ids)
                        )
                    ).all()
                }
                # What several rows share is read once and held here for the whole claim: the
                # session keeps only weak references, so an announcement read by one row's
                # rendering would otherwise be gone, and read again, by the next row's.
                shared = _shared_by(session, rows.values())
                rendered: list[Notice | Exception | None] = []
                for message_id in message_ids:
                    row = rows.get(message_id)
                    user = users.get(row.user_id) if row is not None else None
                    if row is None or user is None:
                        rendered.append(None)
                    else:
                        state = states.get(user.id or 0)
                        rendered.append(self._render_row(session, row, user, state))
                del shared
                return rendered
        except Exception:
            rendered = []
            for message_id in message_ids:
                try:
                    rendered.append(self.render_notice(message_id))
                except Exception as exc:
                    rendered.append(exc)
            return rendered

    def _render_row(
        self,
        session: Session,
        row: OutboxMessage,
        user: User,
        state: ConversationState | None,
    ) -> Notice | None:
        message_id = row.id or 0
        if not user.active or user.paused:
            mark_dropped(session, message_id=message_id, reason="user inactive or paused")
            return None
        if user.consent_at is None:
            # Nothing proactive reaches anyone who has not agreed to the privacy notice.
            mark_dropped(session, message_id=message_id, reason="no consent")
            return None
        now = self.clock.now()
        # Notices read no state and change none (their menu is recorded once delivered), so
        # someone who has none yet gets none written here.
        if state is None:
            state = ConversationState(user_id=user.id or 0, updated_at=now)
        locale = negotiate_locale(
            user.locale, user.language_hint, default=self.settings.default_locale
        )
        ctx = self._context(
            session, user, state, locale, now, Incoming(user.transport, user.external_id)
        )
        replies = render_notice(ctx, row.kind, row.payload)
        if not replies:
            mark_dropped(session, message_id=message_id, reason="no longer relevant")
            return None
        return Notice(
            user.external_id,
            [self._finish(reply, ctx.t) for reply in replies],
            menu=self._menu_of(replies),
            parts_sent=row.parts_sent,
            urgent=any(reply.urgent for reply in replies),
        )

    def translator_for(self, transport: str, user_key: str, hint: str | None = None) -> Translator:
        """Return the translator of a person's language (the hint's for someone new, or while
        the database cannot be read)."""
        known: tuple[str | None, str | None] = (None, None)
        try:
            with session_scope(self.engine) as session:
                user = session.exec(
                    select(User).where(User.transport == transport, User.external_id == user_key)
                ).first()
                if user is not None:
                    known = (user.locale, user.language_hint)
        except OperationalError:
            pass  # the greeting's answer says what it can
        locale = negotiate_locale(*known, hint, default=self.settings.default_locale)
        return self.translations.get(locale)

    def record_delivery(self, message_id: int, menu: list[str] | None) -> None:
        """Record that a queued message was sent; its buttons are now what typed numbers press."""
        self.record_deliveries([(message_id, menu)])

    def record_deliveries(self, sent: list[tuple[int, list[str] | None]]) -> None:
        """Record that queued messages were sent, in one transaction (see `record_delivery`)."""
        now = self.clock.now()
        with session_scope(self.engine) as session:
            recipients = mark_sent_many(session, message_ids=[m for m, _ in sent], now=now)
            # In the order sent: of two notices to one person, the later one's buttons count.
            menus = {
                recipients[message_id]: menu
                for message_id, menu in sent
                if menu is not None and message_id in recipients
            }
            if not menus:
                return
            states = {
                state.user_id: state
                for state in session.exec(
                    select(ConversationState).where(col(ConversationState.user_id).in_(menus))
                ).all()
            }
            for user_id, menu in menus.items():
                state = states.get(user_id)
                if state is None:
                    session.add(ConversationState(user_id=user_id, menu=menu, updated_at=now))
                else:
                    state.menu = menu

    def deactivate(self, transport: str, user_key: str) -> None:
        """Remember that a user blocked the bot or left the messenger; nothing more goes out."""
        with session_scope(self.engine) as session:
            user = session.exec(
                select(User).where(User.transport == transport, User.external_id == user_key)
            ).first()
            if user is not None and user.active:
                user.active = False
                drop_pending_for_user(session, user_id=user.id or 0, reason="recipient gone")
                log.info(
                    "%s is no longer reachable; marked inactive", self.user_ref(transport, user_key)
                )

    def report_send_limit(
        self,
        transport: str,
        retry_after: float,
        challenge: str | None = None,
        commands: tuple[str, str] | None = None,
    ) -> int:
        """A messenger limits the bot's sending: queue the admins' notice, once; return how many.

        `challenge` is the token of a captcha the messenger wants solved, `commands` what
        solves it (through the running daemon, and with it stopped).
        """
        with session_scope(self.engine) as session:
            queued = queue_send_limit_notices(
                session,
                admins=self.settings.admins,
                now=self.clock.now(),
                transport=transport,
                retry_after=retry_after,
                challenge=challenge,
                commands=commands,
            )
        if queued:
            log.info("%s limits the bot's sending; told %d admins", transport, queued)
        return queued

    def answered(self, transport: str, update_id: int) -> None:
        """Note that a kept update's answer went out; the inbox forgets it very soon."""
        self._answered.append((transport, update_id))

    @property
    def has_answered(self) -> bool:
        """Return whether answered updates wait to be forgotten."""
        return bool(self._answered)

    def forget_answered(self) -> None:
        """Forget the answered updates noted so far, in a transaction of their own."""
        with self._transaction():
            pass

    @contextmanager
    def _transaction(self) -> Iterator[Session]:
        """A transaction that also forgets the answered updates noted so far.

        Riding along with whatever transaction comes next costs no commit of its own, and the
        next transaction comes within milliseconds while people are writing: the shorter this
        gap, the less a restart after a kill -9 sends again. Those noted while it ran (a batch
        of updates takes a while) go with its commit too. If the transaction fails, they are
        noted again for the next one.
        """
        taken: list[tuple[str, int]] = []
        try:
            with session_scope(self.engine) as session:
                self._forget_noted(session, taken)
                yield session
                self._forget_noted(session, taken)
        except BaseException:
            self._answered.extend(taken)
            raise

    def _forget_noted(self, session: Session, taken: list[tuple[str, int]]) -> None:
        """Forget, in `session`, the answered updates noted until now; add them to `taken`."""
        by_transport: dict[str, list[int]] = {}
        while self._answered:
            transport, update_id = self._answered.popleft()
            taken.append((transport, update_id))
            by_transport.setdefault(transport, []).append(update_id)
        for transport, ids in by_transport.items():
            finish(session, transport=transport, update_ids=ids)

    def close(self) -> None:
        self._executor.shutdown(wait=True)

    def handle(self, incoming: Incoming) -> list[Reply]:
        """Answer one message or button press."""
        return self.handle_many([incoming])[0]

    def handle_many(self, incomings: list[Incoming]) -> list[list[Reply]]:
        """Answer several messages or presses, of different people, in one transaction.

        One commit for all of them (group commit, see handlers/batching.py); each answer is
        given back only once what it changed is stored. If one of them fails, the transaction
        is rolled back and each is answered again in a transaction of its own, so only the one
        that failed gets the apology. If the database cannot be written (locked elsewhere,
        away), none could be answered alone either, and each gets "please try again later" at
        once instead of after a wait of its own.
        """
        answers: list[list[Reply] | None] = [self._admit(incoming) for incoming in incomings]
        admitted = [
            incoming for incoming, answer in zip(incomings, answers, strict=True) if answer is None
        ]
        together: list[list[Reply]] = []
        if len(admitted) == 1:
            together = [self._answer_alone(admitted[0])]
        elif admitted:
            try:
                with self._transaction() as session:
                    together = [self._answer(session, incoming) for incoming in admitted]
            except Exception as exc:
                if isinstance(exc, OperationalError) and affects_everyone(exc):
                    # Alone, each would wait as long and fail the same way.
                    log.exception("database unavailable while answering %d updates", len(admitted))
                    together = [self._unavailable(incoming) for incoming in admitted]
                else:
                    log.info("an answer failed among %d; answering each alone", len(admitted))
                    together = [self._answer_alone(incoming) for incoming in admitted]
        results = iter(together)
        return [answer if answer is not None else next(results) for answer in answers]

    def _admit(self, incoming: Incoming) -> list[Reply] | None:
        """Return the answer to an update that is not answered from the database, else None."""
        if incoming.chat_kind != "private":
            return self._not_private(incoming)
        verdict = self._flood.admit((incoming.transport, incoming.user_key))
        if verdict == "ok":
            return None
        if verdict == "drop":
            return []
        t = self.translations.get(self._fallback_locale(incoming))
        text = t._("You are writing very fast. Please wait a few seconds, then try again.")
        return [self._finish(Reply(text), t)]

    def _answer_alone(self, incoming: Incoming) -> list[Reply]:
        """Answer one update in a transaction of its own; a failure becomes an apology."""
        try:
            with self._transaction() as session:
                return self._answer(session, incoming)
        except OperationalError:
            log.exception(
                "database unavailable while answering %s",
                self.user_ref(incoming.transport, incoming.user_key),
            )
            return self._unavailable(incoming)
        except Exception:
            # A bug of ours: log it with context, never show a traceback, keep serving.
            log.exception(
                "failed to answer %s", self.user_ref(incoming.transport, incoming.user_key)
            )
            t = self.translations.get(self._fallback_locale(incoming))
            text = t._("Sorry, something went wrong on my side. Please try again, or send /menu.")
            return [self._finish(Reply(text), t)]

    def _unavailable(self, incoming: Incoming) -> list[Reply]:
        t = self.translations.get(self._fallback_locale(incoming))
        text = t._("Sorry, I cannot answer right now. Please try again in a few minutes.")
        return [self._finish(Reply(text), t)]

    def _answer(self, session: Session, incoming: Incoming) -> list[Reply]:
        """Answer one update inside the transaction `session` is in."""
        if incoming.update_id is not None and was_handled(
            session, transport=incoming.transport, update_id=incoming.update_id
        ):
            return []  # handled before a restart; the transport sends its kept answer
        now = self.clock.now()
        found, state = user_and_state(
            session, transport=incoming.transport, external_id=incoming.user_key
        )
        user, _created = touch_user(
            session,
            found,
            transport=incoming.transport,
            external_id=incoming.user_key,
            now=now,
            hint=incoming.locale_hint,
        )
        state, held = hold_states(session, state, user_id=user.id or 0)
        chosen = state.data.get("flow", {}).get("locale") if state.flow else None
        locale = negotiate_locale(
            user.locale,
            chosen,
            user.language_hint,
            incoming.locale_hint,
            default=self.settings.default_locale,
        )
        ctx = self._context(session, user, state, locale, now, incoming)
        replies = self._route(ctx)
        if not ctx.user_deleted:
            forget_search(ctx)
            self._remember_menu(ctx, replies)
            # One write at most, and none when the update changed nothing of the state.
            store_state(session, state, held, now=now)
        self._remember_locale(incoming, ctx.t.locale)
        answer = [self._finish(reply, ctx.t) for reply in replies]
        if incoming.update_id is not None:
            # In the same transaction as what handling changed: both or neither.
            settle(
                session,
                transport=incoming.transport,
                update_id=incoming.update_id,
                replies=replies_to_json(answer, edits=incoming.pressed_message),
            )
        return answer

    def _not_private(self, incoming: Incoming) -> list[Reply]:
        """Say once per group that the bot only talks one to one; otherwise stay silent."""
        key = (incoming.transport, incoming.chat_key or incoming.user_key)
        if key in self._groups_told:
            return []
        self._groups_told[key] = None
        while len(self._groups_told) > 10_000:
            self._groups_told.popitem(last=False)
        t = self.translations.get(
            negotiate_locale(incoming.locale_hint, default=self.settings.default_locale)
        )
        text = t._("Hello! I only talk one to one. Please write to me in a private chat.")
        return [self._finish(Reply(text), t)]

    # -- routing ------------------------------------------------------------------------------

    def _context(
        self,
        session: Session,
        user: User,
        state: ConversationState,
        locale: str,
        now: datetime,
        incoming: Incoming,
    ) -> Context:
        """The context one answer or notice is made in, in `locale`."""
        return Context(
            session=session,
            user=user,
            state=state,
            t=self.translations.get(locale),
            now=now,
            settings=self.settings,
            translations=self.translations,
            incoming=incoming,
        )

    def _route(self, ctx: Context) -> list[Reply]:
        incoming = ctx.incoming
        if incoming.action is not None:
            return self._run_action(ctx, incoming.action)
        if incoming.unreadable == "encrypted":
            return self._undecryptable(ctx)
        if incoming.text is None:
            return self._unsupported(ctx)
        if len(incoming.text) > MAX_TEXT_CHARS * 2:
            return self._too_long(ctx)
        text = clean_text(incoming.text)
        if not text:
            return self._empty(ctx)
        if len(text) > MAX_TEXT_CHARS:
            return self._too_long(ctx)
        command = _COMMAND.match(text)
        if command:
            return self._run_command(
                ctx, command.group(1).lower(), (command.group(2) or "").strip()
            )
        flow = self.routes.text_steps.get(ctx.state.flow or "")
        # In a flow that asks for free text, what the user types is its answer; outside one, a
        # command word ("hilfe", "مساعدة") or a menu number ("2") presses what it names.
        wants_text = self.routes.free_text.get(ctx.state.flow or "")
        if flow is not None and wants_text is not None and wants_text(ctx.state):
            return flow(ctx, text)
        word = self._words.get(normalise_word(text)) if len(text) <= 40 else None
        if word is not None:
            return self._run_command(ctx, word, "")
        number = _MENU_NUMBER.match(text)
        if number and ctx.state.menu:
            return self._press_number(ctx, int(number.group(1)))
        if flow is not None:
            return flow(ctx, text)
        return self.routes.call(ctx, "not_understood", text)

    def _run_action(self, ctx: Context, raw: str) -> list[Reply]:
        try:
            parsed = parse_action(raw, self.routes.shapes)
        except BadAction:
            log.info("rejected a malformed or unknown action")
            return self.routes.call(ctx, "stale")
        ctx.state.data = {**ctx.state.data, "screen": raw}
        return self.routes.call(ctx, parsed.name, *parsed.args)

    def _run_command(self, ctx: Context, name: str, argument: str) -> list[Reply]:
        if name in self.routes.argument_commands:
            return self.routes.call(ctx, self.routes.argument_commands[name], argument)
        target = self.routes.commands.get(name)
        if target is None:
            return self.routes.call(ctx, "not_understood", f"/{name}")
        ctx.state.data = {**ctx.state.data, "screen": target}
        if ctx.user.consent_at is not None:  # a command leaves a flow, but not the onboarding
            ctx.end_flow()
        return self.routes.call(ctx, target)

    def _press_number(self, ctx: Context, number: int) -> list[Reply]:
        menu = ctx.state.menu
        if 1 <= number <= len(menu):
            return self._run_action(ctx, menu[number - 1])
        hint = ctx.t._(
            "Please choose a number from 1 to %(highest)s.", highest=ctx.t.number(len(menu))
        )
        screen = ctx.state.data.get("screen")
        if isinstance(screen, str):
            try:
                parsed = parse_action(screen, self.routes.shapes)
            except BadAction:
                pass
            else:
                again = self.routes.call(ctx, parsed.name, *parsed.args)
                return [Reply(hint), *again]
        return [Reply(hint), *self.routes.call(ctx, "menu")]

    def _unsupported(self, ctx: Context) -> list[Reply]:
        text = ctx.t._("I can only read text messages. Please choose from the menu.")
        return self._answer_keeping_flow(ctx, text)

    def _undecryptable(self, ctx: Context) -> list[Reply]:
        text = ctx.t._(
            "I could not read your last message: it reached me encrypted with a key I did "
            "not get. Please send it again."
        )
        return self._answer_keeping_flow(ctx, text)

    def _empty(self, ctx: Context) -> list[Reply]:
        text = ctx.t._("Your message was empty. Type something, or choose from the menu.")
        return self._answer_keeping_flow(ctx, text)

    def _too_long(self, ctx: Context) -> list[Reply]:
        text = ctx.t._(
            "That message is too long for me. Please keep it under %(limit)s characters.",
            limit=ctx.t.number(MAX_TEXT_CHARS),
        )
        return self._answer_keeping_flow(ctx, text)

    def _answer_keeping_flow(self, ctx: Context, text: str) -> list[Reply]:
        """Answer with the menu, but leave a multi-step flow where it was: nothing is lost."""
        if ctx.state.flow in self.routes.free_text:
            hint = ctx.t._("Please try again, or send /menu to stop.")
            return [Reply(f"{text}\n{hint}")]
        return [Reply(text), *self.routes.call(ctx, "menu")]

    # -- after the handler --------------------------------------------------------------------

    @staticmethod
    def _menu_of(replies: list[Reply]) -> list[str] | None:
        """Return the action ids of the last buttons shown, which typed numbers press."""
        for reply in reversed(replies):
            if reply.buttons:
                return [button.action for button in reply.flat_buttons()]
        return None

    @classmethod
    def _remember_menu(cls, ctx: Context, replies: list[Reply]) -> None:
        menu = cls._menu_of(replies)
        if menu is not None:
            ctx.state.menu = menu

    @staticmethod
    def _finish(reply: Reply, t: Translator) -> Reply:
        if not t.rtl or reply.literal:
            return reply
        rows = tuple(
            tuple(Button(t.directed(b.label), b.action) for b in row) for row in reply.buttons
        )
        return replace(reply, text=t.directed(reply.text), buttons=rows, rtl=True)

    def _remember_locale(self, incoming: Incoming, locale: str) -> None:
        key = (incoming.transport, incoming.user_key)
        self._recent_locales[key] = locale
        self._recent_locales.move_to_end(key)
        while len(self._recent_locales) > 10_000:
            self._recent_locales.popitem(last=False)

    def _fallback_locale(self, incoming: Incoming) -> str:
        known = self._recent_locales.get((incoming.transport, incoming.user_key))
        return negotiate_locale(known, incoming.locale_hint, default=self.settings.default_locale)


def _shared_by(session: Session, rows: Iterable[OutboxMessage]) -> list[object]:
    """Read the announcements that queued rows deliver, and their senders, in two queries."""
    broadcast_ids = {
        row.payload.get("broadcast_id") for row in rows if row.kind == "broadcast" and row.payload
    }
    broadcast_ids.discard(None)
    if not broadcast_ids:
        return []
    broadcasts = session.exec(select(Broadcast).where(col(Broadcast.id).in_(broadcast_ids))).all()
    organisation_ids = {found.organisation_id for found in broadcasts} - {None}
    organisations = (
        session.exec(select(Organisation).where(col(Organisation.id).in_(organisation_ids))).all()
        if organisation_ids
        else []
    )
    return [*broadcasts, *organisations]
