"""Time the search at city scale on SQLite and PostgreSQL: the demo city plus 10,000 offers.

    .venv/bin/python benchmarks/search_bench.py [--offers 10000] [--repeat 10]
                                                [--postgresql [URL]] [--no-write]

Builds a throw-away database with the demo city and `--offers` generated offers (German texts
with English translations, like the demo's), indexes them, then runs every query of the search
table (tests/search_queries.py) `--repeat` times and reports each query's latency: the median
(p50) and the 95th percentile (p95), over all queries and for a few typical ones, and whether
the first five results are the same on both databases.

`--postgresql` also measures PostgreSQL: on URL (a server's maintenance database, with the right
to create databases), or without one on the throw-away server that `bash .ci/postgres` starts.
The figures go to benchmarks/search-results.json (unless `--no-write`), which `make bench`
puts into benchmarks/RESULTS.md. Nothing is asserted: the numbers are for comparing changes
on the same machine.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, insert, select, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: the project's packages beside it
    sys.path.insert(0, str(ROOT))

from bot.app import App  # noqa: E402
from bot.clock import FakeClock  # noqa: E402
from bot.config import load_settings  # noqa: E402
from db.engine import session_scope  # noqa: E402
from db.models import ItemStatus, Offer, OfferTranslation  # noqa: E402
from db.search import reindex_all, search  # noqa: E402
from tests.search_queries import CASES, precision_at_5  # noqa: E402

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
RESULTS = ROOT / "benchmarks" / "search-results.json"
BENCH_DATABASE = "engagebot_search_bench"
# A few typical queries shown one by one (all of the table's count in the totals).
SHOWN = (
    "deutschkurs",
    "Senioren Handi",
    "lesepatte",
    "Konigstrasse",
    "Kleiderkammer",
    "homework",
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


def build(url: str, offers: int, *, demo_loaded: bool = False) -> App:
    """Create the database at `url` with the demo city and `offers` generated offers."""
    settings = load_settings(_env_file=None, database_url=url, telegram_bot_token=None)
    app = App(settings, clock=FakeClock(NOW))
    if not demo_loaded:
        app.migrate()
        app.load_demo(only_if_empty=True)
    if not offers:
        return app
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
                "summary": f"Du unterstützt unser Team bei {de_a} und {de_b} im Stadtteil.",
                "description": (
                    f"Wir suchen Menschen, die sich für {de_a} begeistern. Du hilfst einmal "
                    f"pro Woche, gern auch seltener. Erfahrung mit {de_b} ist willkommen, aber "
                    "nicht nötig. Wir begleiten dich am Anfang."
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


def percentile(values: list[float], share: float) -> float:
    """The value below which `share` of `values` lie (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def measure(app: App, repeat: int) -> dict[str, Any]:
    """Run every table query `repeat` times; return latencies and each query's first five."""
    samples: dict[str, list[float]] = {case.query: [] for case in CASES}
    top: dict[str, list[str]] = {}
    totals: dict[str, int] = {}
    with session_scope(app.engine) as session:
        search(session, "warm up", now=NOW)
    for _round in range(repeat):
        for case in CASES:
            with session_scope(app.engine) as session:
                start = time.perf_counter()
                page = search(session, case.query, now=NOW, size=5)
                samples[case.query].append((time.perf_counter() - start) * 1000)
            top[case.query] = [f"{hit.kind[0]}:{hit.id}" for hit in page.items]
            totals[case.query] = page.total
    everything = [ms for values in samples.values() for ms in values]
    return {
        "p50": statistics.median(everything),
        "p95": percentile(everything, 0.95),
        "max": max(everything),
        "searches": len(everything),
        "queries": {
            query: {
                "p50": statistics.median(values),
                "p95": percentile(values, 0.95),
                "results": totals[query],
            }
            for query, values in samples.items()
        },
        "top": top,
    }


def quality(app: App) -> dict[str, Any]:
    """How right the table's answers are over the demo city alone: best first, precision at 5."""
    scores, best_first = [], 0
    for case in CASES:
        with session_scope(app.engine) as session:
            page = search(session, case.query, now=NOW, size=5)
        found = [f"{hit.kind[0]}:{hit.id}" for hit in page.items]
        best_first += (found[0] if found else None) in (case.best or (None,))
        scores.append(precision_at_5(case, found))
    return {
        "best_first": best_first,
        "precision_at_5": sum(scores) / len(scores),
        "without_wrong": sum(score == 1.0 for score in scores),
    }


def run_one(url: str, offers: int, repeat: int, label: str) -> dict[str, Any]:
    start = time.perf_counter()
    demo = build(url, 0)
    try:
        judged = quality(demo)
    finally:
        demo.close()
    print(
        f"{label}: demo city, best result first for {judged['best_first']} of {len(CASES)}, "
        f"precision at 5 {judged['precision_at_5']:.3f}"
    )
    app = build(url, offers, demo_loaded=True)
    try:
        built = time.perf_counter() - start
        with session_scope(app.engine) as session:
            start = time.perf_counter()
            documents = reindex_all(session)
        indexed = time.perf_counter() - start
        print(
            f"{label}: built in {built:.1f} s, {documents:,} documents indexed in {indexed:.1f} s"
        )
        figures = measure(app, repeat)
    finally:
        app.close()
    return {"build_s": built, "index_s": indexed, "documents": documents, **judged} | figures


@contextmanager
def postgresql_database(admin_url: str | None) -> Iterator[str]:
    """A fresh database on the given server, or on the one `bash .ci/postgres` starts."""
    if admin_url is None:
        admin_url = subprocess.run(
            ["bash", str(ROOT / ".ci" / "postgres")], check=True, capture_output=True, text=True
        ).stdout.strip()
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f"DROP DATABASE IF EXISTS {BENCH_DATABASE}"))
            connection.execute(text(f"CREATE DATABASE {BENCH_DATABASE}"))
        yield make_url(admin_url).set(database=BENCH_DATABASE).render_as_string(False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f"DROP DATABASE IF EXISTS {BENCH_DATABASE} WITH (FORCE)"))
        admin.dispose()


