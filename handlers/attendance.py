"""Saying "I'm going", the waiting list, and "can't come"."""

from __future__ import annotations

from dataclasses import replace

from bot.messages import Button, Reply
from db.attendance import attendance_of, join_event, leave_event
from db.models import AttendanceStatus, Event
from handlers.actions import action
from handlers.content import event_texts
from handlers.context import Context
from handlers.router import router
from handlers.ui import main_menu


def _lead_text(ctx: Context) -> str:
    return ctx.t.join([ctx.t.duration(lead) for lead in ctx.settings.leads])


@router.on_action("go", int)
def going(ctx: Context, event_id: int) -> list[Reply]:
    """Sign the user up for an event, or put them on its waiting list when it is full."""
    from handlers.events import event_detail

    event = ctx.session.get(Event, event_id)
    if event is None:
        return [main_menu(ctx, ctx.t._("This event is no longer available."))]
    result = join_event(ctx.session, user=ctx.user, event=event, now=ctx.now)
    title = event_texts(ctx, event).title
    t = ctx.t
    if result.status == "closed":
        text = t._("You can no longer sign up for %(title)s.", title=title)
    elif result.status == "waiting":
        text = t._(
            "%(title)s is full. You are number %(position)s on the waiting list; I will tell you "
            "when a place becomes free.",
            title=title,
            position=t.number(result.position or 1),
        )
    elif ctx.settings.leads:
        leads = ctx.settings.leads
        if len(leads) == 1:
            text = t._(
                "Great, you are going to %(title)s! I will remind you %(leads)s before it starts.",
                title=title,
                leads=_lead_text(ctx),
            )
        else:
            # With the count, "1 day and 2 hours" cannot read as one reminder 26 hours ahead.
            text = t.ngettext(
                "Great, you are going to %(title)s! I will remind you %(count)s time: "
                "%(leads)s before it starts.",
                "Great, you are going to %(title)s! I will remind you %(count)s times: "
                "%(leads)s before it starts.",
                len(leads),
                title=title,
                leads=_lead_text(ctx),
            )
    else:
        text = t._("Great, you are going to %(title)s!", title=title)
    [card] = event_detail(ctx, event_id)
    if ctx.incoming.can_edit:
        # One edit and no second message: the pressed card changes in place, with the
        # confirmation as its last paragraph. Its map pin went out with it and stays.
        return [replace(card, text=f"{card.text}\n\n{text}", place=None, replace=True)]
    # One short line, and the card's buttons as they are now ("Can't come" instead of "I'm
    # going", and the calendar file): the card and its map pin are not sent again.
    return [Reply(text, buttons=card.buttons)]


@router.on_action("nogo", int)
def confirm_not_going(ctx: Context, event_id: int) -> list[Reply]:
    """Ask once before giving up a place or leaving the waiting list."""
    event = ctx.session.get(Event, event_id)
    if event is None:
        return [main_menu(ctx, ctx.t._("This event is no longer available."))]
    t = ctx.t
    title = event_texts(ctx, event).title
    mine = attendance_of(ctx.session, user_id=ctx.user.id or 0, event_id=event_id)
    if mine is None:
        return [main_menu(ctx, t._("You were not signed up for %(title)s.", title=title))]
    if mine.status == AttendanceStatus.GOING:
        text = t._("Give up your place at %(title)s?", title=title)
        yes = t.pgettext("button", "❌ Yes, I can't come")
    else:
        text = t._("Leave the waiting list for %(title)s?", title=title)
        yes = t.pgettext("button", "❌ Yes, leave the waiting list")
    # Keeping the place is 1: typing the "1" of the screen before again changes nothing.
    return [
        Reply(
            text,
            buttons=(
                (Button(t.pgettext("button", "✅ No, I'm still coming"), action("e", event_id)),),
                (Button(yes, action("nogo_yes", event_id)),),
            ),
        )
    ]


@router.on_action("nogo_yes", int)
def not_going(ctx: Context, event_id: int) -> list[Reply]:
    """Take the user off an event; their place goes to the next person waiting."""
    event = ctx.session.get(Event, event_id)
    if event is None:
        return [main_menu(ctx, ctx.t._("This event is no longer available."))]
    title = event_texts(ctx, event).title
    if leave_event(ctx.session, user=ctx.user, event=event, now=ctx.now):
        text = ctx.t._(
            "Thank you for letting us know. You are no longer signed up for %(title)s.", title=title
        )
    else:
        text = ctx.t._("You were not signed up for %(title)s.", title=title)
    return [main_menu(ctx, text)]


@router.on_action("stillgo", int)
def still_going(ctx: Context, event_id: int) -> list[Reply]:
    """Acknowledge that the user still plans to come."""
    event = ctx.session.get(Event, event_id)
    if event is None:
        return [main_menu(ctx, ctx.t._("This event is no longer available."))]
    return [
        main_menu(
            ctx, ctx.t._("Wonderful, see you at %(title)s!", title=event_texts(ctx, event).title)
        )
    ]
