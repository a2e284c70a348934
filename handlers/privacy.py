"""The user's data rights in the chat: a copy of everything stored (/mydata) and erasure
(/delete, with one confirmation)."""

from __future__ import annotations

import json

from bot.messages import Attachment, Button, Reply
from db.privacy import erase_user, export_user
from handlers.actions import action
from handlers.context import Context
from handlers.router import router
from handlers.search import forget_search
from handlers.ui import menu_button


@router.on_action("mydata", commands=("mydata",))
def my_data(ctx: Context) -> list[Reply]:
    """Send everything stored about the user as a JSON file."""
    forget_search(ctx)  # a search being paged ends here, so the copy does not show it
    data = export_user(ctx.session, user=ctx.user)
    content = json.dumps(data, ensure_ascii=False, indent=2).encode()
    text = ctx.t._("Here is everything I have stored about you.")
    return [
        Reply(
            text,
            attachments=(Attachment("my-data.json", content, "application/json"),),
            buttons=((menu_button(ctx.t),),),
        )
    ]


@router.on_action("delete", commands=("delete",))
def confirm_delete(ctx: Context) -> list[Reply]:
    """Ask once before erasing everything about the user."""
    t = ctx.t
    text = t._(
        "Delete everything I have stored about you: your settings, what you follow, the "
        "events you signed up for and your messages waiting to be sent? This cannot be "
        "undone."
    )
    return [
        Reply(
            text,
            buttons=(
                (Button(t.pgettext("button", "🗑 Yes, delete everything"), action("delete_yes")),),
                (Button(t.pgettext("button", "◀ No, keep it"), action("menu")),),
            ),
        )
    ]


@router.on_action("delete_yes")
def delete_everything(ctx: Context) -> list[Reply]:
    """Erase the user; the goodbye is in their language, and nothing of them stays."""
    goodbye = ctx.t._(
        "Everything about you has been deleted. If you write to me again, I will "
        "start from the beginning."
    )
    ctx.session.delete(ctx.state)  # through the session, so nothing writes it back afterwards
    erase_user(ctx.session, user=ctx.user)
    ctx.user_deleted = True
    return [Reply(goodbye)]


def my_data_button(ctx: Context) -> Button:
    return Button(ctx.t.pgettext("button", "📦 My data"), action("mydata"))


def privacy_buttons(ctx: Context) -> tuple[tuple[Button, ...], ...]:
    t = ctx.t
    return (
        (my_data_button(ctx), Button(t.pgettext("button", "🗑 Delete my data"), action("delete"))),
        (menu_button(t),),
    )
