"""Messages the bot sends on its own, rendered in the recipient's language when they go out.

Each renderer returns the replies, or None when the message is no longer worth sending (the
event started or was cancelled, the user is not going any more); the outbox then drops it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, col, select

from bot.messages import Button, Reply
from db.attendance import attendance_of
from db.models import (
    AttendanceStatus,
    Event,
    ItemStatus,
    Offer,
    OutboxMessage,
)
from db.outbox import NewMessage, enqueue_many
from db.roles import admin_users
from handlers.actions import action
from handlers.content import event_texts, offer_texts, originals_note
from handlers.context import Context
from handlers.ui import language_in, place_of, where_text

Renderer = Callable[[Context, dict[str, Any]], "list[Reply] | None"]
RENDERERS: dict[str, Renderer] = {}


def renders(kind: str) -> Callable[[Renderer], Renderer]:
    def register(renderer: Renderer) -> Renderer:
        RENDERERS[kind] = renderer
        return renderer

    return register


def render_notice(ctx: Context, kind: str, payload: dict[str, Any]) -> list[Reply] | None:
    """Render a queued message for its recipient, or None if it should not be sent any more."""
    renderer = RENDERERS.get(kind)
    if renderer is None:
        raise LookupError(f"no renderer for outbox kind {kind!r}")
    return renderer(ctx, payload)


def _event(ctx: Context, payload: dict[str, Any]) -> Event | None:
    event_id = payload.get("event_id")
    return ctx.session.get(Event, event_id) if isinstance(event_id, int) else None


def _is_going(ctx: Context, event: Event) -> bool:
    assert ctx.user.id is not None and event.id is not None
    found = attendance_of(ctx.session, user_id=ctx.user.id, event_id=event.id)
    return found is not None and found.status == AttendanceStatus.GOING


@renders("reminder")
def reminder(ctx: Context, payload: dict[str, Any]) -> list[Reply] | None:
    """Remind someone going of an event: what, when, where; still going or not."""
    event = _event(ctx, payload)
    if event is None or event.status != ItemStatus.PUBLISHED or event.starts_at <= ctx.now:
        return None  # never remind of an event that started, was cancelled or is gone
    if not _is_going(ctx, event):
        return None
    t = ctx.t
    texts = event_texts(ctx, event)
    if event.all_day:  # it "starts" at midnight: a countdown to that would mislead
        text = t._(
            "Reminder: %(title)s is on %(day)s, all day.\nWhere: %(place)s",
            title=texts.title,
            day=t.date(event.starts_at),
            place=where_text(event) or "-",
        )
    else:
        text = t._(
            "Reminder: %(title)s starts %(relative)s, on %(when)s.\nWhere: %(place)s",
            title=texts.title,
            relative=t.relative(event.starts_at, ctx.now),
            when=t.datetime(event.starts_at),
            place=where_text(event) or "-",
        )
    buttons = (
        (
            Button(t.pgettext("button", "✅ Still going"), action("stillgo", event.id or 0)),
            Button(t.pgettext("button", "❌ Can't come"), action("nogo", event.id or 0)),
        ),
    )
    return [Reply(text, buttons=buttons, place=place_of(event))]


@renders("promoted")
def promoted(ctx: Context, payload: dict[str, Any]) -> list[Reply] | None:
    """Tell someone on the waiting list that a place became free for them."""
    event = _event(ctx, payload)
    if event is None or event.status != ItemStatus.PUBLISHED or event.starts_at <= ctx.now:
        return None
    if not _is_going(ctx, event):
        return None
    t = ctx.t
    text = t._(
        "Good news: a place became free at %(title)s on %(when)s. You are now on the list of "
        "people going.",
        title=event_texts(ctx, event).title,
        when=t.datetime(event.starts_at, all_day=event.all_day),
    )
    buttons = (
        (Button(t.pgettext("button", "📅 Show the event"), action("e", event.id or 0)),),
        (Button(t.pgettext("button", "❌ Can't come"), action("nogo", event.id or 0)),),
    )
    return [Reply(text, buttons=buttons)]


@renders("event_changed")
def event_changed(ctx: Context, payload: dict[str, Any]) -> list[Reply] | None:
    """Tell the people going that an event's time or place changed."""
    event = _event(ctx, payload)
    if event is None or event.status != ItemStatus.PUBLISHED or event.starts_at <= ctx.now:
        return None
    t = ctx.t
    text = t._(
        "Please note: %(title)s has changed. It now takes place on %(when)s.\nWhere: %(place)s",
        title=event_texts(ctx, event).title,
        when=t.datetime(event.starts_at, all_day=event.all_day),
        place=where_text(event) or "-",
    )
    buttons = ((Button(t.pgettext("button", "📅 Show the event"), action("e", event.id or 0)),),)
    return [Reply(text, buttons=buttons, place=place_of(event))]


