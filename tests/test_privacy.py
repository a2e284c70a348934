"""Privacy: a copy of everything stored, erasure of every row that names a user, retention,
and flood control."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import inspect, text
from sqlmodel import select

from bot.app import App
from bot.clock import FakeClock
from bot.messages import Incoming
from bot.scheduler import Jobs
from db.broadcasts import count_audience, queue_broadcast
from db.engine import session_scope
from db.models import AuditEntry, Broadcast, Invitation, OutboxMessage, User
from db.outbox import enqueue
from tests.conftest import make_settings
from tests.dialog import Dialog
from tests.test_coordinator import coordinator, person

pytestmark = pytest.mark.both_databases


def rows_naming(app: App, user_id: int, external_id: str) -> list[str]:
    """Find every row in every table that names the user by id or messenger id."""
    found = []
    user_columns = {"user_id", "actor_id", "sender_id", "created_by", "used_by"}
    with app.engine.connect() as connection:
        for table in inspect(connection).get_table_names():
            if table == "alembic_version" or table.startswith("search"):
                continue
            columns = [c["name"] for c in inspect(connection).get_columns(table)]
            for column in columns:
                if column in user_columns or (table == "users" and column == "id"):
                    hits = connection.execute(
                        text(f'select count(*) from "{table}" where "{column}" = :id'),
                        {"id": user_id},
                    ).scalar()
                    if hits:
                        found.append(f"{table}.{column}")
            if "external_id" in columns:
                hits = connection.execute(
                    text(f'select count(*) from "{table}" where external_id = :x'),
                    {"x": external_id},
                ).scalar()
                if hits:
                    found.append(f"{table}.external_id")
            for json_column in ("payload", "detail"):
                if json_column in columns:
                    for (value,) in connection.execute(
                        text(f'select "{json_column}" from "{table}"')
                    ):
                        data = json.loads(value) if isinstance(value, str) else value
                        if isinstance(data, dict) and data.get("user_id") == user_id:
                            found.append(f"{table}.{json_column}")
    return found


def fill_every_table(app: App, clock: FakeClock) -> Dialog:
    """Make one coordinator who follows, goes, asks to help, broadcasts and gets messages."""
    carla = coordinator(app, "carla")
    carla.press("fol:c:1")
    carla.press("fol:d:1")
    carla.press("go:1")
    carla.press("hr_ask:1")
    app.conversation.handle(Incoming("console", "carla", action="hr_yes:1", display_name="C"))
    carla.press("bc_new")
    carla.press("bc_aud:all:0")
    carla.say("Hallo zusammen")
    carla.tap("Send now")
    carla.press("inv_new")  # not an admin: refused, but audited nowhere
    return carla


def test_mydata_matches_the_tables_and_delete_leaves_nothing(
    database_url: str, clock: FakeClock
) -> None:
    app = App(make_settings(database_url, admin_ids="console:admin"), clock=clock)
    carla = fill_every_table(app, clock)
    with session_scope(app.engine) as session:
        user = session.exec(select(User).where(User.external_id == "carla")).one()
        user_id = user.id
    carla.say("/mydata")
    [attachment] = carla.last[0].attachments
    data = json.loads(attachment.content)
    assert data["user"]["external_id"] == "carla"
    assert len(data["subscriptions"]) == 2
    assert len(data["attendances"]) == 1
    assert len(data["help_requests"]) == 1
    assert len(data["roles"]) == 1
    assert data["audit_entries"], "the coordinator's own actions are part of their data"
    assert data["messages_sent_or_queued"], "the broadcast reaches the sender too"
    assert rows_naming(app, user_id, "carla")
    carla.say("/delete")
    assert "This cannot be undone." in carla.text
    carla.tap("Yes, delete everything")
    assert "Everything about you has been deleted." in carla.text
    assert rows_naming(app, user_id, "carla") == []
    with session_scope(app.engine) as session:
        broadcast = session.exec(select(Broadcast)).one()
        assert broadcast.sender_id is None
        invitation = session.exec(select(Invitation)).one()
        assert invitation.used_by is None
    carla.say("/start")
    assert "Willkommen!" in carla.text, "writing again starts from the beginning"
    app.close()


async def test_retention_deletes_old_messages_blocked_and_silent_users(
    app: App, clock: FakeClock
) -> None:
    old = person(app, "old")
    blocked = person(app, "blocked")
    person(app, "recent")
    app.conversation.deactivate("console", "blocked")
    jobs = Jobs(conversation=app.conversation, settings=app.settings, clock=clock)
    clock.advance(timedelta(days=31))
    Dialog(app.conversation, user="recent").say("/menu")
    assert jobs.retention()["users"] == 1  # the blocked one
    clock.advance(timedelta(days=365 - 31 - 14 + 1))
    Dialog(app.conversation, user="recent").say("/menu")
    assert jobs.retention()["warned"] == 1
    with session_scope(app.engine) as session:
        notice = session.exec(
            select(OutboxMessage).where(OutboxMessage.kind == "retention_notice")
        ).one()
        assert notice.user_id is not None
    clock.advance(timedelta(days=14))
    done = jobs.retention()
    assert done["users"] == 1
    with session_scope(app.engine) as session:
        names = {u.external_id for u in session.exec(select(User)).all()}
    assert "old" not in names and "blocked" not in names and "recent" in names
    assert old and blocked


def test_retention_deletes_delivered_messages_after_90_days(app: App, clock: FakeClock) -> None:
    from db.outbox import enqueue, mark_sent

    person(app, "reader")
    with session_scope(app.engine) as session:
        user = session.exec(select(User).where(User.external_id == "reader")).one()
        enqueue(
            session, user=user, kind="alert", dedupe_key="alert:old", payload={}, now=clock.now()
        )
        enqueue(
            session,
            user=user,
            kind="alert",
            dedupe_key="alert:waiting",
            payload={},
            now=clock.now(),
        )
        old = session.exec(
            select(OutboxMessage).where(OutboxMessage.dedupe_key == "alert:old")
        ).one()
        mark_sent(session, message_id=old.id, now=clock.now())
    jobs = Jobs(conversation=app.conversation, settings=app.settings, clock=clock)
    clock.advance(timedelta(days=89))
    Dialog(app.conversation, user="reader").say("/menu")
    assert jobs.retention()["messages"] == 0
    clock.advance(timedelta(days=2))
    Dialog(app.conversation, user="reader").say("/menu")
    assert jobs.retention()["messages"] == 1
    with session_scope(app.engine) as session:
        keys = {m.dedupe_key for m in session.exec(select(OutboxMessage)).all()}
    assert keys == {"alert:waiting"}, "a message not yet delivered is kept"


def test_flood_control_slows_one_user_and_not_others(database_url: str, clock: FakeClock) -> None:
    app = App(make_settings(database_url, flood_burst=5), clock=clock)
    flooder = [
        app.conversation.handle(Incoming("console", "flood", text="/menu", locale_hint="en"))
        for _ in range(8)
    ]
    assert all(replies for replies in flooder[:5])
    assert "writing very fast" in flooder[5][0].text
    assert flooder[6] == [] and flooder[7] == []
    calm = app.conversation.handle(Incoming("console", "calm", text="/menu"))
    assert calm and "writing very fast" not in calm[0].text
    clock.advance(timedelta(seconds=3))
    assert app.conversation.handle(Incoming("console", "flood", text="/menu"))
    app.close()


def test_the_audit_log_records_who_and_how_many_never_what(
    database_url: str, clock: FakeClock
) -> None:
    app = App(make_settings(database_url, admin_ids="console:admin"), clock=clock)
    carla = fill_every_table(app, clock)
    carla.press("item:e:1")
    carla.tap("Title")
    carla.say("Ein geheimer neuer Titel")
    with session_scope(app.engine) as session:
        entries = session.exec(select(AuditEntry)).all()
    actions = {entry.action for entry in entries}
    assert {"invitation_redeemed", "broadcast_queued", "item_edited"} <= actions
    recorded = json.dumps([entry.detail for entry in entries], ensure_ascii=False)
    assert "Hallo zusammen" not in recorded and "geheimer" not in recorded
    assert '"recipients"' in recorded
    app.close()


def test_announcements_reach_only_people_who_agreed(app: App, clock: FakeClock) -> None:
    agreed = Dialog(app.conversation, user="agreed")
    agreed.onboard("de")
    undecided = Dialog(app.conversation, user="undecided")
    undecided.say("/start")
    undecided.press("lang_set:uk")  # chose a language, never agreed to the notice
    now = clock.now()
    with session_scope(app.engine) as session:
        # Entered by `engagebot admin add`, has never written to the bot.
        session.add(
            User(transport="console", external_id="admin", created_at=now, last_seen_at=now)
        )
        broadcast = Broadcast(audience="all", texts={"de": "Hallo"}, send_at=now, created_at=now)
        session.add(broadcast)
        session.flush()
        assert count_audience(session, audience="all", audience_id=None) == 1
        assert queue_broadcast(session, broadcast=broadcast, now=now) == 1
        recipients = session.exec(
            select(User.external_id).join(OutboxMessage, OutboxMessage.user_id == User.id)
        ).all()
    assert recipients == ["agreed"]


def test_a_queued_message_for_someone_who_has_not_agreed_is_never_sent(
    app: App, clock: FakeClock
) -> None:
    now = clock.now()
    with session_scope(app.engine) as session:
        user = User(transport="console", external_id="x", created_at=now, last_seen_at=now)
        session.add(user)
        session.flush()
        enqueue(session, user=user, kind="broadcast_report", dedupe_key="r", payload={}, now=now)
        row_id = session.exec(select(OutboxMessage.id)).one()
    assert app.conversation.render_notice(row_id) is None
    with session_scope(app.engine) as session:
        row = session.get(OutboxMessage, row_id)
        assert (row.status, row.last_error) == ("dropped", "no consent")
