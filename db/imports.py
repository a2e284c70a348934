"""Import offers from CSV and events from an iCalendar feed, upserting by the source's id, so
importing the same file again changes nothing."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import true
from sqlmodel import Session, col, select

from db.attendance import event_changed
from db.models import Category, District, Event, ItemStatus, Offer, Organisation
from db.translations import FIELDS, mark_outdated

CSV_COLUMNS = ("source_id", "organisation", "category", "title")
OPTIONAL_COLUMNS = (
    "district",
    "summary",
    "description",
    "schedule",
    "place_name",
    "address",
    "latitude",
    "longitude",
    "contact",
)


class ImportError_(ValueError):
    """The file cannot be imported; the message says which line and why."""


@dataclass(frozen=True)
class ImportReport:
    created: int
    updated: int
    unchanged: int
    cancelled: int = 0
    archived: int = 0
    changes: tuple[str, ...] = ()
    # ("o" or "e", id) of the items this import created, for the followers' alerts
    new_items: tuple[tuple[str, int], ...] = ()


def import_file(
    session: Session,
    *,
    path: Path,
    now: datetime,
    tz: ZoneInfo,
    organisation_slug: str | None = None,
    prune: bool = False,
) -> ImportReport:
    """Import a .csv of offers or a .ics of events."""
    if path.suffix.lower() == ".csv":
        return import_offers_csv(session, text=decode_csv(path.read_bytes()), now=now)
    if path.suffix.lower() in (".ics", ".ical"):
        if not organisation_slug:
            raise ImportError_("an iCalendar feed needs --org, the organisation its events are of")
        return import_events_ics(
            session,
            data=path.read_bytes(),
            now=now,
            tz=tz,
            organisation_slug=organisation_slug,
            prune=prune,
        )
    raise ImportError_(f"{path.name}: only .csv (offers) and .ics (events) can be imported")


def decode_csv(data: bytes) -> str:
    """The text of a CSV file as spreadsheets save it: UTF-8 (with or without the byte order mark
    Excel writes), UTF-16 with a byte order mark ("Unicode text"), else Windows-1252, the
    encoding of Excel's plain "CSV" on Western European Windows."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise ImportError_("the file starts like UTF-16 but is not valid UTF-16") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ImportError_(
            f"line {line}: the file is neither UTF-8 nor Windows-1252; save it as CSV UTF-8"
        ) from None


def _separator(text: str) -> str:
    """The separator of the header line: comma, semicolon (German Excel) or tab."""
    header = text.split("\n", 1)[0]
    counts = {sep: header.count(sep) for sep in (",", ";", "\t")}
    best = max(counts, key=lambda sep: counts[sep])
    return best if counts[best] else ","


def _norm(text: str) -> str:
    return " ".join(text.split()).casefold()


def _by_slug(session: Session, model: type[Any], slug: str, line: int, what: str) -> Any:
    row = session.exec(select(model).where(model.slug == slug.strip())).first()
    if row is None:
        raise ImportError_(f"line {line}: unknown {what} {slug!r}")
    return row


def _organisation(session: Session, text: str, line: int) -> Organisation:
    """An organisation by its slug or its name, ignoring case."""
    wanted = _norm(text)
    rows = session.exec(select(Organisation).order_by(col(Organisation.slug))).all()
    for row in rows:
        if wanted in (_norm(row.slug), _norm(row.name)):
            return row
    valid = "; ".join(row.slug for row in rows)
    raise ImportError_(f"line {line}: unknown organisation {text.strip()!r}; valid: {valid}")


def _by_name(session: Session, model: type[Category] | type[District], text: str, line: int) -> Any:
    """A category or district by its slug or by its name in any language, ignoring case."""
    wanted = _norm(text)
    rows = session.exec(select(model).order_by(col(model.position), col(model.slug))).all()
    for row in rows:
        if _norm(row.slug) == wanted or wanted in {_norm(n) for n in row.names.values()}:
            return row
    what = "category" if model is Category else "district"
    valid = "; ".join(
        f"{row.slug} ({row.names['de']})" if row.names.get("de") else row.slug for row in rows
    )
    raise ImportError_(f"line {line}: unknown {what} {text.strip()!r}; valid: {valid}")


