""" "I'd like to help": a resident asks to be contacted, agrees to share their name and contact,
the organisation's coordinators are told, and can answer through the bot."""

from __future__ import annotations

from sqlmodel import col, select

from bot.messages import Button, Reply
from db.models import (
    ConversationState,
    HelpRequest,
    ItemStatus,
    Offer,
    Organisation,
    Role,
    RoleName,
    User,
)
from db.outbox import enqueue
from db.roles import audit
from handlers.actions import action
from handlers.content import offer_texts
from handlers.context import Context
from handlers.coordinator import not_allowed
from handlers.roles import acts_for, organisations
from handlers.router import router
from handlers.ui import main_menu, menu_button, too_long

REPLY_FLOW = "hr_reply"
MAX_REPLY = 2000


def _offer(ctx: Context, offer_id: int) -> Offer | None:
    offer = ctx.session.get(Offer, offer_id)
    return offer if offer is not None and offer.status == ItemStatus.PUBLISHED else None


@router.on_action("hr_ask", int)
def ask_consent(ctx: Context, offer_id: int) -> list[Reply]:
    """Explain what will be shared, and with whom, before anything is."""
    offer = _offer(ctx, offer_id)
    if offer is None:
        return [main_menu(ctx, ctx.t._("This offer is no longer available."))]
    organisation = ctx.session.get(Organisation, offer.organisation_id)
    t = ctx.t
    text = t._(
        "So that %(organisation)s can contact you, I will pass on your name and your messenger "
        "contact. Nothing else. Do you agree?",
        organisation=organisation.name if organisation else "",
    )
    return [
        Reply(
            text,
            buttons=(
                (Button(t.pgettext("button", "✅ Yes, pass them on"), action("hr_yes", offer_id)),),
                (Button(t.pgettext("button", "✖ No"), action("o", offer_id)),),
            ),
        )
    ]


@router.on_action("hr_yes", int)
def consent_given(ctx: Context, offer_id: int) -> list[Reply]:
    """Record the request with the consented details and tell the organisation."""
    offer = _offer(ctx, offer_id)
    if offer is None:
        return [main_menu(ctx, ctx.t._("This offer is no longer available."))]
    incoming = ctx.incoming
    request = HelpRequest(
        user_id=ctx.user.id or 0,
        offer_id=offer_id,
        organisation_id=offer.organisation_id,
        shared_name=(incoming.display_name or "")[:200],
        shared_contact=(incoming.handle or "")[:200],
        consent_at=ctx.now,
        created_at=ctx.now,
    )
    ctx.session.add(request)
    ctx.session.flush()
    coordinators = ctx.session.exec(
        select(User)
        .join(Role, col(Role.user_id) == col(User.id))
        .where(Role.role == RoleName.COORDINATOR, Role.organisation_id == offer.organisation_id)
    ).all()
    for coordinator in coordinators:
        enqueue(
            ctx.session,
            user=coordinator,
            kind="help_request",
            dedupe_key=f"help_request:{request.id}:{coordinator.id}",
            payload={"request_id": request.id},
            now=ctx.now,
        )
    organisation = ctx.session.get(Organisation, offer.organisation_id)
    return [
        main_menu(
            ctx,
            ctx.t._(
                "Thank you! %(organisation)s will contact you about %(offer)s.",
                organisation=organisation.name if organisation else "",
                offer=offer_texts(ctx, offer).title,
            ),
        )
    ]


@router.on_action("hr_list")
def open_requests(ctx: Context) -> list[Reply]:
    """List the requests to help that no coordinator has answered yet."""
    mine = [o.id for o in organisations(ctx)]
    if not mine:
        return not_allowed(ctx)
    t = ctx.t
    requests = ctx.session.exec(
        select(HelpRequest)
        .where(col(HelpRequest.organisation_id).in_(mine), col(HelpRequest.answered_at).is_(None))
        .order_by(col(HelpRequest.created_at))
        .limit(10)
    ).all()
    rows: list[tuple[Button, ...]] = []
    for request in requests:
        offer = ctx.session.get(Offer, request.offer_id)
        label = t.pgettext(
            "button",
            "✉️ %(name)s · %(offer)s",
            name=request.shared_name or "?",
            offer=offer.title if offer else "",
        )
        rows.append((Button(label, action("hr_reply", request.id or 0)),))
    rows.append((menu_button(t),))
    text = t.ngettext(
        "%(count)s request to help is waiting for an answer.",
        "%(count)s requests to help are waiting for an answer.",
        len(requests),
    )
    return [Reply(text, buttons=tuple(rows))]


@router.on_action("hr_reply", int)
def start_reply(ctx: Context, request_id: int) -> list[Reply]:
    """Ask the coordinator for the answer to a resident."""
    request = ctx.session.get(HelpRequest, request_id)
    if request is None or not acts_for(ctx, request.organisation_id):
        return not_allowed(ctx)
    ctx.start_flow(REPLY_FLOW, "text", request_id=request_id)
    return [
        Reply(
            ctx.t._("Write your answer. The resident will receive it from the bot."),
            buttons=((Button(ctx.t.pgettext("button", "✖ Stop"), action("menu")),),),
        )
    ]


def _wants_text(state: ConversationState) -> bool:
    return state.step == "text"


@router.on_text(REPLY_FLOW, free_text=_wants_text)
def reply_text(ctx: Context, text: str) -> list[Reply]:
    """Send the coordinator's answer to the resident through the outbox."""
    request_id = ctx.flow_data.get("request_id")
    request = ctx.session.get(HelpRequest, request_id) if isinstance(request_id, int) else None
    if request is None or not acts_for(ctx, request.organisation_id):
        ctx.end_flow()
        return not_allowed(ctx)
    if len(text) > MAX_REPLY:
        return [Reply(too_long(ctx.t, MAX_REPLY))]
    resident = ctx.session.get(User, request.user_id)
    if resident is not None:
        enqueue(
            ctx.session,
            user=resident,
            kind="help_reply",
            dedupe_key=f"help_reply:{request.id}:{int(ctx.now.timestamp())}",
            payload={"request_id": request.id, "text": text},
            now=ctx.now,
        )
    request.answered_at = ctx.now
    audit(
        ctx.session,
        actor=ctx.user,
        action="help_request_answered",
        detail={"request_id": request.id},
        now=ctx.now,
    )
    ctx.end_flow()
    return [main_menu(ctx, ctx.t._("Your answer is on its way."))]
