"""Time the search over many offers: index build, then typical queries, full-text and portable.

    .venv/bin/python benchmarks/search_bench.py [--offers 10000] [--repeat 20]

Builds a throw-away SQLite database with the demo city plus `--offers` generated offers (German
texts with English translations, like the demo's), indexes them, and prints how long each query
takes (median and slowest of `--repeat` runs) and how many results it finds. Nothing is
asserted: the numbers are for comparing changes on the same machine.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import insert, select

from bot.app import App
from bot.clock import FakeClock
from bot.config import load_settings
from db.engine import session_scope
from db.models import ItemStatus, Offer, OfferTranslation
from db.queries import Page
from db.search import Hit, query_plan, reindex_all, search

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
QUERIES = (
    "deutschkurs",
    "Senioren Handi",
    "lesepatte",
    "Konigstrasse",
    "Lautern",
    "Garten Kinder",
    "Kleiderkamer",
    "homework help",
    "помощь детям",
    "مساعدة الأطفال",
    "zzqxv",
)
TOPICS = (
    ("Garten", "garden"),
    ("Nachbarschaft", "neighbourhood"),
    ("Kinder", "children"),
    ("Senioren", "seniors"),
    ("Sport", "sport"),
    ("Musik", "music"),
    ("Umwelt", "environment"),
    ("Fahrrad", "bicycle"),
    ("Bibliothek", "library"),
    ("Tiere", "animals"),
    ("Computer", "computer"),
    ("Kunst", "art"),
    ("Reparatur", "repair"),
    ("Tafel", "food bank"),
    ("Kleiderkammer", "clothing store"),
    ("Hausaufgaben", "homework"),
)


def build(path: Path, offers: int) -> App:
    """Create the database with the demo city and `offers` generated offers."""
    app = App(load_settings(_env_file=None, database_url=f"sqlite:///{path}"), clock=FakeClock(NOW))
    app.migrate()
    app.load_demo(only_if_empty=True)
    rng = random.Random(2026)
    rows = []
    for n in range(offers):
        (de_a, en_a), (de_b, en_b) = rng.sample(TOPICS, 2)
        rows.append(
            {
                "organisation_id": 1 + n % 7,
                "category_id": 1 + n % 10,
                "district_id": 1 + n % 13,
                "source_id": f"bench-{n}",
                "title": f"{de_a} und {de_b}: Helferin oder Helfer gesucht ({n})",
                "summary": f"Sie unterstützen unser Team bei {de_a} und {de_b} im Stadtteil.",
                "description": (
                    f"Wir suchen Menschen, die sich für {de_a} begeistern. Sie helfen einmal "
                    f"pro Woche, gern auch seltener. Erfahrung mit {de_b} ist willkommen, aber "
                    "nicht nötig. Wir begleiten Sie am Anfang."
                ),
                "schedule": "Nach Absprache, meist nachmittags",
                "address": f"Musterstraße {n % 120 + 1}, 67655 Kaiserslautern",
                "status": ItemStatus.PUBLISHED,
                "created_at": NOW,
                "updated_at": NOW,
                "_en": (en_a, en_b),
            }
        )
    with session_scope(app.engine) as session:
        english = [row.pop("_en") for row in rows]
        session.execute(insert(Offer), rows)
        ids = dict(session.execute(select(Offer.source_id, Offer.id)).all())
        session.execute(
            insert(OfferTranslation),
            [
                {
                    "offer_id": ids[f"bench-{n}"],
                    "locale": "en",
                    "title": f"{a} and {b}: helper wanted ({n})",
                    "summary": f"You support our {a} and {b} team in the neighbourhood.",
                    "description": f"We are looking for people who enjoy {a} and {b}.",
                }
                for n, (a, b) in enumerate(english)
            ],
        )
    return app


def timed(function: Callable[[], Page[Hit]], repeat: int) -> tuple[float, float, int]:
    """Run `function` `repeat` times; return the median and slowest milliseconds and results."""
    times = []
    total = 0
    for _ in range(repeat):
        start = time.perf_counter()
        total = function().total
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), max(times), total


def main() -> None:
    """Build the database, index it, and print the timings."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--offers", type=int, default=10_000, help="generated offers to add")
    parser.add_argument("--repeat", type=int, default=20, help="runs of each query")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        app = build(Path(folder) / "bench.db", args.offers)
        print(
            f"built the database with {args.offers:,} extra offers in "
            f"{time.perf_counter() - start:.1f} s"
        )
        try:
            with session_scope(app.engine) as session:
                start = time.perf_counter()
                documents = reindex_all(session)
                print(
                    f"reindex_all: {documents:,} documents in {time.perf_counter() - start:.1f} s"
                )
            with session_scope(app.engine) as session:
                print("query plan:", " | ".join(query_plan(session, QUERIES[0], now=NOW)))
                print(f"{'query':24} {'full-text':>20} {'portable LIKE':>20}  results")
                for query in QUERIES:
                    fts = timed(
                        lambda q=query: search(session, q, now=NOW, portable=False), args.repeat
                    )
                    like = timed(
                        lambda q=query: search(session, q, now=NOW, portable=True),
                        max(1, args.repeat // 5),
                    )
                    print(
                        f"{query:24} {fts[0]:8.1f} ms (≤{fts[1]:6.1f}) "
                        f"{like[0]:8.1f} ms (≤{like[1]:6.1f})  {fts[2]}"
                    )
        finally:
            app.close()


if __name__ == "__main__":
    main()