def import_offers_csv(session: Session, *, text: str, now: datetime) -> ImportReport:
    """Upsert offers from CSV text; comma, semicolon or tab separated, header in the first line."""
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=_separator(text))
    if reader.fieldnames:
        reader.fieldnames = [(name or "").strip().lower() for name in reader.fieldnames]
    missing = [c for c in CSV_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise ImportError_(
            f"line 1: missing columns: {', '.join(missing)} "
            f"(found: {', '.join(reader.fieldnames or []) or 'none'})"
        )
    created = updated = unchanged = 0
    new_items: list[tuple[str, int]] = []
    changes: list[str] = []
    for row in reader:
        line = reader.line_num
        source_id = (row.get("source_id") or "").strip()
        if not source_id or not (row.get("title") or "").strip():
            raise ImportError_(f"line {line}: source_id and title are required")
        organisation = _organisation(session, row.get("organisation") or "", line)
        category = _by_name(session, Category, row.get("category") or "", line)
        district = (
            _by_name(session, District, row["district"], line)
            if (row.get("district") or "").strip()
            else None
        )
        values = {
            "organisation_id": organisation.id,
            "category_id": category.id,
            "district_id": district.id if district else None,
            "title": (row.get("title") or "").strip()[:200],
            "summary": (row.get("summary") or "").strip()[:500],
            "description": (row.get("description") or "").strip()[:4000],
            "schedule": (row.get("schedule") or "").strip()[:300],
            "place_name": (row.get("place_name") or "").strip()[:200],
            "address": (row.get("address") or "").strip()[:300],
            "latitude": _float(row.get("latitude"), line),
            "longitude": _float(row.get("longitude"), line),
            "contact": (row.get("contact") or "").strip()[:300],
        }
        outcome, outdated = _upsert(session, Offer, source_id, values, now)
        created += outcome == "created"
        updated += outcome == "updated"
        unchanged += outcome == "unchanged"
        if outcome == "created":
            new_items.append(("o", _id_of(session, Offer, source_id)))
        if outdated:
            changes.append(_outdated_line(values["title"], outdated))
    return ImportReport(
        created, updated, unchanged, changes=tuple(changes), new_items=tuple(new_items)
    )


def import_events_ics(
    session: Session,
    *,
    data: bytes,
    now: datetime,
    tz: ZoneInfo,
    organisation_slug: str,
    prune: bool = False,
) -> ImportReport:
    """Upsert an organisation's events from an iCalendar feed by UID.

    A moved event or a new place tells the people going once, through the same path as an edit
    in the chat (their queued reminders are replaced by ones for the new time); STATUS:CANCELLED
    cancels the event and tells them; with `prune`, the organisation's imported events that are
    no longer in the feed are archived (people going to a future one are told it is cancelled).
    """
    from icalendar import Calendar

    organisation = _by_slug(session, Organisation, organisation_slug, 0, "organisation")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:  # iCalendar is UTF-8 (RFC 5545 3.1.4); some exporters write 1252
        text = data.decode("cp1252", errors="replace")
    try:
        calendar = Calendar.from_ical(text)
    except ValueError:
        raise ImportError_("not an iCalendar file: it must start with BEGIN:VCALENDAR") from None
    counts = dict.fromkeys(("created", "updated", "unchanged", "cancelled", "archived"), 0)
    changes: list[str] = []
    new_items: list[tuple[str, int]] = []
    seen: set[str] = set()
    for number, component in enumerate(calendar.walk("VEVENT"), start=1):
        uid = str(component.get("UID") or "").strip()
        start = component.get("DTSTART")
        if not uid or start is None:
            raise ImportError_(f"event {number}: UID and DTSTART are required")
        source_id = f"ics:{uid}"[:128]
        if source_id in seen or component.get("RECURRENCE-ID") is not None:
            # A changed occurrence of a recurring event repeats its UID; only the first
            # component of a UID is imported, else each import would move the event back and
            # forth and tell the people going twice.
            changes.append(f"skipped: event {number} repeats the UID {uid}")
            continue
        seen.add(source_id)
        end = component.get("DTEND")
        geo = component.get("GEO")
        try:
            starts_at = _aware(start.dt, tz)
            ends_at = _aware(end.dt, tz) if end is not None else None
        except (AttributeError, TypeError, ValueError):
            raise ImportError_(f"event {number} ({uid}): DTSTART or DTEND is not a date") from None
        values = {
            "organisation_id": organisation.id,
            "title": str(component.get("SUMMARY") or "").strip()[:200] or uid[:200],
            "description": str(component.get("DESCRIPTION") or "").strip()[:4000],
            "place_name": str(component.get("LOCATION") or "").strip()[:200],
            "starts_at": starts_at,
            "ends_at": ends_at,
            "all_day": not isinstance(start.dt, datetime),
            "latitude": float(geo.latitude) if geo is not None else None,
            "longitude": float(geo.longitude) if geo is not None else None,
        }
        cancelled = str(component.get("STATUS") or "").strip().upper() == "CANCELLED"
        existing = session.exec(select(Event).where(Event.source_id == source_id)).first()
        if cancelled:
            if existing is not None and existing.status == ItemStatus.PUBLISHED:
                existing.status = ItemStatus.CANCELLED
                existing.updated_at = now
                told = event_changed(session, event=existing, now=now, change="cancelled")
                counts["cancelled"] += 1
                changes.append(f"cancelled: {existing.title} ({told} going told)")
            else:
                counts["unchanged"] += 1
            continue
        before = (
            None
            if existing is None
            else {k: getattr(existing, k) for k in ("starts_at", "all_day", *PLACE_FIELDS)}
        )
        outcome, outdated = _upsert(session, Event, source_id, values, now)
        counts[outcome] += 1
        if outcome == "created":
            changes.append(f"new: {values['title']}")
            new_items.append(("e", _id_of(session, Event, source_id)))
        elif outcome == "updated" and existing is not None and before is not None:
            change = _event_change(before, existing)
            told = 0
            if change and existing.status == ItemStatus.PUBLISHED:
                told = event_changed(session, event=existing, now=now, change=change)
            changes.append(
                f"updated: {existing.title}" + (f" ({change}, {told} going told)" if change else "")
            )
        if outdated:
            changes.append(_outdated_line(values["title"], outdated))
    if prune and not seen:
        raise ImportError_(
            "the feed has no events; --prune would archive all of "
            f"{organisation.slug}'s imported events, so nothing was changed"
        )
    if prune:
        gone = session.exec(
            select(Event).where(
                Event.organisation_id == organisation.id,
                col(Event.source_id).startswith("ics:"),
                col(Event.source_id).not_in(seen) if seen else true(),
                col(Event.status).in_((ItemStatus.PUBLISHED, ItemStatus.CANCELLED)),
            )
        ).all()
        for event in gone:
            told = 0
            if event.status == ItemStatus.PUBLISHED and event.starts_at > now:
                told = event_changed(session, event=event, now=now, change="cancelled")
            event.status = ItemStatus.ARCHIVED
            event.updated_at = now
            counts["archived"] += 1
            changes.append(f"archived, gone from the feed: {event.title} ({told} going told)")
    return ImportReport(**counts, changes=tuple(changes), new_items=tuple(new_items))


PLACE_FIELDS = ("place_name", "address", "latitude", "longitude")


def _event_change(before: dict[str, Any], event: Event) -> str | None:
    """ "time" or "place" if the event moved, the words an edit in the chat uses, else None."""
    if _utc(before["starts_at"]) != _utc(event.starts_at) or before["all_day"] != event.all_day:
        return "time"
    if any(before[k] != getattr(event, k) for k in PLACE_FIELDS):
        return "place"
    return None


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _aware(value: date | datetime, tz: ZoneInfo) -> datetime:
    if not isinstance(value, datetime):
        value = datetime.combine(value, time(0, 0))
    if value.tzinfo is None:
        value = value.replace(tzinfo=tz)
    return value.astimezone(ZoneInfo("UTC"))


def _float(text: str | None, line: int) -> float | None:
    if not (text or "").strip():
        return None
    try:
        return float(text.replace(",", "."))  # type: ignore[union-attr]
    except ValueError:
        raise ImportError_(f"line {line}: {text!r} is not a number") from None


def _id_of(session: Session, model: type[Offer] | type[Event], source_id: str) -> int:
    row_id = session.exec(select(model.id).where(model.source_id == source_id)).one()
    assert row_id is not None
    return row_id


def _outdated_line(title: str, locales: list[str]) -> str:
    return f"translations outdated: {title} ({', '.join(locales)}); readers see the original"


def _upsert(
    session: Session, model: type[Offer] | type[Event], source_id: str, values: dict, now: datetime
) -> tuple[str, list[str]]:
    """Create or update the item of `source_id`: "created", "updated" or "unchanged", and the
    locales of the translations a changed original text made outdated (as an edit in the chat
    does: readers of those languages see the original until a coordinator updates them)."""
    row = session.exec(select(model).where(model.source_id == source_id)).first()
    if row is None:
        session.add(
            model(
                source_id=source_id,
                status=ItemStatus.PUBLISHED,
                created_at=now,
                updated_at=now,
                published_at=now,
                **values,
            )
        )
        session.flush()
        return "created", []
    changed = {k: v for k, v in values.items() if getattr(row, k) != v}
    if not changed:
        return "unchanged", []
    for key, value in changed.items():
        setattr(row, key, value)
    row.updated_at = now
    texts = [name for name in FIELDS["o" if model is Offer else "e"] if name in changed]
    outdated = mark_outdated(session, item=row, field=texts[0]) if texts else []
    return "updated", outdated
