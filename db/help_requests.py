"""Requests to help: one open per person and offer, who answers them, their messages, counts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import func
from sqlmodel import Session, col, select

from db.models import HelpMessage, HelpRequest, HelpRequestStatus, User
from db.roles import admin_users, coordinators_of

RESIDENT = "resident"
ORGANISATION = "organisation"


class Answerer(StrEnum):
    """Who reads a request for its organisation."""

    COORDINATORS = "coordinators"
    ADMINS = "admins"  # the organisation has no coordinator the bot can write to
    NOBODY = "nobody"


@dataclass(frozen=True)
class OrganisationSide:
    """The people who read an organisation's requests, and why they are the ones."""

    who: Answerer
    users: list[User]


def open_request(session: Session, *, user_id: int, offer_id: int) -> HelpRequest | None:
    """Return the person's open request about an offer, if there is one."""
    return session.exec(
        select(HelpRequest).where(
            HelpRequest.user_id == user_id,
            HelpRequest.offer_id == offer_id,
            HelpRequest.status == HelpRequestStatus.OPEN,
        )
    ).first()


def organisation_side(
    session: Session, *, organisation_id: int, admins: frozenset[tuple[str, str]]
) -> OrganisationSide:
    """Return who answers for an organisation: its coordinators, else the admins, else nobody."""
    coordinators = coordinators_of(session, organisation_id=organisation_id)
    if coordinators:
        return OrganisationSide(Answerer.COORDINATORS, coordinators)
    reachable = [u for u in admin_users(session, admins=admins) if u.consent_at is not None]
    if reachable:
        return OrganisationSide(Answerer.ADMINS, reachable)
    return OrganisationSide(Answerer.NOBODY, [])


def add_message(
    session: Session,
    *,
    request: HelpRequest,
    author: User,
    side: str,
    locale: str,
    text: str,
    now: datetime,
) -> HelpMessage:
    """Store one message of a request's conversation."""
    message = HelpMessage(
        request_id=request.id or 0,
        author_id=author.id,
        side=side,
        locale=locale,
        text=text,
        created_at=now,
    )
    session.add(message)
    if side == ORGANISATION and request.answered_at is None:
        request.answered_at = now
    session.flush()
    return message


def messages_of(session: Session, *, request_id: int, limit: int = 10) -> list[HelpMessage]:
    """Return the last `limit` messages of a request, oldest first."""
    newest = session.exec(
        select(HelpMessage)
        .where(HelpMessage.request_id == request_id)
        .order_by(col(HelpMessage.id).desc())
        .limit(limit)
    ).all()
    return list(reversed(newest))


def close_request(session: Session, *, request: HelpRequest, by: str, now: datetime) -> bool:
    """Close a request; return False if it was closed already."""
    if request.status != HelpRequestStatus.OPEN:
        return False
    request.status = HelpRequestStatus.CLOSED
    request.closed_at = now
    request.closed_by = by
    session.flush()
    return True


def request_counts(session: Session, *, organisation_id: int) -> tuple[int, int]:
    """Return how many of an organisation's requests are open and how many closed (and kept)."""
    rows = session.exec(
        select(HelpRequest.status, func.count(col(HelpRequest.id)))
        .where(HelpRequest.organisation_id == organisation_id)
        .group_by(col(HelpRequest.status))
    ).all()
    counts = {status: int(count) for status, count in rows}
    return counts.get(HelpRequestStatus.OPEN, 0), counts.get(HelpRequestStatus.CLOSED, 0)
