"""Coordinators: the toolbox and the numbers. Publishing is in handlers/publish.py, managing
one's offers and events in handlers/manage.py. Every action re-checks the role and the
organisation."""

from __future__ import annotations

from sqlalchemy import func
from sqlmodel import col, select

from bot.messages import Button, Reply
from db.attendance import going_count
from db.help_requests import request_counts
from db.models import Category, Subscription, SubscriptionKind
from db.queries import upcoming_events_of
from handlers.actions import action
from handlers.context import Context
from handlers.roles import admin, is_coordinator, organisations
from handlers.router import router
from handlers.ui import main_menu, menu_button, name_in


def not_allowed(ctx: Context) -> list[Reply]:
    """Say that this is for coordinators only, with the main menu."""
    return [
        main_menu(
            ctx,
            ctx.t._(
                "This is only for coordinators. If you coordinate "
                "volunteers, ask the network's admins for an invitation."
            ),
        )
    ]


@router.on_action("coord", commands=("coordinator",))
def toolbox(ctx: Context) -> list[Reply]:
    """Show what a coordinator can do."""
    if not is_coordinator(ctx):
        return not_allowed(ctx)
    ctx.end_flow()
    t = ctx.t
    names = t.join([o.name for o in organisations(ctx)])
    rows: list[tuple[Button, ...]] = [
        (
            Button(t.pgettext("button", "➕ New offer"), action("pub_new", "offer")),
            Button(t.pgettext("button", "➕ New event"), action("pub_new", "event")),
        ),
        (Button(t.pgettext("button", "📋 My offers and events"), action("mine", 0)),),
        (Button(t.pgettext("button", "📣 Announcement"), action("bc_new")),),
        (Button(t.pgettext("button", "🙋 Requests to help"), action("hr_list")),),
        (Button(t.pgettext("button", "📊 Numbers"), action("numbers")),),
    ]
    if admin(ctx):
        rows.append((Button(t.pgettext("button", "🔑 Invite a coordinator"), action("inv_new")),))
    rows.append((menu_button(t),))
    text = t._("Coordinator tools for: %(organisations)s", organisations=names)
    return [Reply(text, buttons=tuple(rows))]


# -- numbers ------------------------------------------------------------------------------------


@router.on_action("numbers")
def numbers(ctx: Context) -> list[Reply]:
    """Show aggregate counts only: followers per topic, people going, requests to help, never
    lists of people."""
    mine = organisations(ctx)
    if not mine:
        return not_allowed(ctx)
    t = ctx.t
    lines = []
    for organisation in mine:
        followers = _followers(ctx, SubscriptionKind.ORGANISATION, organisation.id or 0)
        lines.append(
            t.ngettext(
                "%(name)s: %(count)s follower.",
                "%(name)s: %(count)s followers.",
                followers,
                name=organisation.name,
            )
        )
        open_count, closed = request_counts(ctx.session, organisation_id=organisation.id or 0)
        if open_count or closed:
            lines.append(
                t.ngettext(
                    "%(name)s: %(count)s open request to help.",
                    "%(name)s: %(count)s open requests to help.",
                    open_count,
                    name=organisation.name,
                )
            )
            lines.append(
                t.ngettext(
                    "%(name)s: %(count)s request to help closed in the last %(days)s days.",
                    "%(name)s: %(count)s requests to help closed in the last %(days)s days.",
                    closed,
                    name=organisation.name,
                    days=t.number(ctx.settings.retention_help_days),
                )
            )
    for category in ctx.session.exec(select(Category).order_by(col(Category.position))).all():
        followers = _followers(ctx, SubscriptionKind.CATEGORY, category.id or 0)
        if followers:
            lines.append(
                t.ngettext(
                    "%(name)s: %(count)s follower.",
                    "%(name)s: %(count)s followers.",
                    followers,
                    name=name_in(category.names, t.locale, category.slug),
                )
            )
    events = upcoming_events_of(
        ctx.session, organisation_ids=[o.id for o in mine], now=ctx.now, limit=10
    )
    for event in events:
        lines.append(
            t.ngettext(
                "%(name)s: %(count)s person going.",
                "%(name)s: %(count)s people going.",
                going_count(ctx.session, event_id=event.id or 0),
                name=event.title,
            )
        )
    return [
        Reply(
            "\n".join(lines) or t._("No numbers yet."),
            buttons=((Button(t.pgettext("button", "🧰 Coordinator tools"), action("coord")),),),
        )
    ]


def _followers(ctx: Context, kind: str, target_id: int) -> int:
    return int(
        ctx.session.exec(
            select(func.count(col(Subscription.id))).where(
                Subscription.kind == kind, Subscription.target_id == target_id
            )
        ).one()
    )
