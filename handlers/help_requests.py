""" "I'd like to help" as a handoff: a resident asks about an offer, choosing whether to share
their name and messenger contact; the organisation's coordinators are told (else the admins,
else the resident hears that nobody can answer yet); both sides write back and forth through
the bot, each in their own language, and either side closes the request."""

from __future__ import annotations

from sqlmodel import col, select

from bot.messages import Button, Reply
from db.help_requests import (
    ORGANISATION,
    RESIDENT,
    Answerer,
    add_message,
    close_request,
    messages_of,
    open_request,
    organisation_side,
)
from db.models import (
    ConversationState,
    HelpRequest,
    HelpRequestStatus,
    ItemStatus,
    Offer,
    Organisation,
    User,
)
from db.outbox import NewMessage, enqueue_many
from db.roles import audit
from handlers.actions import action
from handlers.content import offer_texts
from handlers.context import Context
from handlers.coordinator import not_allowed
from handlers.help_notices import (
    contact_line,
    language_of,
    messenger_name,
    request_buttons,
    resident_name,
)
from handlers.roles import acts_for, is_coordinator, organisations
from handlers.router import router
from handlers.ui import main_menu, menu_button

WRITE_FLOW = "hr_write"
# A short message: it reads well on a phone, and fits one Signal message in any script.
MAX_MESSAGE = 500


def _offer(ctx: Context, offer_id: int) -> Offer | None:
    offer = ctx.session.get(Offer, offer_id)
    return offer if offer is not None and offer.status == ItemStatus.PUBLISHED else None


def _organisation_name(ctx: Context, organisation_id: int) -> str:
    organisation = ctx.session.get(Organisation, organisation_id)
    return organisation.name if organisation else ""


def _gone(ctx: Context) -> list[Reply]:
    return [main_menu(ctx, ctx.t._("This offer is no longer available."))]


def _side_of(ctx: Context, request: HelpRequest) -> str | None:
    """Return which side of the request the user is on, or None if neither."""
    if request.user_id == ctx.user.id:
        return RESIDENT
    if acts_for(ctx, request.organisation_id):
        return ORGANISATION
    return None


# -- the resident asks ---------------------------------------------------------------------------


@router.on_action("hr_ask", int)
def ask_consent(ctx: Context, offer_id: int) -> list[Reply]:
    """Say what would be shared, and with whom, and let the resident choose; or, if they asked
    already, say that their request is open."""
    offer = _offer(ctx, offer_id)
    if offer is None:
        return _gone(ctx)
    t = ctx.t
    organisation = _organisation_name(ctx, offer.organisation_id)
    existing = open_request(ctx.session, user_id=ctx.user.id or 0, offer_id=offer_id)
    if existing is not None:
        text = t._(
            "You already asked to help with %(offer)s, and your request is open: "
            "%(organisation)s will answer you here. You can add a message for them.",
            offer=offer_texts(ctx, offer).title,
            organisation=organisation,
        )
        return [Reply(text, buttons=request_buttons(ctx.t, existing))]
    name, contact = ctx.incoming.display_name, ctx.incoming.handle
    rows: list[tuple[Button, ...]] = []
    if contact:
        text = t._(
            "I will tell %(organisation)s that you would like to help. May I also pass on your "
            "name and your %(messenger)s contact (%(contact)s), so they can write to you "
            "directly? If not, they answer you only here, through the bot.",
            organisation=organisation,
            messenger=messenger_name(ctx.user.transport),
            contact=t.join([value for value in (name, contact) if value]),
        )
        rows.append(
            (Button(t.pgettext("button", "✅ Yes, share my contact"), action("hr_yes", offer_id)),)
        )
        rows.append(
            (Button(t.pgettext("button", "💬 Only through the bot"), action("hr_bot", offer_id)),)
        )
    else:
        text = t._(
            "I will tell %(organisation)s that you would like to help. Your messenger does not "
            "give me a contact to pass on, so they will answer you here, through the bot. "
            "Shall I send your request?",
            organisation=organisation,
        )
        rows.append((Button(t.pgettext("button", "✅ Yes, send it"), action("hr_bot", offer_id)),))
    rows.append((Button(t.pgettext("button", "✖ No"), action("o", offer_id)),))
    return [Reply(text, buttons=tuple(rows))]


