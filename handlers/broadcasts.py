"""Announcements: choose the audience and the sender, write the text in your own chat language
and then in others, see the preview and the exact number of recipients, send now or later.

Each recipient gets the text in their language, else the German one, else the original (the
language it was written in first; `Broadcast.texts` keeps that order)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlmodel import col, select

from bot.config import SUPPORTED_LOCALES
from bot.i18n import language_name
from bot.messages import Button, Reply
from db.broadcasts import count_audience, count_telegram_audience, progress, queue_broadcast
from db.models import (
    Broadcast,
    BroadcastStatus,
    Category,
    ConversationState,
    District,
    Event,
    Organisation,
)
from db.queries import upcoming_events_of
from db.roles import audit
from handlers.actions import action
from handlers.context import Context
from handlers.coordinator import not_allowed
from handlers.roles import acts_for, admin, organisations
from handlers.router import router
from handlers.timeparse import parse_local_datetime
from handlers.ui import language_in, main_menu, name_in, too_long

FLOW = "broadcast"
FALLBACK_LOCALE = "de"  # the city's language, for recipients whose language is missing
MAX_TEXT = 3500
# Bot API, sendMessage, allow_paid_broadcast: "for a fee of 0.1 Telegram Stars per message".
# Telegram bills only the messages that exceed its free limits (TransactionPartnerTelegramApi:
# "requests that exceeded regular limits and were therefore billed"), so this is the most.
STARS_PER_PAID_MESSAGE = Decimal("0.1")


def _stop_button(ctx: Context) -> Button:
    return Button(ctx.t.pgettext("button", "✖ Stop"), action("bc_stop"))


@router.on_action("bc_new")
def new_broadcast(ctx: Context) -> list[Reply]:
    """Ask who the announcement is for."""
    if not organisations(ctx):
        return not_allowed(ctx)
    ctx.start_flow(FLOW, "audience")
    t = ctx.t
    rows = [
        (Button(t.pgettext("button", "👥 Everyone"), action("bc_aud", "all", 0)),),
        (Button(t.pgettext("button", "🏷 Followers of a topic"), action("bc_pick", "c")),),
        (Button(t.pgettext("button", "📍 Followers of a district"), action("bc_pick", "d")),),
        (Button(t.pgettext("button", "🏢 Followers of an organisation"), action("bc_pick", "g")),),
        (Button(t.pgettext("button", "📅 People going to an event"), action("bc_pick", "e")),),
        (_stop_button(ctx),),
    ]
    return [Reply(t._("Who should receive the announcement?"), buttons=tuple(rows))]


@router.on_action("bc_pick", str)
def pick_target(ctx: Context, kind: str) -> list[Reply]:
    """List the topics, districts, organisations or events to choose from."""
    if ctx.state.flow != FLOW or not organisations(ctx):
        return router.call(ctx, "stale")
    t = ctx.t
    if kind == "c":
        choices = [
            (c.id, name_in(c.names, t.locale, c.slug))
            for c in ctx.session.exec(select(Category).order_by(col(Category.position)))
        ]
    elif kind == "d":
        choices = [
            (d.id, name_in(d.names, t.locale, d.slug))
            for d in ctx.session.exec(select(District).order_by(col(District.position)))
        ]
    elif kind == "g":
        choices = [(o.id, o.name) for o in organisations(ctx)]
    elif kind == "e":
        mine = [o.id for o in organisations(ctx)]
        events = upcoming_events_of(ctx.session, organisation_ids=mine, now=ctx.now)
        choices = [(e.id, e.title) for e in events]
    else:
        return router.call(ctx, "stale")
    rows = [(Button(label, action("bc_aud", kind, item_id or 0)),) for item_id, label in choices]
    return [Reply(t._("Choose one:"), buttons=(*rows, (_stop_button(ctx),)))]


def _audience_allowed(ctx: Context, kind: str, target: int) -> bool:
    if kind == "all":
        return True
    if kind == "c":
        return ctx.session.get(Category, target) is not None
    if kind == "d":
        return ctx.session.get(District, target) is not None
    if kind == "g":
        return acts_for(ctx, target)
    if kind == "e":
        event = ctx.session.get(Event, target)
        return event is not None and acts_for(ctx, event.organisation_id)
    return False


@router.on_action("bc_aud", str, int)
def set_audience(ctx: Context, kind: str, target: int) -> list[Reply]:
    """Remember the audience and ask for the sender, or for the text when there is one sender."""
    if ctx.state.flow != FLOW or not organisations(ctx):
        return router.call(ctx, "stale")
    if not _audience_allowed(ctx, kind, target):
        return not_allowed(ctx)
    draft = {"audience": kind, "target": target or None, "texts": {}}
    senders = _senders(ctx)
    if len(senders) == 1:
        ctx.save_flow({**draft, "sender": senders[0][0]}, "text")
        return _ask_for_text(ctx)
    ctx.save_flow(draft, "sender")
    return _ask_for_sender(ctx)


@router.on_action("bc_sender")
def change_sender(ctx: Context) -> list[Reply]:
    """Go back from the preview to the choice of the sender; the texts stay."""
    if ctx.state.flow != FLOW or not ctx.flow_data.get("texts"):
        return router.call(ctx, "stale")
    ctx.save_flow(ctx.flow_data, "sender")
    return _ask_for_sender(ctx)


def _ask_for_sender(ctx: Context) -> list[Reply]:
    rows = [(Button(name, action("bc_from", sender)),) for sender, name in _senders(ctx)]
    return [
        Reply(
            ctx.t._("In whose name should the announcement be sent?"),
            buttons=(*rows, (_stop_button(ctx),)),
        )
    ]


def _senders(ctx: Context) -> list[tuple[int, str]]:
    """Return whom the user may send in the name of: 0 is the operator, for admins only."""
    choices = [(o.id or 0, o.name) for o in organisations(ctx)]
    if admin(ctx):
        choices.insert(0, (0, ctx.settings.operator_name))
    return choices


def _sender_allowed(ctx: Context, sender: int) -> bool:
    return admin(ctx) if sender == 0 else acts_for(ctx, sender)


def _sender_name(ctx: Context, sender: int) -> str:
    organisation = ctx.session.get(Organisation, sender) if sender else None
    return organisation.name if organisation else ctx.settings.operator_name


@router.on_action("bc_from", int)
def set_sender(ctx: Context, sender: int) -> list[Reply]:
    """Remember in whose name the announcement goes out and ask for the text."""
    if ctx.state.flow != FLOW or ctx.state.step != "sender":
        return router.call(ctx, "stale")
    if not _sender_allowed(ctx, sender):
        return not_allowed(ctx)
    if ctx.flow_data.get("texts"):  # changed from the preview
        step = "confirm" if ctx.flow_data.get("send_at") else "languages"
        ctx.save_flow({**ctx.flow_data, "sender": sender}, step)
        return _preview(ctx)
    ctx.save_flow({**ctx.flow_data, "sender": sender}, "text")
    return _ask_for_text(ctx)


def _ask_for_text(ctx: Context) -> list[Reply]:
    """Ask for the original text, in the language the sender chats in."""
    t = ctx.t
    if t.locale == FALLBACK_LOCALE:
        text = t._(
            "Please write the announcement in German. Everyone whose language "
            "you do not add gets the German text."
        )
    else:
        text = t._(
            "Please write the announcement in %(language)s. After that you can add it in "
            "German and other languages; everyone whose language is missing gets the German "
            "text, or this one if there is no German.",
            language=language_in(t.locale, t),
        )
    return [Reply(text, buttons=((_stop_button(ctx),),))]


def _wants_text(state: ConversationState) -> bool:
    return state.step in ("text", "when")


@router.on_text(FLOW, free_text=_wants_text)
def broadcast_text(ctx: Context, text: str) -> list[Reply]:
    """Take the text of the announcement (or the time to send it)."""
    draft = ctx.flow_data
    if ctx.state.step == "when":
        moment = parse_local_datetime(text, now=ctx.now, tz=ctx.settings.tz)
        if moment is None or moment <= ctx.now:
            return [
                Reply(
                    ctx.t._(
                        "I could not read that date. Please write it like 12.12. 18:00 "
                        'or "morgen 17 Uhr".'
                    ),
                    buttons=((_stop_button(ctx),),),
                )
            ]
        ctx.save_flow({**draft, "send_at": moment.isoformat()}, "confirm")
        return _preview(ctx)
    if ctx.state.step != "text":
        # A button step answered by typing: say so and show the same step again, texts kept.
        again = Reply(ctx.t._("Please choose one of the buttons."))
        if ctx.state.step == "sender":
            return [again, *_ask_for_sender(ctx)]
        if draft.get("texts"):
            return [again, *_preview(ctx)]
        return [again, *new_broadcast(ctx)]
    if len(text) > MAX_TEXT:
        return [Reply(too_long(ctx.t, MAX_TEXT))]
    # The first text is the original, in the sender's chat language; later ones are added.
    locale = draft.get("writing") or ctx.t.locale
    draft = {**draft, "texts": {**draft.get("texts", {}), locale: text}}
    draft.pop("writing", None)
    ctx.save_flow(draft, "languages")
    return _preview(ctx)


@router.on_action("bc_lang", str)
def add_language(ctx: Context, locale: str) -> list[Reply]:
    """Ask for the text in one more language."""
    if ctx.state.flow != FLOW or locale not in SUPPORTED_LOCALES or not ctx.flow_data.get("texts"):
        return router.call(ctx, "stale")
    ctx.save_flow({**ctx.flow_data, "writing": locale}, "text")
    return [
        Reply(
            ctx.t._(
                "Please write the announcement in %(language)s.", language=language_name(locale)
            ),
            buttons=((_stop_button(ctx),),),
        )
    ]


def _preview(ctx: Context) -> list[Reply]:
    t = ctx.t
    draft = ctx.flow_data
    texts: dict[str, str] = draft.get("texts", {})
    count = count_audience(ctx.session, audience=draft["audience"], audience_id=draft["target"])
    if count == 0:
        ctx.end_flow()
        return [
            Reply(t._("No one would receive this announcement. Please choose another audience.")),
            *new_broadcast(ctx),
        ]
    sender = _sender_of(ctx, draft)
    if sender is None:  # a draft begun before senders were chosen: ask, never guess
        ctx.save_flow(draft, "sender")
        return _ask_for_sender(ctx)
    languages = t.join([language_name(code) for code in texts])
    original = next(iter(texts.values()), "")
    lines = [
        t._("Preview:"),
        t._("📣 Announcement from %(sender)s:", sender=_sender_name(ctx, sender))
        + "\n"
        + t.isolate(original),
        t._("Languages: %(languages)s", languages=languages),
        t.ngettext("It will reach %(count)s person.", "It will reach %(count)s people.", count),
    ]
    if draft.get("send_at"):
        lines.append(
            t._(
                "It will be sent on %(when)s.",
                when=t.datetime(datetime.fromisoformat(draft["send_at"])),
            )
        )
    paid = 0 if draft.get("send_at") else _paid_messages(ctx, draft)
    if paid:
        lines.append(
            t.ngettext(
                "⚡ Urgent: sent through Telegram's paid broadcasts, up to %(rate)s messages a "
                "second. It costs at most %(stars)s Telegram Stars for %(count)s message on "
                "Telegram, from the bot's balance.",
                "⚡ Urgent: sent through Telegram's paid broadcasts, up to %(rate)s messages a "
                "second. It costs at most %(stars)s Telegram Stars for %(count)s messages on "
                "Telegram, from the bot's balance.",
                paid,
                stars=t.number(paid * STARS_PER_PAID_MESSAGE),
                rate=t.number(int(ctx.settings.telegram_paid_rate)),
            )
        )
    missing = [code for code in SUPPORTED_LOCALES if code not in texts]
    lang_buttons = [
        Button(
            t.pgettext("button", "➕ %(language)s", language=language_name(code)),
            action("bc_lang", code),
        )
        for code in missing
    ]
    rows = [tuple(lang_buttons[i : i + 3]) for i in range(0, len(lang_buttons), 3)]
    if len(_senders(ctx)) > 1:
        rows.append((Button(t.pgettext("button", "🏢 Change sender"), action("bc_sender")),))
    rows.append((Button(t.pgettext("button", "📣 Send now"), action("bc_send", "now")),))
    if paid:
        rows.append(
            (Button(t.pgettext("button", "⚡ Send now as urgent"), action("bc_send", "urgent")),)
        )
    if not draft.get("send_at"):
        rows.append((Button(t.pgettext("button", "🕒 Send later"), action("bc_send", "later")),))
    else:
        rows[-1] = (Button(t.pgettext("button", "✅ Confirm"), action("bc_send", "at")),)
    rows.append((_stop_button(ctx),))
    return [Reply("\n\n".join(lines), buttons=tuple(rows))]


def _paid_messages(ctx: Context, draft: dict[str, Any]) -> int:
    """Return how many paid Telegram messages sending the draft as urgent would take, or 0 when
    urgent is not on offer: paid broadcasts are off, the user is no admin, or nobody of the
    audience is on Telegram. An announcement is one Telegram message per recipient."""
    if not ctx.settings.telegram_paid_broadcasts or not admin(ctx):
        return 0
    return count_telegram_audience(
        ctx.session, audience=draft["audience"], audience_id=draft["target"]
    )


@router.on_action("bc_send", str)
def send(ctx: Context, when: str) -> list[Reply]:
    """Queue the announcement now or at the chosen time, or ask for the time."""
    draft = ctx.flow_data
    if ctx.state.flow != FLOW or not any(draft.get("texts", {}).values()):
        return router.call(ctx, "stale")
    if not _audience_allowed(ctx, draft["audience"], draft["target"] or 0):
        return not_allowed(ctx)
    if when == "later":
        ctx.save_flow(draft, "when")
        return [
            Reply(
                ctx.t._('When should it be sent? For example: 12.12. 18:00 or "morgen 9 Uhr".'),
                buttons=((_stop_button(ctx),),),
            )
        ]
    send_at = (
        datetime.fromisoformat(draft["send_at"])
        if when == "at" and draft.get("send_at")
        else ctx.now
    )
    sender = _sender_of(ctx, draft)
    if sender is None:
        ctx.save_flow(draft, "sender")
        return _ask_for_sender(ctx)
    if not _sender_allowed(ctx, sender):
        return not_allowed(ctx)
    urgent = when == "urgent"
    if urgent and (draft.get("send_at") or not _paid_messages(ctx, draft)):
        # An old button or a typed number: re-authorised here, and nothing goes out as urgent.
        refusal = ctx.t._(
            "Only admins can send an announcement as urgent, and only while Telegram's paid "
            "broadcasts are enabled. Nothing was sent; here is your announcement again."
        )
        return [Reply(refusal), *_preview(ctx)]
    broadcast = Broadcast(
        sender_id=ctx.user.id,
        organisation_id=sender or None,
        audience=draft["audience"],
        audience_id=draft["target"],
        texts=draft["texts"],
        status=BroadcastStatus.SCHEDULED,
        urgent=urgent,
        send_at=send_at,
        created_at=ctx.now,
    )
    ctx.session.add(broadcast)
    ctx.session.flush()
    count = queue_broadcast(ctx.session, broadcast=broadcast, now=ctx.now)
    audit(
        ctx.session,
        actor=ctx.user,
        action="broadcast_queued",
        detail={
            "broadcast_id": broadcast.id,
            "recipients": count,
            "audience": draft["audience"],
            "languages": sorted(draft["texts"]),
            "urgent": urgent,
        },
        now=ctx.now,
    )
    ctx.end_flow()
    text = ctx.t.ngettext(
        "The announcement is on its way to %(count)s person. I will report when it is done.",
        "The announcement is on its way to %(count)s people. I will report when it is done.",
        count,
    )
    status = Button(ctx.t.pgettext("button", "📊 Progress"), action("bc_status", broadcast.id or 0))
    return [
        Reply(
            text,
            buttons=(
                (status,),
                (Button(ctx.t.pgettext("button", "🏠 Main menu"), action("menu")),),
            ),
        )
    ]


def _sender_of(ctx: Context, draft: dict[str, Any]) -> int | None:
    """Return the chosen sender, the only possible one, or None when the sender must choose."""
    sender = draft.get("sender")
    if isinstance(sender, int):
        return sender
    senders = _senders(ctx)
    return senders[0][0] if len(senders) == 1 else None


@router.on_action("bc_status", int)
def broadcast_status(ctx: Context, broadcast_id: int) -> list[Reply]:
    """Show how far an announcement got."""
    broadcast = ctx.session.get(Broadcast, broadcast_id)
    if broadcast is None or not (admin(ctx) or broadcast.sender_id == ctx.user.id):
        return not_allowed(ctx)
    counts = progress(ctx.session, broadcast_id=broadcast_id)
    t = ctx.t
    text = t._(
        "Announcement to %(total)s people: %(delivered)s delivered, %(waiting)s waiting, "
        "%(blocked)s blocked the bot, %(failed)s failed.",
        total=t.number(broadcast.recipients),
        **{key: t.number(value) for key, value in counts.items()},
    )
    refresh = Button(t.pgettext("button", "🔄 Refresh"), action("bc_status", broadcast_id))
    return [Reply(text, buttons=((refresh,),), replace=True)]


@router.on_action("bc_stop")
def stop(ctx: Context) -> list[Reply]:
    """Throw the announcement away."""
    ctx.end_flow()
    return [main_menu(ctx, ctx.t._("Nothing was sent."))]
