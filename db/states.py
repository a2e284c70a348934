"""A person's conversation state while one of their updates is handled: read once, held apart
from the session, written back at most once, and not at all when nothing changed.

Performance: handlers change the state as they go (the screen a press opened, a flow's step,
a search's number) and then read the database. Were the state in the session, each such read
would flush it first, and the menu recorded after the handler would flush it again: two
UPDATEs through the unit of work for nearly every update. Held apart, it is compared with how
it was read and written with one statement built once (benchmarks/RESULTS.md, "Profile").
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Table, bindparam, insert, update
from sqlmodel import Session

from db.models import ConversationState

_STATES: Table = ConversationState.__table__  # type: ignore[attr-defined]
_FIELDS = ("flow", "step", "data", "menu", "updated_at")
_UPDATE = (
    update(_STATES)
    .where(_STATES.c.user_id == bindparam("state_user"))
    .values({name: bindparam(f"state_{name}") for name in _FIELDS})
)
_INSERT = insert(_STATES).values(
    user_id=bindparam("state_user"), **{name: bindparam(f"state_{name}") for name in _FIELDS}
)


@dataclass(frozen=True)
class Held:
    """How a state was when it was read (None: it did not exist yet)."""

    was: tuple[str | None, str | None, str, str] | None


def _fingerprint(state: ConversationState) -> tuple[str | None, str | None, str, str]:
    # Serialised rather than kept as objects: a value changed in place then still counts.
    return (
        state.flow,
        state.step,
        json.dumps(state.data, sort_keys=True, default=str),
        json.dumps(state.menu),
    )


def hold(
    session: Session, state: ConversationState | None, *, user_id: int
) -> tuple[ConversationState, Held]:
    """Take a person's state out of the session (a new one if they have none) for handling."""
    if state is None:
        fresh = ConversationState(user_id=user_id, updated_at=datetime.min)
        return fresh, Held(None)
    if state in session:
        session.expunge(state)
    return state, Held(_fingerprint(state))


def store(session: Session, state: ConversationState, held: Held, *, now: datetime) -> bool:
    """Write a held state back if it changed (or is new); return whether it was written."""
    if held.was is not None and _fingerprint(state) == held.was:
        return False
    state.updated_at = now
    values = {"state_user": state.user_id} | {
        f"state_{name}": getattr(state, name) for name in _FIELDS
    }
    session.connection().execute(_UPDATE if held.was is not None else _INSERT, values)
    return True
