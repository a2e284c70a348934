"""Admins invite coordinators; whoever redeems an invitation becomes one."""

from __future__ import annotations

from sqlmodel import col, select

from bot.messages import Button, Reply
from db.models import Organisation
from db.roles import audit, create_invitation, redeem_invitation
from handlers.actions import action
from handlers.context import Context
from handlers.coordinator import not_allowed
from handlers.roles import admin
from handlers.router import router
from handlers.start import keep_invitation
from handlers.ui import main_menu, menu_button


def invitation_text(ctx: Context, code: str, organisation: Organisation) -> str:
    """Say how to redeem an invitation on each messenger."""
    t = ctx.t
    lines = [
        t._(
            "Invitation for %(organisation)s, valid for 7 days, for one person:",
            organisation=organisation.name,
        )
    ]
    username = getattr(ctx.settings, "telegram_bot_username", None)
    if username:
        lines.append(t._("Telegram: %(link)s", link=f"https://t.me/{username}?start=c_{code}"))
    lines.append(t._("Or send the bot: %(command)s", command=f"/join {code}"))
    return "\n".join(lines)


@router.on_action("inv_new")
def choose_organisation(ctx: Context) -> list[Reply]:
    """Ask which organisation the new coordinator will act for."""
    if not admin(ctx):
        return not_allowed(ctx)
    organisations = ctx.session.exec(select(Organisation).order_by(col(Organisation.name))).all()
    rows = tuple((Button(o.name, action("inv_org", o.id or 0)),) for o in organisations)
    return [Reply(ctx.t._("For which organisation?"), buttons=(*rows, (menu_button(ctx.t),)))]


@router.on_action("inv_org", int)
def invite(ctx: Context, organisation_id: int) -> list[Reply]:
    """Create a one-time invitation and show how to pass it on."""
    organisation = ctx.session.get(Organisation, organisation_id)
    if not admin(ctx):
        return not_allowed(ctx)
    if organisation is None:
        return router.call(ctx, "stale")
    invitation = create_invitation(
        ctx.session, organisation=organisation, created_by=ctx.user, now=ctx.now
    )
    audit(
        ctx.session,
        actor=ctx.user,
        action="invitation_created",
        detail={"organisation_id": organisation_id},
        now=ctx.now,
    )
    return [
        Reply(invitation_text(ctx, invitation.code, organisation), buttons=((menu_button(ctx.t),),))
    ]


@router.on_action("join_command", str, internal=True, before_consent=True)
def join(ctx: Context, code: str) -> list[Reply]:
    """Redeem a coordinator invitation; one sent before agreeing waits for the agreement."""
    t = ctx.t
    if ctx.user.consent_at is None:
        if code:
            return keep_invitation(ctx, code)
        return router.call(ctx, "consent_needed")
    if not code:
        return [main_menu(ctx, t._("Please send the code with the command, like /join ABCD2345."))]
    result = redeem_invitation(ctx.session, code=code[:32], user=ctx.user, now=ctx.now)
    if result.outcome == "ok" and result.organisation is not None:
        text = t._(
            "You are now a coordinator of %(organisation)s. You can publish offers and events, "
            "send announcements and answer requests to help: choose “Coordinator tools” in the "
            "menu, or send /coordinator.",
            organisation=result.organisation.name,
        )
        return [main_menu(ctx, text)]
    texts = {
        "used": t._("This invitation has already been used. Please ask for a new one."),
        "expired": t._("This invitation has expired. Please ask for a new one."),
    }
    return [main_menu(ctx, texts.get(result.outcome, t._("I do not know this invitation code.")))]
