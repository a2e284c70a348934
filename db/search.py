"""Full-text search over offers and events: in every language, typo-tolerant, best matches first.

Every offer and event has one row in `search_documents`: its titles (original and every
translation) and the rest of its words (summaries, descriptions, topic and district names in all
languages, organisation, place and address), folded: lower case, no diacritics, "ä", "ae" and
"a" alike, "ß" as "ss", one spelling for the letter variants of Arabic and Farsi. Their
distinct words make the vocabulary (`db.search_words`).

Ranking, the same on every database:
- A query word earns most as a whole word, less as a word's beginning, less again inside a
  longer word (five letters or more: compounds); in the titles twice what it earns elsewhere
  (TITLE_WEIGHTS, BODY_WEIGHTS).
- A query word found in no document is taken for a typo: it is replaced by the most similar
  words of the vocabulary, each worth its similarity. A word found somewhere is never
  corrected, so an exact match always beats a near one.
- Documents with more of the query's words come first; among those, the ones the reader can
  read in their language (written in it, or translated into it), then higher scores, then
  shorter titles, then kind and id. Those below half the best (counting only their share of
  the query's words) are dropped.

The databases only find the documents that hold a query word: SQLite through an FTS5 table
with the trigram tokenizer (migration 0004, kept in step by triggers), PostgreSQL through a GIN
trigram index over the same folded text, which `LIKE` uses (migration 0008), other databases by
reading every document. Every document found is scored here, in Python, so SQLite and PostgreSQL
give the same results in the same order, however many documents there are.

The index follows the data by itself: a session that adds, changes or deletes offers, events,
their translations, topics, districts or organisations refreshes the affected documents when it
commits. Bulk writes that bypass the ORM call `reindex_item` or `reindex_all` themselves.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy import Connection, bindparam, event, inspect, text
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Session, select

from db import search_words
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
MAX_RESULTS = 50
# What a query word earns where it is found: a whole word, a word's beginning, inside a word;
# in the titles, and in the rest. A correction of a mistyped word earns its share of these.
TITLE_WEIGHTS = (100, 80, 55)
BODY_WEIGHTS = (50, 40, 25)
SCORE_SCALE = 100 * TITLE_WEIGHTS[0]  # an exact whole word in a title scores 1.0 for that word
RELATIVE_CUTOFF = 0.5  # results scoring below half the best one are noise
MIN_INFIX = 5  # shorter query words count only whole or as a word's beginning
MIN_FUZZY = 4  # shorter query words are never corrected

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
    tables = (DOCUMENTS_TABLE, FTS_TABLE, search_words.WORDS_TABLE, search_words.WORDS_FTS)
    return bool(name) and (
        name in tables or str(name).startswith((f"{FTS_TABLE}_", f"{search_words.WORDS_FTS}_"))
    )


def _write(session: Session, kind: Kind, item_id: int, document: tuple[str, str] | None) -> None:
    table = DOCUMENTS
    where = (table.c.kind == kind) & (table.c.item_id == item_id)
    if document is None:
        session.execute(sa.delete(table).where(where))
        return
    title, body = document
    if search_words.has_table(session):
        search_words.add_words(session, (title + body).split())
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
    if search_words.has_table(session):
        search_words.replace_words(
            session, (word for row in rows for word in (row["title"] + row["body"]).split())
        )
    if uses_fts(session):
        session.execute(text(f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('optimize')"))
    elif session.connection().dialect.name == "postgresql":
        _tidy_postgresql(session)
    return len(rows)


def _tidy_postgresql(session: Session) -> None:
    """After a rebuild, move the trigram indexes' new entries out of their pending lists (which
    every search would otherwise read through, ten times slower at 10,000 offers) and give the
    planner fresh statistics; autovacuum does both eventually."""
    for table, index in (
        (DOCUMENTS_TABLE, "ix_search_documents_trigrams"),
        (search_words.WORDS_TABLE, "ix_search_words_trigrams"),
    ):
        exists = session.execute(text("SELECT to_regclass(:index)"), {"index": index}).scalar()
        if exists is not None:
            session.execute(
                text("SELECT gin_clean_pending_list(CAST(:index AS regclass))"), {"index": index}
            )
        session.execute(text(f"ANALYZE {table}"))


def ensure_index(session: Session) -> int:
    """Build the index if it is empty but there are offers or events; return documents written."""
    if not _has_index_tables(session.connection()):
        return 0
    if session.execute(sa.select(DOCUMENTS.c.id).limit(1)).first() is not None:
        if search_words.has_table(session) and search_words.is_empty(session):
            # A database migrated from before the vocabulary: its words, from the documents.
            texts = session.execute(sa.select(DOCUMENTS.c.title, DOCUMENTS.c.body)).all()
            search_words.replace_words(session, (w for t, b in texts for w in (t + b).split()))
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
    """A search query prepared for matching: its folded words, without stop words."""

    words: tuple[str, ...]


def prepare(query: str) -> Query:
    """Fold a typed query into the words worth searching for (none for "?!" or "what is this")."""
    words: list[str] = []
    for word in fold(query[:MAX_QUERY_CHARS]).split():
        if (len(word) < 2 and not word.isdigit()) or word in STOPWORDS or word in words:
            continue
        words.append(word[:32])
    return Query(tuple(words[:MAX_WORDS]))


@dataclass(frozen=True)
class _Term:
    """A word to look for on behalf of one query word: the word itself, or a correction of it
    worth `percent` of an exact match."""

    word: str
    percent: int = 100

    @property
    def infix(self) -> bool:
        """Whether the word also counts inside a longer word (a compound's second half)."""
        return self.percent == 100 and len(self.word) >= MIN_INFIX


def _visible_filter(alias: str) -> str:
    return (
        f"(({alias}.kind = 'offer' AND EXISTS (SELECT 1 FROM offers o WHERE o.id = {alias}.item_id"
        f" AND o.status = :published))"
        f" OR ({alias}.kind = 'event' AND EXISTS (SELECT 1 FROM events e WHERE e.id = "
        f"{alias}.item_id AND e.status = :published AND coalesce(e.ends_at, e.starts_at) >= :now)))"
    )


def _statement(sql: str) -> Any:
    return text(sql).bindparams(bindparam("now", type_=UTCDateTime()))


def _source(mode: Literal["fts", "like"], terms: list[_Term]) -> tuple[str, dict[str, Any]]:
    """FROM and WHERE of the visible documents holding any of `terms`: found through SQLite's
    FTS5 index, or through LIKE, which PostgreSQL answers from its trigram index (migration
    0008) and other databases by reading every document."""
    patterns = [term.word if term.infix else f" {term.word}" for term in terms]
    params = {f"p{i}": pattern for i, pattern in enumerate(patterns)}
    if mode == "fts":
        match = " OR ".join('"' + p.replace('"', '""') + '"' for p in patterns)
        return (
            f"FROM {FTS_TABLE} JOIN {DOCUMENTS_TABLE} d ON d.id = {FTS_TABLE}.rowid "
            f"WHERE {FTS_TABLE} MATCH :match AND {_visible_filter('d')}",
            {"match": match},
        )
    found = " OR ".join(f"(d.title || d.body) LIKE :p{i}" for i in range(len(patterns)))
    like = {name: f"%{pattern}%" for name, pattern in params.items()}
    return f"FROM {DOCUMENTS_TABLE} d WHERE ({found}) AND {_visible_filter('d')}", like


def _term_scorer(term: _Term) -> Callable[[str, str], int]:
    """What one term earns in one document (see TITLE_WEIGHTS), times its percentage."""
    whole, prefix, word, infix = f" {term.word} ", f" {term.word}", term.word, term.infix
    title_weights = [weight * term.percent for weight in TITLE_WEIGHTS]
    body_weights = [weight * term.percent for weight in BODY_WEIGHTS]

    def score(title: str, body: str) -> int:
        for text_, weights in ((title, title_weights), (body, body_weights)):
            if prefix in text_:
                return weights[0] if whole in text_ else weights[1]
            if infix and word in text_:
                return weights[2]
        return 0

    return score


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
    locale: str | None = None,
    portable: bool | None = None,
) -> Page[Hit]:
    """Find published offers and upcoming published events for `query`, best matches first,
    those in the reader's `locale` before others that match as many of the query's words.

    `portable` forces the LIKE search (True) or the full-text index (False); by default the
    index is used where it exists.
    """
    prepared = prepare(query)
    hits = (
        _ranked(session, prepared, now=now, portable=portable, locale=locale)
        if prepared.words
        else []
    )
    total = len(hits)
    pages = max(1, -(-total // size))
    page = min(max(page, 0), pages - 1)
    return Page(items=hits[page * size : (page + 1) * size], page=page, pages=pages, total=total)


def _mode(session: Session, portable: bool | None) -> Literal["fts", "like"]:
    return "fts" if not portable and uses_fts(session) else "like"


Document = tuple[str, int, str, str]  # kind, item id, folded title, folded body


def _documents(
    session: Session, mode: Literal["fts", "like"], terms: list[_Term], now: datetime
) -> list[Document]:
    """Every visible document that holds one of `terms` somewhere."""
    if not terms:
        return []
    source, params = _source(mode, terms)
    params |= {"now": now, "published": ItemStatus.PUBLISHED.value}
    statement = _statement(f"SELECT d.kind, d.item_id, d.title, d.body {source}")
    return [tuple(row) for row in session.execute(statement, params)]  # type: ignore[misc]


def _word_scores(documents: list[Document], group: list[_Term]) -> list[int]:
    """What one query word earns in each document: the best of its terms."""
    scorers = [_term_scorer(term) for term in group]
    if not scorers:  # a mistyped word with nothing like it
        return [0] * len(documents)
    if len(scorers) == 1:
        (scorer,) = scorers
        return [scorer(title, body) for _kind, _id, title, body in documents]
    return [max(s(title, body) for s in scorers) for _kind, _id, title, body in documents]


def _readable(session: Session, locale: str, keys: list[tuple[str, int]]) -> set[tuple[str, int]]:
    """The items among `keys` written in `locale` or translated into it."""
    found: set[tuple[str, int]] = set()
    for kind, model, translation, owner in (
        ("offer", Offer, OfferTranslation, OfferTranslation.offer_id),
        ("event", Event, EventTranslation, EventTranslation.event_id),
    ):
        ids = [item_id for k, item_id in keys if k == kind]
        if not ids:
            continue
        written = select(model.id).where(model.id.in_(ids), model.locale == locale)
        translated = select(owner).where(owner.in_(ids), translation.locale == locale)
        found.update((kind, item_id) for (item_id,) in session.execute(written.union(translated)))
    return found


def _ranked(
    session: Session,
    query: Query,
    *,
    now: datetime,
    portable: bool | None,
    locale: str | None = None,
) -> list[Hit]:
    """Rank the visible documents for `query` by the rules in the module's notes.

    Every document holding a query word is scored here, in Python, so the order is the same on
    every database; the databases only find the documents, through their indexes.
    """
    mode = _mode(session, portable)
    words = query.words
    documents = _documents(session, mode, [_Term(word) for word in words], now)
    columns = [_word_scores(documents, [_Term(word)]) for word in words]
    corrected: dict[int, list[_Term]] = {}
    for i, word in enumerate(words):
        if len(word) >= MIN_FUZZY and not any(columns[i]):  # found nowhere: a typo?
            corrected[i] = [_Term(w, pct) for w, pct in search_words.corrections(session, word)]
    more = [term for group in corrected.values() for term in group]
    if more:
        known = {(kind, item_id) for kind, item_id, _title, _body in documents}
        added = [d for d in _documents(session, mode, more, now) if (d[0], d[1]) not in known]
        documents += added
        for i, column in enumerate(columns):
            if i in corrected:
                columns[i] = _word_scores(documents, corrected[i])
            else:
                column += _word_scores(added, [_Term(words[i])])
    scored = []
    for n, (kind, item_id, title, _body) in enumerate(documents):
        each = [column[n] for column in columns]
        total = sum(each)
        if total:
            matched = len(each) - each.count(0)
            scored.append((-matched, -total, len(title), kind, item_id))
    if not scored:
        return []
    # A document that lacks some of the query's words counts only its share of them here.
    best = max(matched * total for matched, total, *_rest in scored)
    kept = [row for row in scored if row[0] * row[1] >= RELATIVE_CUTOFF * best]
    readable = _readable(session, locale, [(r[3], r[4]) for r in kept]) if locale else set()
    kept.sort(key=lambda r: (r[0], (r[3], r[4]) not in readable, *r[1:]))
    return [Hit(kind, item_id, -total / SCORE_SCALE) for _m, total, _l, kind, item_id in kept][
        :MAX_RESULTS
    ]


def query_plan(session: Session, query: str, *, now: datetime) -> list[str]:
    """Return SQLite's plan for the full-text search of `query`, one line per step."""
    source, params = _source("fts", [_Term(word) for word in prepare(query).words])
    params |= {"now": now, "published": ItemStatus.PUBLISHED.value}
    statement = _statement(f"EXPLAIN QUERY PLAN SELECT d.kind, d.item_id, d.title, d.body {source}")
    return [str(row[-1]) for row in session.execute(statement, params)]


def include_name(name: str | None, type_: str, _parent_names: Any) -> bool:
    """Leave the search tables out of Alembic's comparison of the database with the models."""
    return not (type_ == "table" and is_search_table(name))
