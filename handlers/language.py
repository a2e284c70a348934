"""Choosing the language the bot speaks to a user."""

from __future__ import annotations

from bot.config import SUPPORTED_LOCALES
from bot.i18n import language_name
from bot.messages import Reply
from handlers.context import Context
from handlers.router import router
from handlers.start import continue_after_language
from handlers.ui import language_picker, main_menu


@router.on_action("lang", commands=("language",))
def choose_language(ctx: Context) -> list[Reply]:
    """Show the language picker."""
    return [language_picker(ctx)]


@router.on_action("lang_set", str)
def set_language(ctx: Context, code: str) -> list[Reply]:
    """Switch the user's language and carry on where they were."""
    if code not in SUPPORTED_LOCALES:
        return router.call(ctx, "stale")
    ctx.switch_locale(code)
    confirmation = ctx.t._("I will write to you in %(language)s.", language=language_name(code))
    follow_up = continue_after_language(ctx)
    if follow_up:
        return [Reply(confirmation), *follow_up]
    return [main_menu(ctx, confirmation)]
