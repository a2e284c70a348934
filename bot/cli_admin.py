"""The `engagebot` commands for operators: admins, invitations, announcements and imports."""

from __future__ import annotations

import argparse
import sys
import unicodedata
from datetime import datetime
from pathlib import Path

from sqlmodel import Session, select

from bot.accounts import ID_FORMS, BadUserId, parse_user_id
from bot.app import App
from bot.config import SUPPORTED_LOCALES
from db.broadcasts import count_audience, count_telegram_audience, queue_broadcast
from db.engine import session_scope
from db.imports import CSV_COLUMNS, OPTIONAL_COLUMNS, ImportError_, import_file
from db.models import (
    Broadcast,
    BroadcastStatus,
    Category,
    District,
    Event,
    Offer,
    Organisation,
    RoleName,
    User,
)
from db.queries import get_or_create_user
from db.roles import audit, create_invitation, grant
from handlers.timeparse import parse_local_datetime

AUDIENCE_KINDS = {
    "topic": ("c", Category),
    "district": ("d", District),
    "organisation": ("g", Organisation),
}


IMPORT_HELP = f"""\
Offers come from a .csv file, events from an iCalendar (.ics) feed. Importing the same file
again changes nothing; rows are matched by their source id.

CSV: UTF-8 (with or without BOM), UTF-16 or Windows-1252; separated by commas, semicolons
(German Excel) or tabs; the first line names the columns, in any order and case.
  required: {", ".join(CSV_COLUMNS)}
  optional: {", ".join(OPTIONAL_COLUMNS)}
  organisation by slug or name; category and district by slug or by their name in any
  language ("children-youth" or "Kinder & Jugend"); latitude/longitude with . or ,

iCalendar (needs --org): UID, DTSTART, DTEND, SUMMARY, DESCRIPTION, LOCATION, GEO, STATUS.
  A changed time or place tells the people going; STATUS:CANCELLED cancels the event;
  --prune archives the organisation's imported events that are gone from the feed.
"""


