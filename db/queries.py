"""Query functions; every argument after the first is keyword-only so call sites read clearly."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any, Generic, TypeVar

from sqlalchemy import and_, bindparam, func
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from db.models import (
    Category,
    ConversationState,
    District,
    Event,
    EventTranslation,
    ItemStatus,
    Offer,
    OfferTranslation,
    Organisation,
    User,
)

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    page: int
    pages: int
    total: int

    @property
    def has_previous(self) -> bool:
        return self.page > 0

    @property
    def has_next(self) -> bool:
        return self.page + 1 < self.pages


LAST_SEEN_PRECISION = timedelta(hours=1)


def get_or_create_user(
    session: Session, *, transport: str, external_id: str, now: datetime, language_hint: str | None
) -> tuple[User, bool]:
    """Return the user behind a messenger id, creating them on first contact."""
    user = session.exec(
        select(User).where(User.transport == transport, User.external_id == external_id)
    ).first()
    return touch_user(
        session, user, transport=transport, external_id=external_id, now=now, hint=language_hint
    )


def touch_user(
    session: Session,
    user: User | None,
    *,
    transport: str,
    external_id: str,
    now: datetime,
    hint: str | None,
) -> tuple[User, bool]:
    """Note that someone wrote (creating them if `user` is None); return them and whether new."""
    created = user is None
    if user is None:
        user = User(transport=transport, external_id=external_id, created_at=now, last_seen_at=now)
        session.add(user)
    # Performance: `last_seen_at` only serves retention, which counts in days, so it is written
    # when it is an hour old rather than on every message: one UPDATE fewer for nearly every
    # update (benchmarks/RESULTS.md, "Update throughput").
    # Attributes are only assigned when they change: assigning even an equal value makes the
    # user "dirty", and the flush at the end then runs the whole unit of work for nothing.
    if created or now - user.last_seen_at >= LAST_SEEN_PRECISION:
        user.last_seen_at = now
    if not user.active:
        user.active = True  # whoever writes to us can be written to again
    if hint and user.consent_at is not None and user.language_hint != hint[:16]:
        user.language_hint = hint[:16]
    if created:
        session.flush()  # the new user's id, which their state needs
    return user, created


# Built once: run for every update, and building a statement costs SQLAlchemy several times what
# running a built one does (see db/inbox.py).
_USER_AND_STATE = (
    select(User, ConversationState)
    .outerjoin(ConversationState, col(ConversationState.user_id) == col(User.id))
    .where(User.transport == bindparam("transport"), User.external_id == bindparam("external_id"))
)


def user_and_state(
    session: Session, *, transport: str, external_id: str
) -> tuple[User | None, ConversationState | None]:
    """Return a person and their conversation state, read in one query (either may be None)."""
    found = session.execute(
        _USER_AND_STATE, {"transport": transport, "external_id": external_id}
    ).first()
    return (found[0], found[1]) if found is not None else (None, None)


def categories_with_offers(session: Session) -> list[tuple[Category, int]]:
    """Return every category with its number of published offers, in display order."""
    return _with_offer_counts(session, Category, Offer.category_id)


def districts_with_offers(session: Session) -> list[tuple[District, int]]:
    """Return every district with its number of published offers, in display order."""
    return _with_offer_counts(session, District, Offer.district_id)


def offers_without_district(session: Session) -> int:
    """Return how many published offers name no district (citywide, by phone or online)."""
    return int(
        session.exec(
            select(func.count(col(Offer.id))).where(
                Offer.status == ItemStatus.PUBLISHED, col(Offer.district_id).is_(None)
            )
        ).one()
    )


@cache
def _offer_counts_statement(model: type[Any], column: str) -> Any:
    """Every row of `model` with its number of published offers; built once per model."""
    offer_column = getattr(Offer, column)
    counts = (
        select(offer_column.label("target"), func.count(col(Offer.id)).label("n"))
        .where(Offer.status == ItemStatus.PUBLISHED)
        .group_by(offer_column)
        .subquery()
    )
    return (
        select(model, func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.target == model.id)
        .order_by(col(model.position), col(model.id))
    )


def _with_offer_counts(session: Session, model: type[T], offer_column: Any) -> list[tuple[T, int]]:
    rows = session.exec(_offer_counts_statement(model, offer_column.key)).all()
    return [(row, int(n)) for row, n in rows]


def upcoming_events_of(
    session: Session, *, organisation_ids: list[int | None], now: datetime, limit: int | None = None
) -> list[Event]:
    """Return the published, not yet started events of some organisations, soonest first."""
    query = (
        select(Event)
        .where(
            col(Event.organisation_id).in_(organisation_ids),
            Event.status == ItemStatus.PUBLISHED,
            col(Event.starts_at) > now,
        )
        .order_by(col(Event.starts_at))
    )
    return list(session.exec(query.limit(limit) if limit else query).all())


def _page_of(
    session: Session,
    query: SelectOfScalar[Any],
    count_query: SelectOfScalar[int],
    params: dict[str, Any],
    *,
    page: int,
    size: int,
) -> Page[Any]:
    """One page of `query`, built once with `params` as its parameters (see `_PAGED`)."""
    total = int(session.exec(count_query, params=params).one())
    pages = max(1, -(-total // size))
    page = min(max(page, 0), pages - 1)
    items = list(session.exec(query, params={**params, "offset": page * size, "limit": size}).all())
    return Page(items=items, page=page, pages=pages, total=total)


# Performance: the lists are shown on nearly every press, so their statements are built once
# per shape (which filters apply) and run with the values as parameters; building a statement
# costs SQLAlchemy several times what running a built one does (see db/inbox.py).
_PAGED = {"offset": bindparam("offset"), "limit": bindparam("limit")}


@cache
def _offers_statements(
    category: bool, district: bool, without_district: bool
) -> tuple[SelectOfScalar[Offer], SelectOfScalar[int]]:
    conditions = [Offer.status == ItemStatus.PUBLISHED]
    if category:
        conditions.append(Offer.category_id == bindparam("category_id"))
    if district:
        conditions.append(Offer.district_id == bindparam("district_id"))
    if without_district:
        conditions.append(col(Offer.district_id).is_(None))
    query = (
        select(Offer)
        .where(*conditions)
        .order_by(col(Offer.title), col(Offer.id))
        .offset(_PAGED["offset"])
        .limit(_PAGED["limit"])
    )
    return query, select(func.count(col(Offer.id))).where(*conditions)


def published_offers(
    session: Session,
    *,
    category_id: int | None = None,
    district_id: int | None = None,
    without_district: bool = False,
    page: int,
    size: int,
) -> Page[Offer]:
    """Return one page of published offers, optionally of one category or district.

    With `without_district`, only the offers that name no district.
    """
    query, count_query = _offers_statements(
        category_id is not None, district_id is not None, without_district
    )
    params: dict[str, Any] = {}
    if category_id is not None:
        params["category_id"] = category_id
    if district_id is not None:
        params["district_id"] = district_id
    return _page_of(session, query, count_query, params, page=page, size=size)


def _still_on(now: datetime) -> Any:
    """Return the condition for a published event that has not ended yet."""
    return and_(
        Event.status == ItemStatus.PUBLISHED,
        func.coalesce(col(Event.ends_at), col(Event.starts_at)) >= now,
    )


def categories_with_events(session: Session, *, now: datetime) -> list[tuple[Category, int]]:
    """Return every category with its number of upcoming events, in display order."""
    counts = (
        select(col(Event.category_id).label("target"), func.count(col(Event.id)).label("n"))
        .where(_still_on(now))
        .group_by(col(Event.category_id))
        .subquery()
    )
    rows = session.exec(
        select(Category, func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.target == Category.id)
        .order_by(col(Category.position), col(Category.id))
    ).all()
    return [(row, int(n)) for row, n in rows]


@cache
def _events_statements(category: bool) -> tuple[SelectOfScalar[Event], SelectOfScalar[int]]:
    conditions = [_still_on(bindparam("now"))]
    if category:
        conditions.append(Event.category_id == bindparam("category_id"))
    query = (
        select(Event)
        .where(*conditions)
        .order_by(col(Event.starts_at), col(Event.id))
        .offset(_PAGED["offset"])
        .limit(_PAGED["limit"])
    )
    return query, select(func.count(col(Event.id))).where(*conditions)


def upcoming_events(
    session: Session, *, now: datetime, page: int, size: int, category_id: int | None = None
) -> Page[Event]:
    """Return one page of published events that have not ended yet, soonest first.

    With `category_id`, only the events of that topic.
    """
    query, count_query = _events_statements(category_id is not None)
    params: dict[str, Any] = {"now": now}
    if category_id is not None:
        params["category_id"] = category_id
    return _page_of(session, query, count_query, params, page=page, size=size)


def _translation_statement(translation: Any, item_id: Any) -> Any:
    """An item's translation into a locale that readers may see (reviewed, current), built once."""
    return select(translation).where(
        item_id == bindparam("item_id"),
        translation.locale == bindparam("locale"),
        col(translation.draft).is_(False),
        col(translation.outdated).is_(False),
    )