@renders("event_cancelled")
def event_cancelled(ctx: Context, payload: dict[str, Any]) -> list[Reply] | None:
    """Tell the people who were going that an event was cancelled."""
    event = _event(ctx, payload)
    if event is None:
        return None
    t = ctx.t
    text = t._(
        "Unfortunately %(title)s on %(when)s has been cancelled.",
        title=event_texts(ctx, event).title,
        when=t.datetime(event.starts_at, all_day=event.all_day),
    )
    buttons = ((Button(t.pgettext("button", "📅 Other events"), action("events")),),)
    return [Reply(text, buttons=buttons)]


@renders("alert")
def new_item_alert(ctx: Context, payload: dict[str, Any]) -> list[Reply] | None:
    """Tell a follower about one new offer or event."""
    item_id = payload.get("id")
    if not isinstance(item_id, int):
        return None
    t = ctx.t
    if payload.get("item") == "o":
        offer = ctx.session.get(Offer, item_id)
        if offer is None or offer.status != ItemStatus.PUBLISHED:
            return None
        texts = offer_texts(ctx, offer)
        original = texts.untranslated_from if texts.title == offer.title else None
        text = t._("New volunteer offer for you: %(title)s", title=texts.title)
        button = Button(t.pgettext("button", "🤝 Show the offer"), action("o", item_id))
    else:
        event = ctx.session.get(Event, item_id)
        if event is None or event.status != ItemStatus.PUBLISHED or event.starts_at <= ctx.now:
            return None
        texts = event_texts(ctx, event)
        original = texts.untranslated_from if texts.title == event.title else None
        text = t._(
            "New event for you: %(title)s on %(when)s",
            title=texts.title,
            when=t.datetime(event.starts_at, all_day=event.all_day),
        )
        button = Button(t.pgettext("button", "📅 Show the event"), action("e", item_id))
    if original and (note := originals_note(ctx, [original])):
        text = f"{text}\n{note}"  # the title is in the original: say which language
    return [Reply(text, buttons=((button,),))]


@renders("digest")
def digest(ctx: Context, payload: dict[str, Any]) -> list[Reply] | None:
    """List this week's new offers and events for what the user follows."""
    t = ctx.t
    rows: list[tuple[Button, ...]] = []
    originals: list[str] = []
    for offer_id in payload.get("offers", []):
        offer = ctx.session.get(Offer, offer_id) if isinstance(offer_id, int) else None
        if offer is not None and offer.status == ItemStatus.PUBLISHED:
            texts = offer_texts(ctx, offer)
            if texts.untranslated_from and texts.title == offer.title:
                originals.append(texts.untranslated_from)
            rows.append((Button(f"🤝 {texts.title}", action("o", offer_id)),))
    for event_id in payload.get("events", []):
        event = ctx.session.get(Event, event_id) if isinstance(event_id, int) else None
        if event is not None and event.status == ItemStatus.PUBLISHED and event.starts_at > ctx.now:
            texts = event_texts(ctx, event)
            if texts.untranslated_from and texts.title == event.title:
                originals.append(texts.untranslated_from)
            label = t.pgettext(
                "event button",
                "%(date)s · %(title)s",
                date=t.short_datetime(event.starts_at, all_day=event.all_day),
                title=texts.title,
            )
            rows.append((Button(label, action("e", event_id)),))
    if not rows:
        return None
    text = t.ngettext(
        "New this week for what you follow: %(count)s item.",
        "New this week for what you follow: %(count)s items.",
        len(rows),
    )
    if note := originals_note(ctx, originals):
        text = f"{text}\n{note}"
    return [Reply(text, buttons=tuple(rows))]


@renders("broadcast")
def broadcast(ctx: Context, payload: dict[str, Any]) -> list[Reply] | None:
    """Deliver an announcement in the recipient's language, else German, else its original."""
    from db.models import Broadcast, BroadcastStatus, Organisation

    found = ctx.session.get(Broadcast, payload.get("broadcast_id") or 0)
    if found is None or found.status == BroadcastStatus.CANCELLED:
        return None
    locale = next(
        (code for code in (ctx.t.locale, "de", *found.texts) if found.texts.get(code)), None
    )
    if locale is None:
        return None
    organisation = ctx.session.get(Organisation, found.organisation_id or 0)
    sender = organisation.name if organisation else ctx.settings.operator_name
    heading = ctx.t._("📣 Announcement from %(sender)s:", sender=sender)
    parts = [heading, ctx.t.isolate(found.texts[locale])]
    if locale != ctx.t.locale:
        parts.append(
            ctx.t._(
                "This announcement is not available in your language; it is shown in %(language)s.",
                language=language_in(locale, ctx.t),
            )
        )
    return [Reply("\n\n".join(parts), urgent=found.urgent)]


@renders("broadcast_report")
def broadcast_report(ctx: Context, payload: dict[str, Any]) -> list[Reply] | None:
    """Tell the sender how their announcement went."""
    t = ctx.t
    text = t._(
        "Your announcement has gone out: %(delivered)s delivered, %(blocked)s blocked the bot, "
        "%(failed)s failed.",
        delivered=t.number(payload.get("delivered", 0)),
        blocked=t.number(payload.get("blocked", 0)),
        failed=t.number(payload.get("failed", 0)),
    )
    return [Reply(text)]


