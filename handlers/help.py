"""Help: what the bot does and how to use it."""

from __future__ import annotations

from bot.messages import Reply
from handlers.context import Context
from handlers.router import router
from handlers.ui import main_menu


@router.on_action("help", commands=("help",))
def show_help(ctx: Context) -> list[Reply]:
    """Explain the bot in a few short sentences."""
    t = ctx.t
    lines = [
        t._("I help you find volunteer work and events in your city."),
        t._("Tap a button, or type the number in front of an option."),
        t._("/offers shows volunteer offers by topic or district."),
        t._("/events shows upcoming events."),
        t._("/search finds offers and events; you can also just type what you are looking for."),
        t._("/subscriptions shows what you follow and the events you go to."),
        t._("/language changes the language."),
        t._("/settings shows your language and whether I may write to you on my own."),
        t._("/stop pauses the messages I send on my own; /start turns them back on."),
        t._("/privacy tells you what I store; /mydata sends you a copy and /delete erases it."),
        t._("/menu brings you back to the main menu."),
    ]
    return [main_menu(ctx, "\n".join(lines))]