def main(argv: list[str] | None = None) -> int:
    """Build the databases, time the queries, print the figures and write them."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--offers", type=int, default=10_000, help="generated offers to add")
    parser.add_argument("--repeat", type=int, default=10, help="runs of each query")
    parser.add_argument(
        "--postgresql",
        nargs="?",
        const="",
        default=None,
        metavar="URL",
        help="also on PostgreSQL (a server's URL, or none for .ci/postgres's)",
    )
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    results: dict[str, Any] = {
        "offers": args.offers,
        "repeat": args.repeat,
        "queries": len(CASES),
        "when": datetime.now(UTC).isoformat(timespec="minutes"),
    }
    with tempfile.TemporaryDirectory() as folder:
        results["sqlite"] = run_one(
            f"sqlite:///{Path(folder) / 'bench.db'}", args.offers, args.repeat, "SQLite"
        )
    if args.postgresql is not None:
        with postgresql_database(args.postgresql or None) as url:
            results["postgresql"] = run_one(url, args.offers, args.repeat, "PostgreSQL")
        tops = results["sqlite"]["top"], results["postgresql"]["top"]
        results["same_top_five"] = sum(tops[0][q] == tops[1][q] for q in tops[0])
    print_table(results)
    if not args.no_write:
        RESULTS.write_text(json.dumps(results, indent=1, ensure_ascii=False), encoding="utf-8")
        print(f"wrote {RESULTS.relative_to(ROOT)}")
    return 0


def print_table(results: dict[str, Any]) -> None:
    databases = [name for name in ("sqlite", "postgresql") if name in results]
    print(f"{'query':24}" + "".join(f" {name + ' p50/p95 ms':>26}" for name in databases))
    for query in (*SHOWN, "all"):
        cells = []
        for name in databases:
            figures = results[name] if query == "all" else results[name]["queries"][query]
            cells.append(f"{figures['p50']:9.1f} / {figures['p95']:6.1f}")
        print(f"{query:24}" + "".join(f" {cell:>26}" for cell in cells))
    if "same_top_five" in results:
        print(f"the same first five on both: {results['same_top_five']} of {results['queries']}")


if __name__ == "__main__":
    sys.exit(main())