@renders("retention_notice")
def retention_notice(ctx: Context, payload: dict[str, Any]) -> list[Reply] | None:
    """Tell a long-silent user that their data will be deleted unless they write."""
    if ctx.user.last_seen_at > ctx.now - timedelta(
        days=ctx.settings.retention_inactive_days - ctx.settings.retention_notice_days
    ):
        return None  # they wrote in the meantime
    deletion = ctx.user.last_seen_at + timedelta(days=ctx.settings.retention_inactive_days)
    text = ctx.t._(
        "You have not written to me for a long time. I delete what I store about anyone who "
        "stays silent for %(inactive)s, so yours goes %(when)s. To keep it, just send me any "
        "message.",
        inactive=ctx.t.duration(timedelta(days=ctx.settings.retention_inactive_days)),
        when=ctx.t.relative(max(deletion, ctx.now + timedelta(days=1)), ctx.now),
    )
    return [Reply(text)]


# -- the messenger limits the bot's sending ------------------------------------------------------

# A second rate limit within this time is the same episode: the admins heard of it already.
SEND_LIMIT_EPISODE = timedelta(hours=1)
# Messengers by their own names.
MESSENGERS = {"signal": "Signal", "telegram": "Telegram", "matrix": "Matrix", "console": "Console"}


def queue_send_limit_notices(
    session: Session,
    *,
    admins: frozenset[tuple[str, str]],
    now: datetime,
    transport: str,
    retry_after: float,
    challenge: str | None = None,
    commands: tuple[str, str] | None = None,
) -> int:
    """Queue, for every admin, the news that a messenger limits the bot; return how many.

    A captcha challenge is told once per challenge token; a plain rate limit once per episode
    (none told in the SEND_LIMIT_EPISODE before). `commands` solve the challenge: through the
    running daemon, and with the daemon stopped.
    """
    payload: dict[str, Any] = {"transport": transport, "retry_after": round(retry_after)}
    if challenge is not None:
        kind, key = "send_challenge", f"send_challenge:{transport}:{challenge[:80]}"
        if commands is not None:
            payload["command"], payload["stopped_command"] = commands
    else:
        kind, key = "send_limit", f"send_limit:{transport}:{now.isoformat(timespec='seconds')}"
        told = session.exec(
            select(OutboxMessage.id).where(
                OutboxMessage.kind == kind,
                col(OutboxMessage.dedupe_key).startswith(f"send_limit:{transport}:"),
                OutboxMessage.created_at > now - SEND_LIMIT_EPISODE,
            )
        ).first()
        if told is not None:
            return 0
    messages = [
        NewMessage(user=user, kind=kind, dedupe_key=f"{key}:{user.id}", payload=payload)
        for user in admin_users(session, admins=admins)
    ]
    return len(enqueue_many(session, messages, now=now))


def _wait(ctx: Context, payload: dict[str, Any]) -> str:
    seconds = payload.get("retry_after")
    return ctx.t.duration(timedelta(seconds=seconds if isinstance(seconds, int) else 60))


def _messenger(payload: dict[str, Any]) -> str:
    transport = str(payload.get("transport", ""))
    return MESSENGERS.get(transport, transport.capitalize())


@renders("send_limit")
def send_limit(ctx: Context, payload: dict[str, Any]) -> list[Reply] | None:
    """Tell an admin that a messenger rate limits the bot, so its notices wait."""
    text = ctx.t._(
        "⚠️ %(messenger)s is limiting how many messages the bot may send. Reminders and "
        "announcements there wait about %(wait)s and then go out more slowly.",
        messenger=_messenger(payload),
        wait=_wait(ctx, payload),
    )
    return [Reply(text)]


@renders("send_challenge")
def send_challenge(ctx: Context, payload: dict[str, Any]) -> list[Reply] | None:
    """Tell an admin that a messenger wants a captcha solved, and how to solve it."""
    t = ctx.t
    messenger, wait = _messenger(payload), _wait(ctx, payload)
    command, stopped = payload.get("command"), payload.get("stopped_command")
    if not (isinstance(command, str) and isinstance(stopped, str)):
        text = t._(
            "⚠️ %(messenger)s wants the bot to solve a captcha before it sends more messages. "
            "Until then reminders and announcements there wait about %(wait)s.",
            messenger=messenger,
            wait=wait,
        )
        return [Reply(text)]
    text = t._(
        "⚠️ %(messenger)s wants the bot to solve a captcha before it sends more messages. "
        "Until then reminders and announcements there wait about %(wait)s. To send sooner, "
        "open %(link)s, solve the captcha, copy the address of the link “Open Signal” (it "
        "starts with signalcaptcha://) and run the first command of the next message on the "
        "bot's server, with that address in place of CAPTCHA. If signal-cli's daemon is "
        "stopped, run the second one instead.",
        messenger=messenger,
        wait=wait,
        link="https://signalcaptchas.org/challenge/generate.html",
    )
    # The commands go in a message of their own, without direction marks, so that they can be
    # copied into a shell as they are, also from an Arabic or Farsi chat.
    return [Reply(text), Reply(f"{command}\n\n{stopped}", literal=True)]
