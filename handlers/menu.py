"""The main menu, and the answers to what the bot cannot use."""

from __future__ import annotations

from bot.messages import Reply
from handlers.context import Context
from handlers.router import router
from handlers.search import run_search
from handlers.ui import main_menu


@router.on_action("menu", commands=("menu",))
def show_menu(ctx: Context) -> list[Reply]:
    """Show the main menu and leave any flow the user was in."""
    ctx.end_flow()
    return [main_menu(ctx)]


@router.on_action("stale", internal=True)
def stale_button(ctx: Context) -> list[Reply]:
    """Answer a button from an old menu, or one that was never ours."""
    return [main_menu(ctx, ctx.t._("That button no longer works. Here is the main menu."))]


@router.on_action("not_understood", str, internal=True)
def not_understood(ctx: Context, text: str) -> list[Reply]:
    """Search for typed text that is no command; answer an unknown command with the menu."""
    if not text.startswith("/"):
        return run_search(ctx, text)
    text = ctx.t._("Sorry, I did not understand that. Choose from the menu, or send /help.")
    return [main_menu(ctx, text)]
