"""Admins, coordinators and their invitations, and the audit log of what they do."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam
from sqlmodel import Session, col, select

from db.models import AuditEntry, Invitation, Organisation, Role, RoleName, User

# Unambiguous letters and digits: easy to read off a poster or dictate on the phone.
_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
INVITATION_LIFETIME = timedelta(days=7)


def is_admin(session: Session, *, user: User, admins: frozenset[tuple[str, str]]) -> bool:
    """Tell whether the user is an admin, by configuration or by an admin role."""
    if (user.transport, user.external_id) in admins:
        return True
    return (
        session.exec(
            select(Role.id).where(Role.user_id == user.id, Role.role == RoleName.ADMIN)
        ).first()
        is not None
    )


# Asked on every main menu, so built once (see db/inbox.py).
_ANY_ROLE = select(Role.id).where(Role.user_id == bindparam("user_id")).limit(1)


def has_any_role(session: Session, *, user_id: int | None) -> bool:
    """Tell whether the user holds any role (admin, or coordinator of some organisation)."""
    return session.exec(_ANY_ROLE, params={"user_id": user_id}).first() is not None


def admin_users(session: Session, *, admins: frozenset[tuple[str, str]]) -> list[User]:
    """Every admin the bot can write to: by configuration (ADMIN_IDS) or by an admin role."""
    found: dict[int, User] = {}
    for transport, external_id in sorted(admins):
        user = session.exec(
            select(User).where(User.transport == transport, User.external_id == external_id)
        ).first()
        if user is not None and user.id is not None:
            found[user.id] = user
    by_role = select(User).join(Role, col(Role.user_id) == col(User.id))
    for user in session.exec(by_role.where(Role.role == RoleName.ADMIN)).all():
        if user.id is not None:
            found[user.id] = user
    return [user for user in found.values() if user.active]


def coordinators_of(session: Session, *, organisation_id: int) -> list[User]:
    """The coordinators of an organisation the bot can write to."""
    users = session.exec(
        select(User)
        .join(Role, col(Role.user_id) == col(User.id))
        .where(Role.role == RoleName.COORDINATOR, Role.organisation_id == organisation_id)
        .order_by(col(User.id))
    ).all()
    return [user for user in users if user.active and user.consent_at is not None]


def coordinated_organisations(
    session: Session, *, user: User, admins: frozenset[tuple[str, str]]
) -> list[Organisation]:
    """Return the organisations the user may act for: all of them for an admin."""
    if is_admin(session, user=user, admins=admins):
        return list(session.exec(select(Organisation).order_by(col(Organisation.name))).all())
    return list(
        session.exec(
            select(Organisation)
            .join(Role, col(Role.organisation_id) == col(Organisation.id))
            .where(Role.user_id == user.id, Role.role == RoleName.COORDINATOR)
            .order_by(col(Organisation.name))
        ).all()
    )


def may_act_for(
    session: Session, *, user: User, organisation_id: int, admins: frozenset[tuple[str, str]]
) -> bool:
    """Check, on the server, whether the user may act for this organisation."""
    if is_admin(session, user=user, admins=admins):
        return True
    return (
        session.exec(
            select(Role.id).where(
                Role.user_id == user.id,
                Role.role == RoleName.COORDINATOR,
                Role.organisation_id == organisation_id,
            )
        ).first()
        is not None
    )


def grant(
    session: Session, *, user: User, role: str, organisation_id: int | None, now: datetime
) -> bool:
    """Give a role; return False if the user had it already."""
    exists = session.exec(
        select(Role.id).where(
            Role.user_id == user.id, Role.role == role, Role.organisation_id == organisation_id
        )
    ).first()
    if exists is not None:
        return False
    assert user.id is not None
    session.add(Role(user_id=user.id, role=role, organisation_id=organisation_id, created_at=now))
    session.flush()
    return True


def create_invitation(
    session: Session, *, organisation: Organisation, created_by: User | None, now: datetime
) -> Invitation:
    """Create a one-time coordinator invitation for an organisation, valid for a week."""
    assert organisation.id is not None
    invitation = Invitation(
        code="".join(secrets.choice(_CODE_ALPHABET) for _ in range(10)),
        organisation_id=organisation.id,
        created_by=created_by.id if created_by else None,
        created_at=now,
        expires_at=now + INVITATION_LIFETIME,
    )
    session.add(invitation)
    session.flush()
    return invitation


@dataclass(frozen=True)
class Redemption:
    outcome: str  # "ok", "unknown", "used", "expired"
    organisation: Organisation | None = None


def redeem_invitation(session: Session, *, code: str, user: User, now: datetime) -> Redemption:
    """Make the user a coordinator if the code is valid, unused and not expired."""
    invitation = session.exec(
        select(Invitation).where(Invitation.code == code.strip().upper())
    ).first()
    if invitation is None:
        return Redemption("unknown")
    if invitation.used_at is not None:
        return Redemption("used")
    if invitation.expires_at <= now:
        return Redemption("expired")
    organisation = session.get(Organisation, invitation.organisation_id)
    invitation.used_at = now
    invitation.used_by = user.id
    grant(
        session,
        user=user,
        role=RoleName.COORDINATOR,
        organisation_id=invitation.organisation_id,
        now=now,
    )
    audit(
        session,
        actor=user,
        action="invitation_redeemed",
        detail={"organisation_id": invitation.organisation_id},
        now=now,
    )
    return Redemption("ok", organisation)


def audit(
    session: Session, *, actor: User | None, action: str, detail: dict[str, Any], now: datetime
) -> None:
    """Record what a coordinator or admin did; `detail` holds ids and counts, never texts.

    A user the action was about (`detail["user_id"]`) is named in `subject_id` as well, so that
    erasing them finds the entry by index.
    """
    subject = detail.get("user_id")
    session.add(
        AuditEntry(
            actor_id=actor.id if actor else None,
            subject_id=subject if isinstance(subject, int) else None,
            action=action,
            detail=detail,
            created_at=now,
        )
    )
