"""The tables. Times are stored as UTC; the city itself (organisations, places, texts) is data."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, DateTime, Index, UniqueConstraint
from sqlalchemy import text as sql_text
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel


class UTCDateTime(TypeDecorator[datetime]):
    """An aware datetime stored as UTC; SQLite has no time zones, so values come back as UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; pass an aware UTC datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utc_column(*, nullable: bool = False, index: bool = False) -> Any:
    """Return an aware UTC datetime column."""
    return Field(sa_column=Column(UTCDateTime(), nullable=nullable, index=index))


class ItemStatus(StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    CANCELLED = "cancelled"
    ARCHIVED = "archived"


class SubscriptionKind(StrEnum):
    CATEGORY = "category"
    DISTRICT = "district"
    ORGANISATION = "organisation"


class User(SQLModel, table=True):
    """A person as one messenger knows them; the same person on two messengers is two users."""

    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("transport", "external_id"),)

    id: int | None = Field(default=None, primary_key=True)
    transport: str = Field(max_length=16)
    external_id: str = Field(max_length=64)
    locale: str | None = Field(default=None, max_length=8)
    language_hint: str | None = Field(default=None, max_length=16)
    timezone: str | None = Field(default=None, max_length=64)
    # False once the messenger says the user blocked the bot or is gone.
    active: bool = Field(default=True)
    # True while the user has paused every message the bot would send on its own (/stop).
    paused: bool = Field(default=False)
    # How news of followed topics reaches the user: "digest" (weekly) or "instant".
    alert_mode: str = Field(default="digest", max_length=16)
    # When the user agreed to the privacy notice; until then only the id is stored.
    consent_at: datetime | None = utc_column(nullable=True)
    digest_sent_at: datetime | None = utc_column(nullable=True)
    created_at: datetime = utc_column()
    last_seen_at: datetime = utc_column()


class Organisation(SQLModel, table=True):
    __tablename__ = "organisations"

    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(max_length=64, unique=True)
    name: str = Field(max_length=200)
    description: str = Field(default="", max_length=4000)
    website: str | None = Field(default=None, max_length=300)
    email: str | None = Field(default=None, max_length=200)
    phone: str | None = Field(default=None, max_length=64)
    # The description in other languages than the original: locale -> text.
    descriptions: dict[str, str] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False, server_default="{}")
    )


class Category(SQLModel, table=True):
    """A kind of volunteering; `names` maps a locale to the category's name in it."""

    __tablename__ = "categories"

    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(max_length=64, unique=True)
    emoji: str = Field(default="", max_length=16)
    position: int = Field(default=0)
    names: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class District(SQLModel, table=True):
    """A part of the city; `names` maps a locale to the district's name in it."""

    __tablename__ = "districts"

    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(max_length=64, unique=True)
    position: int = Field(default=0)
    names: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class Offer(SQLModel, table=True):
    """A standing way to help, such as reading to children every week."""

    __tablename__ = "offers"
    __table_args__ = (Index("ix_offers_status_category", "status", "category_id"),)

    id: int | None = Field(default=None, primary_key=True)
    organisation_id: int = Field(foreign_key="organisations.id", index=True)
    category_id: int = Field(foreign_key="categories.id")
    district_id: int | None = Field(default=None, foreign_key="districts.id", index=True)
    source_id: str | None = Field(default=None, max_length=128, unique=True)
    locale: str = Field(default="de", max_length=8)
    title: str = Field(max_length=200)
    summary: str = Field(default="", max_length=500)
    description: str = Field(default="", max_length=4000)
    schedule: str = Field(default="", max_length=300)
    # What a volunteer needs to bring or have (a certificate of good conduct, an age).
    requirements: str = Field(default="", max_length=1000)
    place_name: str = Field(default="", max_length=200)
    address: str = Field(default="", max_length=300)
    latitude: float | None = None
    longitude: float | None = None
    contact: str = Field(default="", max_length=300)
    status: str = Field(default=ItemStatus.PUBLISHED, max_length=16)
    created_at: datetime = utc_column()
    updated_at: datetime = utc_column()
    published_at: datetime | None = utc_column(nullable=True, index=True)


