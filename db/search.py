"""Full-text search over offers and events: typo-tolerant, in every language, best matches first.

Every offer and event has one row in `search_documents`: its titles (original and every
translation) and the rest of its words (summaries, descriptions, topic and district names in all
languages, organisation, place and address), folded: lower case, no diacritics, "ä", "ae" and
"a" alike, "ß" as "ss", one spelling for the letter variants of Arabic and Farsi.

On SQLite an FTS5 table with the trigram tokenizer indexes those rows (kept in step by triggers,
see migration 0004). A query is split into words; each word's trigrams, with a space before and
after the word, are looked up in the index, so a typo costs only the few trigrams it touches.
The best candidates by bm25 are then scored in Python by how much of each query word they
contain as whole pieces, which keeps "code" from matching "oder" and "Stunde". On PostgreSQL
the candidates come from pg_trgm: the documents most similar to the query words by word
similarity, through a GIN trigram index over the same folded text (migration 0008), and where
these are few, the other documents holding any of the query's trigrams, as SQLite finds them.
Ties are broken in Python the same way on both (a bm25-like weight of the query's trigrams over
all documents, then kind and id), so the same query gives the same results on both databases
as long as both see the same candidates (always, in a city of fewer than 100 matches). Other
databases use a portable LIKE over the folded text.

The index follows the data by itself: a session that adds, changes or deletes offers, events,
their translations, topics, districts or organisations refreshes the affected documents when it
commits. Bulk writes that bypass the ORM call `reindex_item` or `reindex_all` themselves.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy import Connection, bindparam, event, inspect, text
from sqlalchemy.orm import Session as OrmSession
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
    UTCDateTime,
)
from db.queries import Page

Kind = Literal["offer", "event"]
FTS_TABLE = "search_index"
DOCUMENTS_TABLE = "search_documents"
# Not a model: the documents are derived data, written only here, created by migration 0004.
DOCUMENTS = sa.Table(
    DOCUMENTS_TABLE,
    sa.MetaData(),
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("kind", sa.String(8), nullable=False),
    sa.Column("item_id", sa.Integer, nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.UniqueConstraint("kind", "item_id", name="uq_search_documents_kind_item"),
)
MAX_QUERY_CHARS = 200
MAX_WORDS = 8
CANDIDATES = 100  # best-by-bm25 rows that get the finer scoring
MAX_RESULTS = 50
MIN_COVERAGE = 0.5  # share of a query word (with its spaces) found in pieces
RELATIVE_CUTOFF = 0.35  # results scoring below this share of the best one are noise
# PostgreSQL: a query word this similar to a document (pg_trgm's word similarity) makes it a
# candidate through the trigram index (see `_trigram_statement`).
MIN_SIMILARITY = 0.3

_KINDS: dict[str, Kind] = {"offer": "offer", "o": "offer", "event": "event", "e": "event"}

# Letters that several scripts or spellings write differently; folded to one.
_LETTERS = str.maketrans(
    {
        "ı": "i",
        "ø": "o",
        "æ": "ae",
        "œ": "oe",
        "đ": "d",
        "ł": "l",
        "þ": "th",
        # Ukrainian letters that Russian spells with its own
        "і": "и",
        "є": "е",
        "ґ": "г",
        # Arabic and Farsi variants of yeh, kaf, heh and teh marbuta
        "ى": "ي",
        "ی": "ي",
        "ک": "ك",
        "ة": "ه",
        "ە": "ه",
        "ۀ": "ه",
        # Arabic-Indic and Persian digits
        **{chr(0x0660 + n): str(n) for n in range(10)},
        **{chr(0x06F0 + n): str(n) for n in range(10)},
    }
)
# "ae", "oe", "ue" are how German is typed without umlauts; folded to the plain vowel, on both
# sides, so "Koenig", "König" and "Konig" meet.
_DIGRAPHS = re.compile(r"([aou])e")
_NOT_WORD = re.compile(r"[^\w]+|_+")

# Words that carry no meaning for a search, in every supported language: a question such as
# "what is this" or a greeting should not list half the city.
_STOPWORDS_RAW = """
der die das den dem des und oder ein eine einen einem einer ich du sie er es wir ihr mit fur
in im am an auf aus zu zum zur von vom bei ist sind was wie wo wer nicht auch noch ja nein
hallo hi hey bitte danke gibt mir mich suche
the a an and or of to in on at for with is are be what where how who i you we my me it this
that please hello thanks thank can do there any some
и в во на с со по для от до о об что как где кто я ты вы мы не это есть привет пожалуйста
спасибо здравствуйте
і й та в у на з із для від до про що як де хто я ти ви ми не це є привіт будь ласка дякую
في من على إلى الى عن مع و أو هل ما ماذا كيف أين انا أنا مرحبا السلام عليكم شكرا حالك
در از به با و یا که این آن چه چطور کجا من سلام لطفا ممنون است هست
ve veya ile bir bu şu ne nasıl nerede ben sen siz için de da merhaba lütfen teşekkürler var
"""


class _FoldTable(dict[int, str | None]):
    """A translation table, filled as characters are met: marks and format characters vanish,
    letter variants become one letter."""

    def __missing__(self, code: int) -> str | None:
        char = chr(code)
        if unicodedata.category(char) in ("Mn", "Cf") or char == "\u0640":  # and tatweel
            value = None
        else:
            value = _LETTERS.get(code, char)
        self[code] = value
        return value


_FOLD = _FoldTable()


def fold(value: str) -> str:
    """Fold text for matching: lower case, no accents, one spelling per letter, words only."""
    value = unicodedata.normalize("NFKC", value).casefold()
    value = _DIGRAPHS.sub(r"\1", value)
    if not value.isascii():
        value = unicodedata.normalize("NFKD", value).translate(_FOLD)
    return " ".join(_NOT_WORD.sub(" ", value).split())


STOPWORDS: frozenset[str] = frozenset(fold(_STOPWORDS_RAW).split())


def kind_of(kind: str) -> Kind:
    """Return "offer" or "event" for `kind` (also accepts "o" and "e"), or raise ValueError."""
    try:
        return _KINDS[kind]
    except KeyError:
        raise ValueError(f"unknown kind {kind!r}; expected offer or event") from None


# -- building documents ----------------------------------------------------------------------


def _padded(*parts: str | None) -> str:
    """Fold parts into one string of their distinct words, with a space before and after each.

    Matching asks only whether a word occurs, so repeats (a district named in seven languages,
    the city in every address) would only make the index bigger.
    """
    words = dict.fromkeys(fold(" ".join(part for part in parts if part)).split())
    return f" {' '.join(words)} " if words else ""


@dataclass(frozen=True)
class _Names:
    categories: dict[int, Category]
    districts: dict[int, District]
    organisations: dict[int, Organisation]


def _names(session: Session, items: Iterable[Offer | Event]) -> _Names:
    items = list(items)
    category_ids = {i.category_id for i in items if i.category_id is not None}
    district_ids = {i.district_id for i in items if i.district_id is not None}
    organisation_ids = {i.organisation_id for i in items}

    def load(model: Any, ids: set[int]) -> dict[int, Any]:
        if not ids:
            return {}
        return {row.id: row for row in session.exec(select(model).where(model.id.in_(ids)))}

    return _Names(
        load(Category, category_ids),
        load(District, district_ids),
        load(Organisation, organisation_ids),
    )


def _document(
    item: Offer | Event,
    translations: list[OfferTranslation] | list[EventTranslation],
    names: _Names,
) -> tuple[str, str]:
    """Return the folded title and body text of one item."""
    title = _padded(item.title, *(t.title for t in translations))
    body_parts: list[str | None] = [item.summary, item.description]
    for t in translations:
        body_parts.extend([t.summary, t.description])
    category = names.categories.get(item.category_id or -1)
    district = names.districts.get(item.district_id or -1)
    organisation = names.organisations.get(item.organisation_id)
    if category is not None:
        body_parts.extend(category.names.values())
    if district is not None:
        body_parts.extend(district.names.values())
    if organisation is not None:
        body_parts.append(organisation.name)
    body_parts.extend([item.place_name, item.address])
    if isinstance(item, Offer):
        # The original's only: translated schedules made typo matches of German words likelier.
        body_parts.extend([item.schedule, item.requirements])
    return title, _padded(*body_parts)


def _has_index_tables(connection: Connection) -> bool:
    return inspect(connection).has_table(DOCUMENTS_TABLE)


def is_search_table(name: str | None) -> bool:
    """Tell whether a table belongs to the search index (derived data, not a model)."""
    return bool(name) and (
        name in (DOCUMENTS_TABLE, FTS_TABLE) or str(name).startswith(f"{FTS_TABLE}_")
    )


def _write(session: Session, kind: Kind, item_id: int, document: tuple[str, str] | None) -> None:
    table = DOCUMENTS
    where = (table.c.kind == kind) & (table.c.item_id == item_id)
    if document is None:
        session.execute(sa.delete(table).where(where))
        return
    title, body = document
    found = session.execute(sa.select(table.c.id).where(where)).first()
    if found is None:
        session.execute(table.insert().values(kind=kind, item_id=item_id, title=title, body=body))
    else:
        session.execute(
            sa.update(table).where(table.c.id == found[0]).values(title=title, body=body)
        )


def reindex_item(session: Session, kind: str, id: int) -> None:
    """Refresh the search document of one offer or event (or drop it if the item is gone)."""
    kind = kind_of(kind)
    if not _has_index_tables(session.connection()):
        return
    model, translation, item_column = (
        (Offer, OfferTranslation, OfferTranslation.offer_id)
        if kind == "offer"
        else (Event, EventTranslation, EventTranslation.event_id)
    )
    item = session.get(model, id)
    if item is None:
        _write(session, kind, id, None)
        return
    translations = list(session.exec(select(translation).where(item_column == id)))
    _write(session, kind, id, _document(item, translations, _names(session, [item])))


def reindex_all(session: Session) -> int:
    """Rebuild every search document from the offers and events; return how many were written."""
    session.flush()
    session.info.pop(_PENDING, None)
    if not _has_index_tables(session.connection()):
        return 0
    offers = list(session.exec(select(Offer)))
    events = list(session.exec(select(Event)))
    names = _names(session, [*offers, *events])
    offer_texts: dict[int, list[OfferTranslation]] = defaultdict(list)
    for row in session.exec(select(OfferTranslation)):
        offer_texts[row.offer_id].append(row)
    event_texts: dict[int, list[EventTranslation]] = defaultdict(list)
    for row in session.exec(select(EventTranslation)):
        event_texts[row.event_id].append(row)
    rows: list[dict[str, Any]] = []
    for offer in offers:
        title, body = _document(offer, offer_texts[offer.id or 0], names)
        rows.append({"kind": "offer", "item_id": offer.id, "title": title, "body": body})
    for item in events:
        title, body = _document(item, event_texts[item.id or 0], names)
        rows.append({"kind": "event", "item_id": item.id, "title": title, "body": body})
    table = DOCUMENTS
    # On SQLite the triggers of migration 0003 carry every change on to the full-text index.
    session.execute(sa.delete(table))
    if rows:
        session.execute(table.insert(), rows)
    if uses_fts(session):
        session.execute(text(f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('optimize')"))
    return len(rows)


def ensure_index(session: Session) -> int:
    """Build the index if it is empty but there are offers or events; return documents written."""
    if not _has_index_tables(session.connection()):
        return 0
    if session.execute(sa.select(DOCUMENTS.c.id).limit(1)).first() is not None:
        return 0
    has_items = session.exec(select(Offer.id).limit(1)).first() is not None or (
        session.exec(select(Event.id).limit(1)).first() is not None
    )
    return reindex_all(session) if has_items else 0


# -- keeping the index current ---------------------------------------------------------------

_PENDING = "engagebot.search.pending"


@event.listens_for(OrmSession, "after_flush")
def _remember_changes(session: OrmSession, _context: Any) -> None:
    """Note which items a flush touched, so their documents are refreshed at commit."""
    pending: set[tuple[str, int]] = session.info.setdefault(_PENDING, set())
    changed = [obj for obj in session.dirty if session.is_modified(obj)]
    for obj in [*session.new, *changed, *session.deleted]:
        if isinstance(obj, Offer | Event) and obj.id is not None:
            pending.add(("offer" if isinstance(obj, Offer) else "event", obj.id))
        elif isinstance(obj, OfferTranslation):
            pending.add(("offer", obj.offer_id))
        elif isinstance(obj, EventTranslation):
            pending.add(("event", obj.event_id))
        elif isinstance(obj, Category | District | Organisation) and obj.id is not None:
            pending.add((type(obj).__name__.lower(), obj.id))
    if not pending:
        session.info.pop(_PENDING, None)


@event.listens_for(OrmSession, "before_commit")
def _refresh_changed(session: OrmSession) -> None:
    """Refresh the search documents of the items this session changed."""
    session.flush()
    pending: set[tuple[str, int]] = session.info.pop(_PENDING, set())
    if not pending or not isinstance(session, Session):
        return
    if not _has_index_tables(session.connection()):
        return
    items: set[tuple[Kind, int]] = set()
    for name, ident in pending:
        if name in ("offer", "event"):
            items.add((kind_of(name), ident))
            continue
        column = {"category": "category_id", "district": "district_id"}.get(name, "organisation_id")
        for model, kind in ((Offer, "offer"), (Event, "event")):
            ids = session.exec(select(model.id).where(getattr(model, column) == ident)).all()
            items.update((kind, i) for i in ids)
    for kind, ident in sorted(items):
        reindex_item(session, kind, ident)
    session.info.pop(_PENDING, None)


# -- searching -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Hit:
    kind: Kind
    id: int
    score: float


@dataclass(frozen=True)
class Query:
    """A search query prepared for matching: its words, each with a space before and after."""

    words: tuple[str, ...]

    @property
    def padded(self) -> tuple[str, ...]:
        return tuple(f" {word} " for word in self.words)

    def trigrams(self) -> list[str]:
        seen: dict[str, None] = {}
        for word in self.padded:
            for i in range(len(word) - 2):
                seen.setdefault(word[i : i + 3])
        return list(seen)


def prepare(query: str) -> Query:
    """Fold a typed query into the words worth searching for (none for "?!" or "what is this")."""
    words: list[str] = []
    for word in fold(query[:MAX_QUERY_CHARS]).split():
        if (len(word) < 2 and not word.isdigit()) or word in STOPWORDS or word in words:
            continue
        words.append(word[:32])
    return Query(tuple(words[:MAX_WORDS]))


def _pieces(word: str, haystack: str) -> tuple[int, int, int]:
    """Find `word` in `haystack` in up to three pieces of at least three characters.

    Return the characters covered, the length of the piece that starts the word (0 if none)
    and the length of the longest piece.
    """
    covered = leading = longest = 0
    spans = [(0, len(word))]
    for _round in range(3):
        best_start, best_len, best_span = 0, 0, -1
        for span_index, (lo, hi) in enumerate(spans):
            i = lo
            while i + max(3, best_len + 1) <= hi:
                n = max(3, best_len + 1)
                if word[i : i + n] in haystack:
                    while i + n < hi and word[i : i + n + 1] in haystack:
                        n += 1
                    best_start, best_len, best_span = i, n, span_index
                i += 1
        if best_len == 0:
            break
        covered += best_len
        longest = max(longest, best_len)
        if best_start == 0:
            leading = best_len
        lo, hi = spans.pop(best_span)
        spans.extend(s for s in ((lo, best_start), (best_start + best_len, hi)) if s[1] - s[0] >= 3)
        if not spans:
            break
    return covered, leading, longest


def _word_score(word: str, haystack: str) -> float:
    """Score how well a padded query word appears in `haystack`: 0, or its covered share."""
    if word in haystack:
        return 1.0
    if len(word) <= 4:  # words of one or two letters count only whole
        return 0.0
    covered, leading, longest = _pieces(word, haystack)
    share = covered / len(word)
    # A real match has a long piece: the start of the word, or five characters inside it.
    if share < MIN_COVERAGE or (leading < 4 and longest < 5):
        return 0.0
    return share


def _score(query: Query, title: str, body: str) -> tuple[int, float]:
    """Return how many query words a document matches and how well, titles counting more."""
    matched = 0
    total = 0.0
    everything = title + body
    for word in query.padded:
        in_all = _word_score(word, everything)
        if not in_all:
            continue
        matched += 1
        total += in_all + 0.5 * _word_score(word, title)
    return matched, total


def _visible_filter(alias: str) -> str:
    return (
        f"(({alias}.kind = 'offer' AND EXISTS (SELECT 1 FROM offers o WHERE o.id = {alias}.item_id"
        f" AND o.status = :published))"
        f" OR ({alias}.kind = 'event' AND EXISTS (SELECT 1 FROM events e WHERE e.id = "
        f"{alias}.item_id AND e.status = :published AND coalesce(e.ends_at, e.starts_at) >= :now)))"
    )


def _fts_sql() -> str:
    return (
        f"SELECT d.kind, d.item_id, d.title, d.body, bm25({FTS_TABLE}, 4.0, 1.0) AS rank "
        f"FROM {FTS_TABLE} JOIN {DOCUMENTS_TABLE} d ON d.id = {FTS_TABLE}.rowid "
        f"WHERE {FTS_TABLE} MATCH :match AND {_visible_filter('d')} "
        f"ORDER BY rank LIMIT :limit"
    )


def _statement(sql: str) -> Any:
    return text(sql).bindparams(bindparam("now", type_=UTCDateTime()))


def _fts_params(query: Query, now: datetime) -> dict[str, Any]:
    match = " OR ".join('"' + gram.replace('"', '""') + '"' for gram in query.trigrams())
    return {
        "match": match,
        "now": now,
        "published": ItemStatus.PUBLISHED.value,
        "limit": CANDIDATES,
    }


def _like_statement(query: Query) -> tuple[Any, dict[str, Any]]:
    grams = query.trigrams()
    params: dict[str, Any] = {f"g{i}": f"%{gram}%" for i, gram in enumerate(grams)}
    any_gram = " OR ".join(f"d.title LIKE :g{i} OR d.body LIKE :g{i}" for i in range(len(grams)))
    sql = (
        f"SELECT d.kind, d.item_id, d.title, d.body, 0 AS rank FROM {DOCUMENTS_TABLE} d "
        f"WHERE ({any_gram}) AND {_visible_filter('d')} ORDER BY d.id LIMIT :limit"
    )
    return _statement(sql), params


def _trigram_statement(query: Query) -> tuple[Any, dict[str, Any]]:
    """PostgreSQL: the documents that hold a query word, or most of it by pg_trgm's word
    similarity, found through the trigram index; best first, titles counting more.

    A document that holds the whole word needs no similarity: it scores 1 for it, so a common
    word costs a LIKE per document, and only the rest pay for pg_trgm's comparison.
    """
    words = range(len(query.words))
    params: dict[str, Any] = {f"w{i}": word for i, word in zip(words, query.words, strict=True)}
    params |= {f"e{i}": f"%{word}%" for i, word in zip(words, query.padded, strict=True)}
    text_of = "(d.title || d.body)"
    similar = ", ".join(
        f"CASE WHEN {text_of} LIKE :e{i} THEN 1.0 ELSE word_similarity(:w{i}, {text_of}) END"
        f" AS s{i}"
        for i in words
    )
    found = " OR ".join(f"{text_of} LIKE :e{i} OR :w{i} <% {text_of}" for i in words)
    matched = " + ".join(f"(m.s{i} >= {MIN_SIMILARITY})::int" for i in words)
    closeness = " + ".join(f"m.s{i} + 0.5 * (d.title LIKE :e{i})::int" for i in words)
    sql = (
        f"SELECT d.kind, d.item_id, d.title, d.body FROM {DOCUMENTS_TABLE} d "
        f"CROSS JOIN LATERAL (SELECT {similar} OFFSET 0) m "
        f"WHERE ({found}) AND {_visible_filter('d')} "
        f"ORDER BY {matched} DESC, {closeness} DESC, length(d.title) + length(d.body), "
        f"d.kind, d.item_id LIMIT :limit"
    )
    return _statement(sql), params


def uses_fts(session: Session) -> bool:
    """Tell whether this database has the SQLite full-text index (else LIKE is used)."""
    connection = session.connection()
    if connection.dialect.name != "sqlite":
        return False
    found = connection.execute(
        text("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = :name"),
        {"name": FTS_TABLE},
    ).first()
    return found is not None


def search(
    session: Session,
    query: str,
    *,
    now: datetime,
    page: int = 0,
    size: int = 5,
    portable: bool | None = None,
) -> Page[Hit]:
    """Find published offers and upcoming published events for `query`, best matches first.

    `portable` forces the LIKE search (True) or the full-text index (False); by default the
    index is used where it exists.
    """
    prepared = prepare(query)
    hits = _ranked(session, prepared, now=now, portable=portable) if prepared.words else []
    total = len(hits)
    pages = max(1, -(-total // size))
    page = min(max(page, 0), pages - 1)
    return Page(items=hits[page * size : (page + 1) * size], page=page, pages=pages, total=total)


def _rarity(session: Session, query: Query) -> dict[str, float]:
    """Weigh each trigram of the query by how rare it is among all documents (bm25's inverse
    document frequency): the documents holding it, counted alike on every database (through the
    full-text index where there is one)."""
    grams = query.trigrams()
    params: dict[str, Any] = {f"g{i}": f"%{gram}%" for i, gram in enumerate(grams)}
    if uses_fts(session):
        params = {f"g{i}": '"' + gram.replace('"', '""') + '"' for i, gram in enumerate(grams)}
        counts = ", ".join(
            f"(SELECT count(*) FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH :g{i})"
            for i in range(len(grams))
        )
        sql = f"SELECT (SELECT count(*) FROM {DOCUMENTS_TABLE}), {counts}"
    else:
        counts = ", ".join(
            f"sum(CASE WHEN title LIKE :g{i} OR body LIKE :g{i} THEN 1 ELSE 0 END)"
            for i in range(len(grams))
        )
        sql = f"SELECT count(*), {counts} FROM {DOCUMENTS_TABLE}"
    row = session.execute(text(sql), params).one()
    total = row[0]
    return {
        gram: math.log((total - (having or 0) + 0.5) / ((having or 0) + 0.5) + 1)
        for gram, having in zip(grams, row[1:], strict=True)
    }


def _relevance(grams: dict[str, float], title: str, body: str) -> float:
    """Order documents that score the same, as bm25 would: rarer trigrams weigh more, titles
    four times the rest, shorter documents first (`grams` maps each trigram to its weight).

    Computed here from the candidates' own text, so SQLite and PostgreSQL agree on it.
    """
    relevance = 0.0
    norm = 1.2 * (0.25 + 0.75 * (len(title) + len(body)) / 1000)
    for gram, weight in grams.items():
        tf = 4 * title.count(gram) + body.count(gram)
        if tf:
            relevance += weight * tf * 2.2 / (tf + norm)
    return relevance


def _ranked(session: Session, query: Query, *, now: datetime, portable: bool | None) -> list[Hit]:
    dialect = session.connection().dialect.name
    if portable is None:
        portable = dialect != "postgresql" and not uses_fts(session)
    published = {"now": now, "published": ItemStatus.PUBLISHED.value}
    if portable:
        statement, params = _like_statement(query)
        params |= published | {"limit": CANDIDATES * 10}
    elif dialect == "postgresql":
        return _scored(session, query, _trigram_candidates(session, query, published))
    else:
        statement, params = _statement(_fts_sql()), _fts_params(query, now)
    return _scored(session, query, session.execute(statement, params).all())


def _trigram_candidates(
    session: Session, query: Query, published: dict[str, Any]
) -> list[tuple[Any, ...]]:
    """PostgreSQL's candidates: the most similar documents by pg_trgm; if they are fewer than
    CANDIDATES, then also the others that hold any of the query's trigrams (shortest first).

    Our scoring accepts a word found in pieces spread over several of a document's words, where
    word similarity, which looks at one stretch of text, can be as low as 0.15; a threshold that
    low makes the index useless. So where few documents are similar, the rest are looked up the
    way SQLite's index finds them, and a small city gets exactly SQLite's candidates.
    """
    # `<%` holds where word_similarity reaches this threshold (for this transaction).
    session.execute(text(f"SET LOCAL pg_trgm.word_similarity_threshold = {MIN_SIMILARITY}"))
    statement, params = _trigram_statement(query)
    rows = list(session.execute(statement, params | published | {"limit": CANDIDATES}).all())
    if len(rows) >= CANDIDATES:
        return rows
    seen = {(row[0], row[1]) for row in rows}
    statement, params = _any_trigram_statement(query)
    more = session.execute(statement, params | published | {"limit": CANDIDATES + len(rows)})
    rows.extend(row for row in more if (row[0], row[1]) not in seen)
    return rows[:CANDIDATES]


def _any_trigram_statement(query: Query) -> tuple[Any, dict[str, Any]]:
    grams = query.trigrams()
    params: dict[str, Any] = {f"g{i}": f"%{gram}%" for i, gram in enumerate(grams)}
    any_gram = " OR ".join(f"(d.title || d.body) LIKE :g{i}" for i in range(len(grams)))
    sql = (
        f"SELECT d.kind, d.item_id, d.title, d.body FROM {DOCUMENTS_TABLE} d "
        f"WHERE ({any_gram}) AND {_visible_filter('d')} "
        f"ORDER BY length(d.title) + length(d.body), d.kind, d.item_id LIMIT :limit"
    )
    return _statement(sql), params


def _scored(session: Session, query: Query, candidates: Iterable[Any]) -> list[Hit]:
    """Score the candidates in Python and rank them: most query words matched, best score, then
    as bm25 would (see `_relevance`), then kind and id; the same on every database."""
    rows = [(r[0], r[1], r[2] or "", r[3] or "") for r in candidates]
    found = []
    for kind, item_id, title, body in rows:
        matched, score = _score(query, title, body)
        if matched:
            found.append((matched, score, kind, item_id, title, body))
    if not found:
        return []
    grams = _rarity(session, query)
    ranked = sorted(
        (-matched, -score, -_relevance(grams, title, body), kind, item_id)
        for matched, score, kind, item_id, title, body in found
    )
    best = -ranked[0][1]
    return [
        Hit(kind, item_id, -score)
        for _m, score, _r, kind, item_id in ranked[:MAX_RESULTS]
        if -score >= RELATIVE_CUTOFF * best
    ]


def query_plan(session: Session, query: str, *, now: datetime) -> list[str]:
    """Return SQLite's plan for the full-text search of `query`, one line per step."""
    statement = _statement(f"EXPLAIN QUERY PLAN {_fts_sql()}")
    rows = session.execute(statement, _fts_params(prepare(query), now)).all()
    return [str(row[-1]) for row in rows]


def include_name(name: str | None, type_: str, _parent_names: Any) -> bool:
    """Leave the search tables out of Alembic's comparison of the database with the models."""
    return not (type_ == "table" and is_search_table(name))
