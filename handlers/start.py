"""First contact: welcome, a short privacy note, the language; and deep links into an item."""

from __future__ import annotations

import re

from bot.messages import Reply
from handlers.actions import action
from handlers.context import Context
from handlers.router import router
from handlers.ui import language_picker, main_menu

# Deep-link payloads: o_12 opens offer 12, e_7 opens event 7 (Telegram allows A-Za-z0-9_-).
_PAYLOAD = re.compile(r"^([oe])_([1-9][0-9]{0,8})$")
_PAYLOAD_ACTIONS = {"o": "o", "e": "e"}


def payload_action(payload: str) -> str | None:
    """Turn a deep-link payload into the action it opens, or None if it is not one of ours."""
    match = _PAYLOAD.match(payload.strip())
    if not match:
        return None
    return action(_PAYLOAD_ACTIONS[match.group(1)], int(match.group(2)))


def welcome_text(ctx: Context) -> str:
    t = ctx.t
    return "\n\n".join(
        [
            t._(
                "Welcome! I help you find volunteer offers and events in your city, "
                "in your language."
            ),
            t._(
                "Privacy: I store your messenger ID, your language and what you choose to "
                "follow, only to answer you. %(operator)s runs this service; send /privacy to "
                "read more or write to %(contact)s.",
                operator=ctx.settings.operator_name,
                contact=ctx.settings.privacy_contact,
            ),
        ]
    )


@router.on_action("start_command", str, internal=True)
def start(ctx: Context, payload: str) -> list[Reply]:
    """Greet the user; a new user first picks a language, a deep link opens its item."""
    ctx.end_flow()
    ctx.user.paused = False  # /start is also how a paused user says "write to me again"
    target = payload_action(payload) if payload else None
    if ctx.user.locale is None:
        ctx.start_flow("onboarding", "language", pending=target)
        return [language_picker(ctx, welcome_text(ctx) + "\n\n" + ctx.t._("Choose your language:"))]
    if target:
        return router.call(ctx, *_split(target))
    return [main_menu(ctx, ctx.t._("Welcome back! What would you like to do?"))]


def continue_after_language(ctx: Context) -> list[Reply] | None:
    """After onboarding's language choice, open the deep-linked item if there was one."""
    if ctx.state.flow != "onboarding":
        return None
    pending = ctx.state.data.get("flow", {}).get("pending")
    ctx.end_flow()
    if isinstance(pending, str) and (name_args := _split(pending)):
        return router.call(ctx, *name_args)
    return None


def _split(action_id: str) -> tuple[str, int]:
    name, _, number = action_id.partition(":")
    return name, int(number)


@router.on_text("onboarding")
def onboarding_text(ctx: Context, _text: str) -> list[Reply]:
    """Ask again for the language when a new user types instead of choosing one."""
    return [language_picker(ctx, ctx.t._("Please choose your language first:"))]