_OFFER_TRANSLATION = _translation_statement(OfferTranslation, col(OfferTranslation.offer_id))
_EVENT_TRANSLATION = _translation_statement(EventTranslation, col(EventTranslation.event_id))


def offer_translation(session: Session, *, offer_id: int, locale: str) -> OfferTranslation | None:
    """Return the offer's translation into `locale` that readers may see (reviewed, current)."""
    return session.exec(_OFFER_TRANSLATION, params={"item_id": offer_id, "locale": locale}).first()


def event_translation(session: Session, *, event_id: int, locale: str) -> EventTranslation | None:
    """Return the event's translation into `locale` that readers may see (reviewed, current)."""
    return session.exec(_EVENT_TRANSLATION, params={"item_id": event_id, "locale": locale}).first()


def _titles_statement(translation: Any, item_id: Any) -> Any:
    """Titles of items in a locale where readers may see a translation, built once."""
    return select(item_id, translation.title).where(
        item_id.in_(bindparam("ids", expanding=True)),
        translation.locale == bindparam("locale"),
        col(translation.draft).is_(False),
        col(translation.outdated).is_(False),
        translation.title != "",
    )


_OFFER_TITLES = _titles_statement(OfferTranslation, col(OfferTranslation.offer_id))
_EVENT_TITLES = _titles_statement(EventTranslation, col(EventTranslation.event_id))


def offer_titles(session: Session, *, offer_ids: list[int], locale: str) -> dict[int, str]:
    """Return the titles of these offers in `locale` where readers may see a translation."""
    if not offer_ids:
        return {}
    rows = session.execute(_OFFER_TITLES, {"ids": offer_ids, "locale": locale}).all()
    return {item_id: title for item_id, title in rows}


def event_titles(session: Session, *, event_ids: list[int], locale: str) -> dict[int, str]:
    """Return the titles of these events in `locale` where readers may see a translation."""
    if not event_ids:
        return {}
    rows = session.execute(_EVENT_TITLES, {"ids": event_ids, "locale": locale}).all()
    return {item_id: title for item_id, title in rows}


def is_empty(session: Session) -> bool:
    """Tell whether the city has no organisations yet (a fresh database)."""
    return session.exec(select(Organisation.id).limit(1)).first() is None
