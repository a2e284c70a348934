"""Load a city from a data file: organisations, topics, districts, offers and events.

Event dates in the file are relative ("in 9 days at 18:00", local time), so sample data never
goes stale. Loading is an upsert by slug and source id: loading the same file twice changes
nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session, select

from db.models import (
    Category,
    District,
    Event,
    EventTranslation,
    ItemStatus,
    Offer,
    OfferTranslation,
    Organisation,
)
from db.search import reindex_all

DEMO_FILE = Path(__file__).resolve().parent / "demo" / "kaiserslautern.json"


class CityDataError(ValueError):
    """The city file is not of the expected shape; the message says where."""


@dataclass(frozen=True)
class LoadReport:
    organisations: int
    categories: int
    districts: int
    offers: int
    events: int


def load_city(
    session: Session, *, path: Path = DEMO_FILE, now: datetime, tz: ZoneInfo
) -> LoadReport:
    """Upsert everything in the city file at `path`; event days count from `now` in `tz`."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise CityDataError(f"cannot read {path}: {exc}") from None
    try:
        organisations = {
            o["slug"]: _upsert(session, Organisation, o, slug=o["slug"])
            for o in data["organisations"]
        }
        categories = {
            c["slug"]: _upsert(session, Category, {**c, "position": i}, slug=c["slug"])
            for i, c in enumerate(data["categories"])
        }
        districts = {
            d["slug"]: _upsert(session, District, {**d, "position": i}, slug=d["slug"])
            for i, d in enumerate(data["districts"])
        }
        session.flush()
        for item in data["offers"]:
            offer = _upsert(
                session,
                Offer,
                _item_fields(item, organisations, categories, districts)
                | {
                    "schedule": item.get("schedule", ""),
                    "requirements": item.get("requirements", ""),
                    "contact": item.get("contact", ""),
                    "created_at": now,
                    "updated_at": now,
                    "published_at": now,
                },
                source_id=item["source_id"],
                keep=("created_at", "published_at"),
            )
            session.flush()
            for locale, texts in item.get("translations", {}).items():
                _upsert(session, OfferTranslation, texts, offer_id=offer.id, locale=locale)
        for item in data["events"]:
            starts = _local_start(now, tz, int(item["in_days"]), item["start_time"])
            minutes = item.get("duration_minutes")
            event = _upsert(
                session,
                Event,
                _item_fields(item, organisations, categories, districts)
                | {
                    "starts_at": starts,
                    "ends_at": starts + timedelta(minutes=int(minutes)) if minutes else None,
                    "capacity": item.get("capacity"),
                    "created_at": now,
                    "updated_at": now,
                    "published_at": now,
                },
                source_id=item["source_id"],
                keep=("created_at", "published_at"),
            )
            session.flush()
            for locale, texts in item.get("translations", {}).items():
                _upsert(session, EventTranslation, texts, event_id=event.id, locale=locale)
    except (KeyError, TypeError, ValueError) as exc:
        raise CityDataError(f"{path}: unexpected shape near {exc!r}") from None
    session.flush()
    reindex_all(session)
    return LoadReport(
        len(organisations),
        len(categories),
        len(districts),
        len(data["offers"]),
        len(data["events"]),
    )


def _local_start(now: datetime, tz: ZoneInfo, in_days: int, start_time: str) -> datetime:
    hours, minutes = (int(part) for part in start_time.split(":"))
    day = now.astimezone(tz).date() + timedelta(days=in_days)
    return datetime.combine(day, time(hours, minutes), tzinfo=tz).astimezone(ZoneInfo("UTC"))


def _item_fields(
    item: dict[str, Any], organisations: dict, categories: dict, districts: dict
) -> dict[str, Any]:
    district = item.get("district")
    return {
        "organisation_id": organisations[item["organisation"]].id,
        "category_id": categories[item["category"]].id if item.get("category") else None,
        "district_id": districts[district].id if district else None,
        "locale": item.get("locale", "de"),
        "title": item["title"],
        "summary": item.get("summary", ""),
        "description": item.get("description", ""),
        "place_name": item.get("place_name", ""),
        "address": item.get("address", ""),
        "latitude": item.get("latitude"),
        "longitude": item.get("longitude"),
        "status": ItemStatus.PUBLISHED,
    }


def _upsert(
    session: Session, model: type, fields: dict[str, Any], keep: tuple[str, ...] = (), **key: Any
) -> Any:
    """Find the row of `model` by `key` and update it with `fields`, or insert it."""
    conditions = [getattr(model, name) == value for name, value in key.items()]
    row = session.exec(select(model).where(*conditions)).first()
    columns = set(model.model_fields)
    values = {k: v for k, v in fields.items() if k in columns} | key
    if row is None:
        row = model(**values)
        session.add(row)
    else:
        for name, value in values.items():
            if name not in keep:
                setattr(row, name, value)
    return row