@router.on_action("hr_yes", int)
def share_and_ask(ctx: Context, offer_id: int) -> list[Reply]:
    """Send the request with the name and contact the resident agreed to share."""
    return _send_request(ctx, offer_id, share=True)


@router.on_action("hr_bot", int)
def ask_through_the_bot(ctx: Context, offer_id: int) -> list[Reply]:
    """Send the request without name or contact: the organisation answers through the bot."""
    return _send_request(ctx, offer_id, share=False)


def _send_request(ctx: Context, offer_id: int, *, share: bool) -> list[Reply]:
    offer = _offer(ctx, offer_id)
    if offer is None:
        return _gone(ctx)
    if open_request(ctx.session, user_id=ctx.user.id or 0, offer_id=offer_id) is not None:
        return ask_consent(ctx, offer_id)  # pressed twice: it is open already
    incoming = ctx.incoming
    request = HelpRequest(
        user_id=ctx.user.id or 0,
        offer_id=offer_id,
        organisation_id=offer.organisation_id,
        shared_name=(incoming.display_name or "")[:200] if share else "",
        shared_contact=(incoming.handle or "")[:200] if share else "",
        consent_at=ctx.now,
        created_at=ctx.now,
    )
    ctx.session.add(request)
    ctx.session.flush()
    side = organisation_side(
        ctx.session, organisation_id=offer.organisation_id, admins=ctx.settings.admins
    )
    _notify(ctx, side.users, "help_request", f"help_request:{request.id}", request_id=request.id)
    t = ctx.t
    organisation = _organisation_name(ctx, offer.organisation_id)
    title = offer_texts(ctx, offer).title
    if side.who == Answerer.COORDINATORS:
        text = t._(
            "Thank you! I have passed your request about %(offer)s to the coordinators of "
            "%(organisation)s. They will answer you here.",
            offer=title,
            organisation=organisation,
        )
    elif side.who == Answerer.ADMINS:
        text = t._(
            "Thank you! %(organisation)s has no coordinator in this bot yet, so I have passed "
            "your request about %(offer)s to the bot's administrators at %(operator)s. They "
            "will answer you here.",
            offer=title,
            organisation=organisation,
            operator=ctx.settings.operator_name,
        )
    else:
        text = t._(
            "Thank you! Your request about %(offer)s is saved, but nobody at %(organisation)s "
            "can be reached through this bot yet. Whoever joins for them will see it, and you "
            "will get their answer here.",
            offer=title,
            organisation=organisation,
        )
        if texts_contact := offer_texts(ctx, offer).contact:
            text = "\n\n".join(
                [
                    text,
                    t._("You can also contact them directly: %(contact)s", contact=texts_contact),
                ]
            )
    text = "\n\n".join(
        [
            text,
            t._(
                "You can add a short message for them, for example when you would have time.",
            ),
        ]
    )
    return [Reply(text, buttons=request_buttons(ctx.t, request))]


def _notify(ctx: Context, users: list[User], kind: str, key: str, **payload: object) -> int:
    """Queue one notice of `kind` for each of `users`; return how many were queued.

    The key carries the time too: SQLite may give a new request the id of one that retention
    deleted, while the outbox still remembers the old request's keys.
    """
    key = f"{key}:{int(ctx.now.timestamp())}"
    messages = [
        NewMessage(user=user, kind=kind, dedupe_key=f"{key}:{user.id}", payload=dict(payload))
        for user in users
        if user.id != ctx.user.id
    ]
    return len(enqueue_many(ctx.session, messages, now=ctx.now))


# -- the organisation's side ---------------------------------------------------------------------