class Event(SQLModel, table=True):
    """Something that happens once, at a time and a place."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_status_starts_at", "status", "starts_at"),)

    id: int | None = Field(default=None, primary_key=True)
    organisation_id: int = Field(foreign_key="organisations.id", index=True)
    category_id: int | None = Field(default=None, foreign_key="categories.id")
    district_id: int | None = Field(default=None, foreign_key="districts.id")
    source_id: str | None = Field(default=None, max_length=128, unique=True)
    locale: str = Field(default="de", max_length=8)
    title: str = Field(max_length=200)
    summary: str = Field(default="", max_length=500)
    description: str = Field(default="", max_length=4000)
    starts_at: datetime = utc_column()
    ends_at: datetime | None = utc_column(nullable=True)
    # A whole day (iCalendar's VALUE=DATE): starts at local midnight, shown without a time.
    all_day: bool = Field(default=False)
    place_name: str = Field(default="", max_length=200)
    address: str = Field(default="", max_length=300)
    latitude: float | None = None
    longitude: float | None = None
    capacity: int | None = Field(default=None, ge=1)
    status: str = Field(default=ItemStatus.PUBLISHED, max_length=16)
    created_at: datetime = utc_column()
    updated_at: datetime = utc_column()
    published_at: datetime | None = utc_column(nullable=True, index=True)


class OfferTranslation(SQLModel, table=True):
    """An offer's texts in one more language; an empty field shows the original's text.

    Readers see a translation only when it is neither a `draft` (a machine translation not yet
    reviewed) nor `outdated` (the original was edited since); until then, the original.
    """

    __tablename__ = "offer_translations"
    __table_args__ = (UniqueConstraint("offer_id", "locale"),)

    id: int | None = Field(default=None, primary_key=True)
    offer_id: int = Field(foreign_key="offers.id", ondelete="CASCADE")
    locale: str = Field(max_length=8)
    title: str = Field(max_length=200)
    summary: str = Field(default="", max_length=500)
    description: str = Field(default="", max_length=4000)
    schedule: str = Field(default="", max_length=300)
    requirements: str = Field(default="", max_length=1000)
    contact: str = Field(default="", max_length=300)
    outdated: bool = Field(default=False)
    draft: bool = Field(default=False)
    machine: bool = Field(default=False)


class EventTranslation(SQLModel, table=True):
    """An event's texts in one more language; shown like an offer's translation."""

    __tablename__ = "event_translations"
    __table_args__ = (UniqueConstraint("event_id", "locale"),)

    id: int | None = Field(default=None, primary_key=True)
    event_id: int = Field(foreign_key="events.id", ondelete="CASCADE")
    locale: str = Field(max_length=8)
    title: str = Field(max_length=200)
    summary: str = Field(default="", max_length=500)
    description: str = Field(default="", max_length=4000)
    outdated: bool = Field(default=False)
    draft: bool = Field(default=False)
    machine: bool = Field(default=False)


class Subscription(SQLModel, table=True):
    """A user follows a category, a district or an organisation."""

    __tablename__ = "subscriptions"
    __table_args__ = (
        UniqueConstraint("user_id", "kind", "target_id"),
        # Alerts and announcements look up the followers of one topic, district or organisation.
        Index("ix_subscriptions_target", "kind", "target_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", ondelete="CASCADE")
    kind: str = Field(max_length=16)
    target_id: int
    created_at: datetime = utc_column()


class ConversationState(SQLModel, table=True):
    """Where a user is in a conversation, so a restart mid-flow loses nothing.

    `menu` holds the action ids of the last buttons shown, in order, so a typed "2" presses the
    second one on messengers without buttons; `data` holds what a multi-step flow gathered so far.
    """

    __tablename__ = "conversation_states"

    user_id: int = Field(foreign_key="users.id", primary_key=True, ondelete="CASCADE")
    flow: str | None = Field(default=None, max_length=32)
    step: str | None = Field(default=None, max_length=32)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    menu: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    updated_at: datetime = utc_column()


class AttendanceStatus(StrEnum):
    GOING = "going"
    WAITING = "waiting"


class Attendance(SQLModel, table=True):
    """A user said "I'm going" to an event, or waits for a place when it is full."""

    __tablename__ = "attendances"
    __table_args__ = (
        UniqueConstraint("user_id", "event_id"),
        Index("ix_attendances_event_status", "event_id", "status", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", ondelete="CASCADE")
    event_id: int = Field(foreign_key="events.id", ondelete="CASCADE")
    status: str = Field(max_length=16)
    created_at: datetime = utc_column()


class OutboxStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    DEAD = "dead"  # gave up after the last attempt
    DROPPED = "dropped"  # no longer worth sending (event started, user gone or paused)
    SKIPPED = "skipped"  # superseded before it was due (an earlier reminder after downtime)


class OutboxMessage(SQLModel, table=True):
    """A message the bot sends on its own. Its text is rendered in the recipient's language
    when it is sent, from `kind` and `payload`."""

    __tablename__ = "outbox"
    __table_args__ = (
        # Claims look for due rows of one transport, lane by lane.
        Index("ix_outbox_due", "status", "transport", "lane", "next_attempt_at"),
        Index("ix_outbox_user", "user_id", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", ondelete="CASCADE")
    transport: str = Field(max_length=16)
    kind: str = Field(max_length=32)
    # The event a reminder or change notice is about, so changes can find its queued messages.
    event_id: int | None = Field(default=None, index=True)
    # The broadcast a message belongs to, for its progress and final report.
    broadcast_id: int | None = Field(default=None, index=True)
    dedupe_key: str = Field(max_length=160, unique=True)
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    status: str = Field(default=OutboxStatus.PENDING, max_length=16)
    # Which queue it waits in: conversation-bound notices (reminders, promotions, answers) in
    # lane 0 go before urgent announcements in lane 1, and those before bulk ones
    # (announcements, news) in lane 2.
    lane: int = Field(default=0)
    attempts: int = Field(default=0)
    # How many of its messenger messages went out already (a text, then a map pin, then a
    # file): a retry after a failure part-way sends only the rest.
    parts_sent: int = Field(default=0)
    next_attempt_at: datetime = utc_column()
    claimed_at: datetime | None = utc_column(nullable=True)
    created_at: datetime = utc_column()
    sent_at: datetime | None = utc_column(nullable=True)
    last_error: str | None = Field(default=None, max_length=200)


class InboxUpdate(SQLModel, table=True):
    """An update fetched from a messenger, kept until it was handled and its answer sent.

    Fetched updates are stored before the messenger is told they arrived, so a crash loses none:
    `payload` holds the update until it was handled; `replies` holds the answer, stored in the
    same transaction as what handling changed, until it was sent. A row with neither is only a
    record that the update was dealt with, so a copy of it is never handled twice.
    """

    __tablename__ = "inbox"

    transport: str = Field(primary_key=True, max_length=16)
    update_id: int = Field(primary_key=True, sa_type=BigInteger)
    chat_key: str = Field(default="", max_length=64)
    payload: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    replies: list[Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    received_at: datetime = utc_column(index=True)


class JobMark(SQLModel, table=True):
    """Small named facts the scheduler keeps: how far a job got, and who holds delivery."""

    __tablename__ = "job_marks"

    name: str = Field(primary_key=True, max_length=64)
    value: str = Field(default="", max_length=200)
    moment: datetime | None = utc_column(nullable=True)


class RoleName(StrEnum):
    ADMIN = "admin"
    COORDINATOR = "coordinator"


class Role(SQLModel, table=True):
    """An admin, or a coordinator of one organisation (one row per organisation)."""

    __tablename__ = "roles"
    __table_args__ = (UniqueConstraint("user_id", "role", "organisation_id"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True, ondelete="CASCADE")
    role: str = Field(max_length=16)
    organisation_id: int | None = Field(
        default=None, foreign_key="organisations.id", ondelete="CASCADE"
    )
    created_at: datetime = utc_column()


class Invitation(SQLModel, table=True):
    """A one-time, expiring code that makes whoever redeems it a coordinator."""

    __tablename__ = "invitations"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=32, unique=True)
    organisation_id: int = Field(foreign_key="organisations.id", ondelete="CASCADE")
    created_by: int | None = Field(default=None, foreign_key="users.id", ondelete="SET NULL")
    created_at: datetime = utc_column()
    expires_at: datetime = utc_column()
    used_at: datetime | None = utc_column(nullable=True)
    used_by: int | None = Field(default=None, foreign_key="users.id", ondelete="SET NULL")


class BroadcastStatus(StrEnum):
    SCHEDULED = "scheduled"
    SENDING = "sending"
    DONE = "done"
    CANCELLED = "cancelled"


class Broadcast(SQLModel, table=True):
    """An announcement to an audience; `texts` maps a locale to the text in it (German first)."""

    __tablename__ = "broadcasts"

    id: int | None = Field(default=None, primary_key=True)
    sender_id: int | None = Field(default=None, foreign_key="users.id", ondelete="SET NULL")
    organisation_id: int | None = Field(
        default=None, foreign_key="organisations.id", ondelete="SET NULL"
    )
    audience: str = Field(max_length=16)
    audience_id: int | None = None
    texts: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    status: str = Field(default=BroadcastStatus.SCHEDULED, max_length=16)
    recipients: int = 0
    # Sent to Telegram recipients as paid broadcasts (faster, costs Telegram Stars); an admin's
    # choice, and only while TELEGRAM_PAID_BROADCASTS is on.
    urgent: bool = False
    send_at: datetime = utc_column()
    created_at: datetime = utc_column()
    finished_at: datetime | None = utc_column(nullable=True)


class HelpRequestStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class HelpRequest(SQLModel, table=True):
    """A resident asked to be contacted about an offer and agreed to share these details.

    One request per person and offer is open at a time; either side may close it. A closed one
    is deleted, with its messages, after RETENTION_HELP_DAYS (db/privacy.py).
    """

    __tablename__ = "help_requests"
    __table_args__ = (
        # One open request per person and offer, even if two processes take the same press.
        Index(
            "uq_help_requests_open",
            "user_id",
            "offer_id",
            unique=True,
            sqlite_where=sql_text("status = 'open'"),
            postgresql_where=sql_text("status = 'open'"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True, ondelete="CASCADE")
    offer_id: int = Field(foreign_key="offers.id", ondelete="CASCADE")
    organisation_id: int = Field(foreign_key="organisations.id", index=True, ondelete="CASCADE")
    # Empty unless the resident chose to share them; then the organisation may write directly.
    shared_name: str = Field(default="", max_length=200)
    shared_contact: str = Field(default="", max_length=200)
    consent_at: datetime = utc_column()
    created_at: datetime = utc_column()
    # When the organisation first wrote back.
    answered_at: datetime | None = utc_column(nullable=True)
    status: str = Field(default=HelpRequestStatus.OPEN, max_length=8)
    # Retention walks the primary key (few requests are closed at a time): no index needed.
    closed_at: datetime | None = utc_column(nullable=True)
    # "resident" or "organisation": who closed it, so the other side can be told.
    closed_by: str | None = Field(default=None, max_length=16)


class HelpMessage(SQLModel, table=True):
    """One message of a request's conversation: its words are personal data, kept only with the
    request (deleted with it, or when either person is erased: the resident by the request's
    cascade, a coordinator's name by SET NULL; the words stay for the resident to read)."""

    __tablename__ = "help_messages"

    id: int | None = Field(default=None, primary_key=True)
    request_id: int = Field(foreign_key="help_requests.id", index=True, ondelete="CASCADE")
    author_id: int | None = Field(
        default=None, foreign_key="users.id", index=True, ondelete="SET NULL"
    )
    # "resident" or "organisation": which side wrote it.
    side: str = Field(max_length=16)
    # The language the author uses the bot in, named to the reader.
    locale: str = Field(max_length=8)
    text: str = Field(max_length=1000)
    created_at: datetime = utc_column()


class AuditEntry(SQLModel, table=True):
    """Who did what as a coordinator or admin; `detail` never holds residents' data."""

    __tablename__ = "audit_log"

    id: int | None = Field(default=None, primary_key=True)
    actor_id: int | None = Field(
        default=None, foreign_key="users.id", index=True, ondelete="SET NULL"
    )
    # The user an action was about (an admin added them): `detail["user_id"]`, kept as a column
    # too so that erasing that user finds these entries by index instead of reading every one.
    subject_id: int | None = Field(
        default=None, foreign_key="users.id", index=True, ondelete="CASCADE"
    )
    action: str = Field(max_length=32)
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = utc_column()
