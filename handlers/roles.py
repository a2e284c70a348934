"""Who may do what: the checks every coordinator and admin action makes on arrival."""

from __future__ import annotations

from db.models import Organisation
from db.roles import coordinated_organisations, has_any_role, is_admin, may_act_for
from handlers.context import Context


def admin(ctx: Context) -> bool:
    return is_admin(ctx.session, user=ctx.user, admins=ctx.settings.admins)


def organisations(ctx: Context) -> list[Organisation]:
    """Return the organisations this user coordinates (all of them for an admin)."""
    return coordinated_organisations(ctx.session, user=ctx.user, admins=ctx.settings.admins)


def acts_for(ctx: Context, organisation_id: int) -> bool:
    return may_act_for(
        ctx.session, user=ctx.user, organisation_id=organisation_id, admins=ctx.settings.admins
    )


def is_coordinator(ctx: Context) -> bool:
    """Tell whether the user may use the coordinator tools (asked on every main menu)."""
    if (ctx.user.transport, ctx.user.external_id) in ctx.settings.admins:
        return True
    # Any role (admin, or coordinator of some organisation) opens the tools: one query.
    return has_any_role(ctx.session, user_id=ctx.user.id)