@router.on_action("hr_list")
def open_requests(ctx: Context) -> list[Reply]:
    """List the open requests to help of the organisations the user acts for."""
    mine = [o.id for o in organisations(ctx)]
    if not mine:
        return not_allowed(ctx)
    t = ctx.t
    requests = ctx.session.exec(
        select(HelpRequest)
        .where(
            col(HelpRequest.organisation_id).in_(mine),
            HelpRequest.status == HelpRequestStatus.OPEN,
        )
        .order_by(col(HelpRequest.created_at))
        .limit(20)
    ).all()
    rows: list[tuple[Button, ...]] = []
    for request in requests:
        offer = ctx.session.get(Offer, request.offer_id)
        label = t.pgettext(
            "button",
            "🙋 %(name)s · %(offer)s",
            name=resident_name(t, request),
            offer=offer.title if offer else "",
        )
        if request.answered_at is None:
            label = f"🆕 {label}"
        rows.append((Button(label, action("hr_show", request.id or 0)),))
    rows.append((Button(t.pgettext("button", "🧰 Coordinator tools"), action("coord")),))
    text = (
        t._("Open requests to help, oldest first:")
        if requests
        else t._("There are no open requests to help.")
    )
    return [Reply(text, buttons=tuple(rows))]


@router.on_action("hr_show", int)
def show_request(ctx: Context, request_id: int) -> list[Reply]:
    """Show a request: the offer, the person, how to reach them, and the last messages."""
    request = ctx.session.get(HelpRequest, request_id)
    side = None if request is None else _side_of(ctx, request)
    if request is None or side is None:
        return _not_open(ctx)
    t = ctx.t
    offer = ctx.session.get(Offer, request.offer_id)
    resident = ctx.session.get(User, request.user_id)
    lines = []
    if side == ORGANISATION:
        lines.append(
            t._(
                "%(name)s would like to help with %(offer)s.",
                name=resident_name(t, request),
                offer=offer.title if offer else "",
            )
        )
        if resident is not None:
            lines.append(
                t._("Their language: %(language)s.", language=language_of(t, resident.locale))
            )
            lines.append(contact_line(t, request, resident))
    else:
        lines.append(
            t._(
                "Your request to help with %(offer)s (%(organisation)s).",
                offer=offer_texts(ctx, offer).title if offer else "",
                organisation=_organisation_name(ctx, request.organisation_id),
            )
        )
    if request.status != HelpRequestStatus.OPEN:
        lines.append(t._("This request is closed."))
    for message in messages_of(ctx.session, request_id=request_id):
        author = (
            resident_name(t, request)
            if message.side == RESIDENT
            else _organisation_name(ctx, request.organisation_id)
        )
        lines.append(
            t._(
                "%(name)s (in %(language)s), %(when)s: %(text)s",
                name=author,
                language=language_of(t, message.locale),
                when=t.short_datetime(message.created_at),
                text=t.isolate(message.text),
            )
        )
    buttons = (
        request_buttons(ctx.t, request)
        if request.status == HelpRequestStatus.OPEN
        else ((menu_button(t),),)
    )
    return [Reply("\n\n".join(lines), buttons=buttons)]


def _not_open(ctx: Context) -> list[Reply]:
    """Answer a press about a request that is closed, gone, or not the user's."""
    if (
        not is_coordinator(ctx)
        and ctx.session.exec(
            select(HelpRequest.id).where(HelpRequest.user_id == ctx.user.id)
        ).first()
        is None
    ):
        return not_allowed(ctx)  # a resident who never asked: these are coordinators' buttons
    return [main_menu(ctx, ctx.t._("This request to help is no longer open."))]


# -- writing back and forth ----------------------------------------------------------------------


@router.on_action("hr_write", int)
def start_writing(ctx: Context, request_id: int) -> list[Reply]:
    """Ask for a message to the other side of the request."""
    request = ctx.session.get(HelpRequest, request_id)
    side = None if request is None else _side_of(ctx, request)
    if request is None or side is None or request.status != HelpRequestStatus.OPEN:
        return _not_open(ctx)
    t = ctx.t
    ctx.start_flow(WRITE_FLOW, "text", request_id=request_id)
    if side == RESIDENT:
        text = t._(
            "Write your message to %(organisation)s, at most %(limit)s characters. I pass it "
            "on as you write it, and tell them it is in %(language)s.",
            organisation=_organisation_name(ctx, request.organisation_id),
            limit=t.number(MAX_MESSAGE),
            language=language_of(t, t.locale),
        )
    else:
        text = t._(
            "Write your message to %(name)s, at most %(limit)s characters. I pass it on as you "
            "write it, and tell them it is in %(language)s.",
            name=resident_name(t, request),
            limit=t.number(MAX_MESSAGE),
            language=language_of(t, t.locale),
        )
    return [Reply(text, buttons=((Button(t.pgettext("button", "✖ Stop"), action("menu")),),))]


