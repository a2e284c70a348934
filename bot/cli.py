"""The `engagebot` command: run the bot, chat in the terminal, migrate, load the demo city."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy.exc import OperationalError

from bot.app import App
from bot.config import SettingsError, load_settings
from db.demo import DEMO_FILE, CityDataError
from db.engine import DatabaseLocationError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="engagebot", description="Volunteer offers and events in a chat, in your language."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="start every configured messenger (the console if none)")
    chat = commands.add_parser("chat", help="chat with the bot in this terminal")
    chat.add_argument("--user", default="console", help="who you are (default: console)")
    chat.add_argument("--lang", default=None, help="language hint for a new user, such as uk")
    db = commands.add_parser("db", help="database commands")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    db_commands.add_parser("upgrade", help="migrate the database to the newest schema")
    demo = commands.add_parser("demo-data", help="load the demo city")
    demo.add_argument("--if-empty", action="store_true", help="only into an empty database")
    demo.add_argument("--file", type=Path, default=DEMO_FILE, help="city data file (JSON)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the process exit status."""
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"engagebot: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # httpx logs every request URL, and Telegram's URLs contain the bot token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
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


async def _chat(app: App, *, user: str, lang: str | None) -> int:
    from bot.transports.console import ConsoleTransport

    await ConsoleTransport(app.conversation, user_key=user, locale_hint=lang).run()
    return 0


async def _run(app: App) -> int:
    from bot.transports.console import ConsoleTransport

    transports = []
    if not transports:
        print("engagebot: no messenger is configured; opening the console chat instead")
        await ConsoleTransport(app.conversation).run()
        return 0
    await asyncio.gather(*(transport.run() for transport in transports))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
