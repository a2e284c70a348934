"""Choosing the language the bot speaks to a user."""

from __future__ import annotations

from bot.config import SUPPORTED_LOCALES
from bot.i18n import language_name
from bot.messages import Reply
from handlers.context import Context
from handlers.router import router
from handlers.start import onboarding_language
from handlers.ui import language_picker, main_menu


@router.on_action("lang", commands=("language",), before_consent=True)
def choose_language(ctx: Context) -> list[Reply]:
    """Show the language picker."""
    return [language_picker(ctx)]


@router.on_action("lang_set", str, before_consent=True)
def set_language(ctx: Context, code: str) -> list[Reply]:
    """Switch the user's language; before they agree, show the notice in it first."""
    if code not in SUPPORTED_LOCALES:
        return router.call(ctx, "stale")
    if ctx.user.consent_at is None:
        return onboarding_language(ctx, code)
    ctx.switch_locale(code)
    confirmation = ctx.t._("I will write to you in %(language)s.", language=language_name(code))
    return [main_menu(ctx, confirmation)]