# Answer buttons in notices queued before the conversation went both ways.
router.on_action("hr_reply", int)(start_writing)


def _wants_text(state: ConversationState) -> bool:
    return state.step == "text"


@router.on_text(WRITE_FLOW, free_text=_wants_text)
def message_typed(ctx: Context, text: str) -> list[Reply]:
    """Store the message and queue it for the other side, in the writer's own words."""
    request_id = ctx.flow_data.get("request_id")
    request = ctx.session.get(HelpRequest, request_id) if isinstance(request_id, int) else None
    side = None if request is None else _side_of(ctx, request)
    if request is None or side is None or request.status != HelpRequestStatus.OPEN:
        ctx.end_flow()
        return _not_open(ctx)
    t = ctx.t
    if len(text) > MAX_MESSAGE:
        return [
            Reply(
                t.ngettext(
                    "Your message has %(count)s character; at most %(limit)s fit. Please "
                    "shorten it and send it again.",
                    "Your message has %(count)s characters; at most %(limit)s fit. Please "
                    "shorten it and send it again.",
                    len(text),
                    limit=t.number(MAX_MESSAGE),
                )
            )
        ]
    message = add_message(
        ctx.session,
        request=request,
        author=ctx.user,
        side=side,
        locale=t.locale,
        text=text,
        now=ctx.now,
    )
    ctx.end_flow()
    organisation = _organisation_name(ctx, request.organisation_id)
    if side == ORGANISATION:
        resident = ctx.session.get(User, request.user_id)
        _notify(
            ctx,
            [resident] if resident else [],
            "help_message",
            f"help_message:{message.id}",
            message_id=message.id,
        )
        audit(
            ctx.session,
            actor=ctx.user,
            action="help_request_answered",
            detail={"request_id": request.id},
            now=ctx.now,
        )
        done = t._("Your message to %(name)s is on its way.", name=resident_name(t, request))
    else:
        others = organisation_side(
            ctx.session, organisation_id=request.organisation_id, admins=ctx.settings.admins
        )
        _notify(
            ctx, others.users, "help_message", f"help_message:{message.id}", message_id=message.id
        )
        if others.who == Answerer.NOBODY:
            done = t._(
                "Your message is saved, but nobody at %(organisation)s can be reached through "
                "this bot yet. Whoever joins for them will read it.",
                organisation=organisation,
            )
        else:
            done = t._("Your message to %(organisation)s is on its way.", organisation=organisation)
    return [Reply(done, buttons=request_buttons(ctx.t, request))]


# -- closing -------------------------------------------------------------------------------------


@router.on_action("hr_close", int)
def close(ctx: Context, request_id: int) -> list[Reply]:
    """Close a request, from either side, and tell the other side."""
    request = ctx.session.get(HelpRequest, request_id)
    side = None if request is None else _side_of(ctx, request)
    if (
        request is None
        or side is None
        or not close_request(ctx.session, request=request, by=side, now=ctx.now)
    ):
        return _not_open(ctx)
    t = ctx.t
    if side == ORGANISATION:
        resident = ctx.session.get(User, request.user_id)
        _notify(
            ctx,
            [resident] if resident else [],
            "help_closed",
            f"help_closed:{request.id}",
            request_id=request.id,
        )
        text = t._(
            "The request of %(name)s is closed. I have told them.", name=resident_name(t, request)
        )
    else:
        others = organisation_side(
            ctx.session, organisation_id=request.organisation_id, admins=ctx.settings.admins
        )
        _notify(
            ctx, others.users, "help_closed", f"help_closed:{request.id}", request_id=request.id
        )
        text = t._(
            "Your request is closed. I have told %(organisation)s. You can ask again at any "
            "time from the offer.",
            organisation=_organisation_name(ctx, request.organisation_id),
        )
    return [main_menu(ctx, text)]