class CommandError(Exception):
    """A command cannot be carried out; the message says why in one line."""


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add the operators' subcommands to the `engagebot` parser."""
    admin = commands.add_parser("admin", help="manage admins")
    admin_commands = admin.add_subparsers(dest="admin_command", required=True)
    add = admin_commands.add_parser("add", help="make a messenger user an admin")
    add.add_argument("who", help="messenger:id, one of: " + "; ".join(ID_FORMS.values()))

    coordinator = commands.add_parser("coordinator", help="manage coordinators")
    coordinator_commands = coordinator.add_subparsers(dest="coordinator_command", required=True)
    invite = coordinator_commands.add_parser("invite", help="create a one-time invitation")
    invite.add_argument("--org", required=True, help="the organisation's slug, such as asz")

    broadcast = commands.add_parser("broadcast", help="queue an announcement")
    broadcast.add_argument(
        "--audience",
        default="all",
        help="all, topic:SLUG, district:SLUG, organisation:SLUG or event:ID",
    )
    broadcast.add_argument("--text", required=True, help="the announcement in German")
    broadcast.add_argument(
        "--translation",
        action="append",
        default=[],
        metavar="LANG=TEXT",
        help="the announcement in another language, such as en=Hello",
    )
    broadcast.add_argument("--org", default=None, help="the organisation it is sent for")
    broadcast.add_argument("--at", default=None, help='when to send, such as "12.12. 18:00"')
    broadcast.add_argument(
        "--urgent",
        action="store_true",
        help="send it to Telegram as paid broadcasts (TELEGRAM_PAID_BROADCASTS; costs Stars)",
    )
    broadcast.add_argument("--dry-run", action="store_true", help="only count the recipients")

    imports = commands.add_parser(
        "import",
        help="import offers (.csv) or events (.ics)",
        description=IMPORT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    imports.add_argument("file", type=Path)
    imports.add_argument("--org", default=None, help="organisation of an .ics feed's events")
    imports.add_argument(
        "--prune",
        action="store_true",
        help="archive this organisation's imported events that are no longer in the feed",
    )
    imports.add_argument(
        "--dry-run", action="store_true", help="show what would change and change nothing"
    )


def dispatch(app: App, args: argparse.Namespace) -> int | None:
    """Run an operator command; None if `args` is not one of them."""
    handlers = {
        "admin": _admin,
        "coordinator": _coordinator,
        "broadcast": _broadcast,
        "import": _import,
    }
    handler = handlers.get(args.command)
    if handler is None:
        return None
    app.migrate()
    try:
        with session_scope(app.engine) as session:
            print(handler(app, session, args))
    except CommandError as exc:
        print(f"engagebot: {exc}", file=sys.stderr)
        return 2
    return 0


def _user(app: App, session: Session, who: str) -> User:
    try:
        transport, external_id = parse_user_id(who)
    except BadUserId as exc:
        raise CommandError(str(exc)) from None
    user, _ = get_or_create_user(
        session,
        transport=transport,
        external_id=external_id,
        now=app.clock.now(),
        language_hint=None,
    )
    return user


def _admin(app: App, session: Session, args: argparse.Namespace) -> str:
    user = _user(app, session, args.who)
    if grant(session, user=user, role=RoleName.ADMIN, organisation_id=None, now=app.clock.now()):
        audit(
            session,
            actor=None,
            action="admin_added",
            detail={"user_id": user.id},
            now=app.clock.now(),
        )
        return f"{args.who} is now an admin"
    return f"{args.who} was an admin already"


def _organisation(session: Session, slug: str) -> Organisation:
    organisation = session.exec(select(Organisation).where(Organisation.slug == slug)).first()
    if organisation is None:
        known = ", ".join(o.slug for o in session.exec(select(Organisation)).all())
        raise CommandError(f"no organisation {slug!r}; known: {known}")
    return organisation


def _coordinator(app: App, session: Session, args: argparse.Namespace) -> str:
    organisation = _organisation(session, args.org)
    invitation = create_invitation(
        session, organisation=organisation, created_by=None, now=app.clock.now()
    )
    audit(
        session,
        actor=None,
        action="invitation_created",
        detail={"organisation_id": organisation.id},
        now=app.clock.now(),
    )
    lines = [
        f"Invitation for {organisation.name}, valid until "
        f"{invitation.expires_at.astimezone(app.settings.tz):%Y-%m-%d %H:%M}, for one person:",
        f"  send the bot: /join {invitation.code}",
    ]
    username = getattr(app.settings, "telegram_bot_username", None)
    if username:
        lines.append(f"  Telegram link: https://t.me/{username}?start=c_{invitation.code}")
    return "\n".join(lines)


def _audience(session: Session, text: str) -> tuple[str, int | None]:
    if text == "all":
        return "all", None
    kind, _, value = text.partition(":")
    if kind == "event":
        if not value.isdigit() or session.get(Event, int(value)) is None:
            raise CommandError(f"no event {value!r}")
        return "e", int(value)
    if kind not in AUDIENCE_KINDS:
        raise CommandError(
            "audience must be all, topic:SLUG, district:SLUG, organisation:SLUG or event:ID"
        )
    letter, model = AUDIENCE_KINDS[kind]
    row = session.exec(select(model).where(model.slug == value)).first()
    if row is None:
        raise CommandError(f"no {kind} {value!r}")
    return letter, row.id


def _has_text(text: str) -> bool:
    """Tell whether a text has something to read: not only spaces or invisible marks."""
    return any(not char.isspace() and unicodedata.category(char) != "Cf" for char in text)


def _broadcast(app: App, session: Session, args: argparse.Namespace) -> str:
    audience, target = _audience(session, args.audience)
    if not _has_text(args.text):
        raise CommandError('the announcement is empty; give its text with --text "…"')
    texts = {"de": args.text}
    for item in args.translation:
        locale, sep, text = item.partition("=")
        if not sep or locale not in SUPPORTED_LOCALES:
            raise CommandError(
                f"--translation {item!r} is not LANG=TEXT with LANG one of "
                f"{', '.join(SUPPORTED_LOCALES)}"
            )
        if not _has_text(text):
            raise CommandError(f"--translation {item!r} is empty; give its text after {locale}=")
        texts[locale] = text
    now = app.clock.now()
    send_at: datetime = now
    if args.at:
        parsed = parse_local_datetime(args.at, now=now, tz=app.settings.tz)
        if parsed is None or parsed <= now:
            raise CommandError(f"--at {args.at!r} is not a time in the future")
        send_at = parsed
    if args.urgent and not app.settings.telegram_paid_broadcasts:
        raise CommandError(
            "--urgent needs TELEGRAM_PAID_BROADCASTS=true (paid broadcasts enabled for the bot)"
        )
    recipients = count_audience(session, audience=audience, audience_id=target)
    if recipients == 0:
        raise CommandError("no one would receive this announcement")
    paid = ""
    if args.urgent:
        # Bot API, sendMessage, allow_paid_broadcast: 0.1 Telegram Stars per message, at most.
        on_telegram = count_telegram_audience(session, audience=audience, audience_id=target)
        paid = f"; urgent: at most {on_telegram / 10:g} Telegram Stars for {on_telegram} messages"
    if args.dry_run:
        return f"{recipients} people would receive it{paid}"
    organisation = _organisation(session, args.org) if args.org else None
    broadcast = Broadcast(
        audience=audience,
        audience_id=target,
        texts=texts,
        organisation_id=organisation.id if organisation else None,
        status=BroadcastStatus.SCHEDULED,
        urgent=args.urgent,
        send_at=send_at,
        created_at=now,
    )
    session.add(broadcast)
    session.flush()
    queued = queue_broadcast(session, broadcast=broadcast, now=now)
    audit(
        session,
        actor=None,
        action="broadcast_queued",
        detail={
            "broadcast_id": broadcast.id,
            "recipients": queued,
            "audience": audience,
            "languages": sorted(texts),
            "urgent": args.urgent,
        },
        now=now,
    )
    return (
        f"announcement {broadcast.id} queued for {queued} people; the running bot sends it "
        f"at {send_at.astimezone(app.settings.tz):%Y-%m-%d %H:%M}{paid}"
    )


def _alert_followers(app: App, session: Session, new_items: tuple[tuple[str, int], ...]) -> int:
    """Queue the instant followers' alerts for the imported items in the import's transaction,
    so they are not missed when the running bot's alert tick passes before the import commits;
    the alert job queues the same keys, so nobody is told twice."""
    from bot.jobs import queue_alerts_for

    items: list[tuple[str, Offer | Event]] = []
    for letter, item_id in new_items:
        item = session.get(Offer if letter == "o" else Event, item_id)
        if item is not None:
            items.append((letter, item))
    return queue_alerts_for(session, items, now=app.clock.now(), settings=app.settings)


def _import(app: App, session: Session, args: argparse.Namespace) -> str:
    if not args.file.exists():
        raise CommandError(f"{args.file} does not exist")
    try:
        report = import_file(
            session,
            path=args.file,
            now=app.clock.now(),
            tz=app.settings.tz,
            organisation_slug=args.org,
            prune=args.prune,
        )
    except ImportError_ as exc:
        raise CommandError(f"{args.file.name}: {exc}") from None
    if args.dry_run:
        session.rollback()
    else:
        try:
            from db.search import reindex_all
        except ImportError:
            pass
        else:
            reindex_all(session)
        _alert_followers(app, session, report.new_items)
    counts = (
        f"{report.created} new, {report.updated} updated, {report.unchanged} unchanged"
        + (f", {report.cancelled} cancelled" if report.cancelled else "")
        + (f", {report.archived} archived" if report.archived else "")
    )
    lines = [
        f"dry run, nothing changed; {args.file.name} would give: {counts}"
        if args.dry_run
        else f"imported {args.file.name}: {counts}"
    ]
    lines += [f"  {change}" for change in report.changes]
    return "\n".join(lines)
