"""Settings, pausing and resuming messages, and the privacy notice."""

from __future__ import annotations

from bot.i18n import language_name
from bot.messages import Button, Reply
from handlers.actions import action
from handlers.context import Context
from handlers.privacy import privacy_buttons
from handlers.router import router
from handlers.start import consent_screen, notice_paragraphs
from handlers.ui import main_menu, menu_button


@router.on_action("settings", commands=("settings",))
def show_settings(ctx: Context) -> list[Reply]:
    """Show the user's language and whether the bot may write to them on its own."""
    t = ctx.t
    lines = [t._("Language: %(language)s", language=language_name(t.locale))]
    if ctx.user.paused:
        lines.append(t._("Messages from the bot: paused"))
        toggle = Button(t.pgettext("button", "🔔 Resume messages"), action("resume"))
    else:
        lines.append(t._("Messages from the bot: on"))
        toggle = Button(t.pgettext("button", "🔕 Pause messages"), action("pause"))
    return [
        Reply(
            "\n".join(lines),
            buttons=(
                (Button(t.pgettext("button", "🌐 Language"), action("lang")),),
                (toggle,),
                (menu_button(t),),
            ),
        )
    ]


@router.on_action("pause", commands=("stop",))
def pause_messages(ctx: Context) -> list[Reply]:
    """Stop every message the bot would send on its own, and say how to undo it."""
    ctx.user.paused = True
    text = ctx.t._(
        "I will not send you any messages on my own until you resume. "
        "To resume, send /start or open /settings."
    )
    return [main_menu(ctx, text)]


@router.on_action("resume")
def resume_messages(ctx: Context) -> list[Reply]:
    """Allow the bot to send messages on its own again."""
    ctx.user.paused = False
    return [main_menu(ctx, ctx.t._("Messages from the bot are on again."))]


@router.on_action("privacy", commands=("privacy",), before_consent=True)
def privacy_notice(ctx: Context) -> list[Reply]:
    """Say who runs the bot, what it stores, why, for how long, and the user's rights."""
    if ctx.user.consent_at is None:
        return [consent_screen(ctx)]
    return [Reply("\n\n".join(notice_paragraphs(ctx)), buttons=privacy_buttons(ctx))]
