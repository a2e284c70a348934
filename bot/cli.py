"""The `engagebot` command: run the bot, chat in the terminal, migrate, load the demo city."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy.exc import OperationalError

from bot import cli_admin
from bot.app import App
from bot.config import SUPPORTED_LOCALES, SettingsError, load_settings
from bot.logs import configure_logging
from bot.transports.base import Transport
from db.demo import DEMO_FILE, CityDataError
from db.engine import DatabaseLocationError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="engagebot", description="Volunteer offers and events in a chat, in your language."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="start every configured messenger (the console if none)")
    chat = commands.add_parser("chat", help="chat with the bot in this terminal")
    chat.add_argument(
        "--user",
        default="console",
        help="who you are; your reminders and announcements arrive here (default: console)",
    )
    chat.add_argument("--lang", default=None, help="language hint for a new user, such as uk")
    db = commands.add_parser("db", help="database commands")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    db_commands.add_parser("upgrade", help="migrate the database to the newest schema")
    demo = commands.add_parser("demo-data", help="load the demo city")
    demo.add_argument("--if-empty", action="store_true", help="only into an empty database")
    demo.add_argument("--file", type=Path, default=DEMO_FILE, help="city data file (JSON)")
    poster = commands.add_parser("poster", help="print a poster with a QR code for an item")
    poster.add_argument("item", help="o_12 for offer 12, e_7 for event 7")
    poster.add_argument("--out", type=Path, default=None, help="PNG file (default: ITEM.png)")
    poster.add_argument("--lang", default=None, help="language of the poster, such as de or uk")
    cli_admin.add_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the process exit status."""
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"engagebot: {exc}", file=sys.stderr)
        return 2
    level = settings.log_level
    if args.command == "chat" and logging.getLevelName(level) < logging.WARNING:
        # The log shares the chat's terminal: only what needs the person's attention.
        level = "WARNING"
    configure_logging(level, wire=settings.log_wire)
    try:
        app = App(settings)
    except DatabaseLocationError as exc:
        print(f"engagebot: {exc}", file=sys.stderr)
        return 2
    try:
        return _dispatch(app, args)
    except (DatabaseLocationError, CityDataError) as exc:
        print(f"engagebot: {exc}", file=sys.stderr)
        return 2
    except OperationalError as exc:
        print(f"engagebot: the database cannot be used: {exc.orig}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    finally:
        app.close()


def _dispatch(app: App, args: argparse.Namespace) -> int:
    handled = cli_admin.dispatch(app, args)
    if handled is not None:
        return handled
    if args.command == "poster":
        app.migrate()
        return _poster(app, args)
    if args.command == "db":
        app.migrate()
        print("engagebot: database is up to date")
        return 0
    if args.command == "demo-data":
        app.migrate()
        report = app.load_demo(only_if_empty=args.if_empty, path=args.file)
        if report is None:
            print("engagebot: the database already holds a city; demo data not loaded")
        else:
            print(
                f"engagebot: loaded {report.organisations} organisations, {report.offers} offers "
                f"and {report.events} events"
            )
        return 0
    app.migrate()
    if args.command == "chat":
        return asyncio.run(_chat(app, user=args.user, lang=args.lang))
    return asyncio.run(_run(app))


def _poster(app: App, args: argparse.Namespace) -> int:
    """Write the poster of an offer or event to a PNG file."""
    from bot.links import parse_payload
    from bot.posters import PosterError, render_poster
    from db.engine import session_scope

    item = parse_payload(args.item)
    if item is None:
        print(f"engagebot: {args.item!r} is not an item such as o_12 or e_7", file=sys.stderr)
        return 2
    if args.lang is not None and args.lang not in SUPPORTED_LOCALES:
        print(f"engagebot: --lang must be one of {', '.join(SUPPORTED_LOCALES)}", file=sys.stderr)
        return 2
    out = args.out or Path(f"{args.item.strip().lower()}.png")
    try:
        with session_scope(app.engine) as session:
            png = render_poster(session, *item, app.settings, locale=args.lang)
    except PosterError as exc:
        print(f"engagebot: {exc}", file=sys.stderr)
        return 2
    try:
        out.write_bytes(png)
    except OSError as exc:
        print(f"engagebot: cannot write {out}: {exc.strerror}", file=sys.stderr)
        return 2
    print(f"engagebot: poster written to {out}")
    return 0


async def _chat(app: App, *, user: str, lang: str | None) -> int:
    """One person's console chat: their messages arrive here live, whoever else runs."""
    from bot.runner import delivery_lock_name
    from bot.transports.console import ConsoleTransport
    from db.locks import owner_lock

    # Only for telling the person: the session asks for its user's delivery itself, again
    # every few seconds, and shows their messages once it has it.
    lock = owner_lock(app.engine, delivery_lock_name("console", user))
    open_elsewhere = not lock.try_acquire()
    if not open_elsewhere:
        lock.release()
    transport = ConsoleTransport(
        app.conversation, user_key=user, locale_hint=lang, open_elsewhere=open_elsewhere
    )
    return await _serve_until_stopped(app, [transport])


async def _run(app: App) -> int:
    from bot.transports.console import ConsoleTransport

    transports: list[Transport] = []
    if app.settings.telegram_bot_token:
        from bot.transports.telegram import TelegramTransport

        transports.append(TelegramTransport(app.conversation, app.settings))
    if app.settings.signal_account:
        from bot.transports.signal import SignalTransport

        transports.append(SignalTransport.from_settings(app.conversation, app.settings))
    if app.settings.matrix_homeserver:
        from bot.transports.matrix import MatrixTransport

        transports.append(MatrixTransport(app.conversation, app.settings))
    if not transports:
        print("engagebot: no messenger is configured; opening the console chat instead")
        # The console user's reminders and announcements come through the same outbox;
        # other console users' messages wait for their own `engagebot chat --user NAME`.
        transports.append(ConsoleTransport(app.conversation))
    return await _serve_until_stopped(app, transports)


async def _serve_until_stopped(app: App, transports: list[Transport]) -> int:
    import contextlib
    import signal

    from bot.runner import serve

    # systemd and docker stop the bot with SIGTERM: stop as cleanly as on Ctrl-C, so every
    # messenger answers what it already fetched before the process ends, and a console
    # session puts back what it had taken for its user (the next session shows it).
    running = asyncio.current_task()
    loop = asyncio.get_running_loop()
    terminated = False

    def terminate() -> None:
        nonlocal terminated
        terminated = True
        if running is not None:
            running.cancel()

    with contextlib.suppress(NotImplementedError, RuntimeError):
        loop.add_signal_handler(signal.SIGTERM, terminate)
    try:
        await serve(app, transports)
    except SettingsError as exc:  # e.g. a token the messenger rejects
        print(f"engagebot: {exc}", file=sys.stderr)
        return 2
    except asyncio.CancelledError:
        if not terminated or running is None:
            raise
        running.uncancel()
    finally:
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.remove_signal_handler(signal.SIGTERM)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
