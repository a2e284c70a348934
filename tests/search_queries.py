"""Realistic queries over the demo city (db/demo/kaiserslautern.json), with the results a person
who typed them would want, in the seven languages of the bot.

Each case names the item that must come first (or several that may), and every item that is a
right answer: precision at 5 is the share of the first five results that are right answers.
Items are written as in the buttons: "o:N" for the N-th offer of the demo file, "e:N" for its
N-th event. A case without right answers expects no results at all.

Used by tests/test_search_table.py, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

from dataclasses import dataclass

# Every item at Königstraße 93 or named after it.
KOENIGSTRASSE = ("e:1", "o:1", "o:5", "o:10", "o:17", "e:6", "e:7")


@dataclass(frozen=True)
class Case:
    language: str
    query: str
    best: tuple[str, ...]  # one of these comes first
    right: tuple[str, ...] = ()  # the other right answers

    @property
    def answers(self) -> frozenset[str]:
        return frozenset(self.best) | frozenset(self.right)


def precision_at_5(case: Case, found: list[str]) -> float:
    """The share of the first five results that are right answers (1 for a rightly empty list)."""
    if not found:
        return 0.0 if case.answers else 1.0
    return sum(item in case.answers for item in found[:5]) / len(found[:5])


CASES: tuple[Case, ...] = (
    # German: words of titles, places, compounds, umlauts typed as ae/oe/ue or left out, ß as ss
    Case("de", "Konigstrasse", ("e:1",), KOENIGSTRASSE),
    Case("de", "Koenigstrasse", ("e:1",), KOENIGSTRASSE),
    Case("de", "Königstraße", ("e:1",), KOENIGSTRASSE),
    Case("de", "lesepatte", ("o:1",), ("e:7",)),  # typo
    Case("de", "Lesepate", ("o:1",), ("e:7",)),
    Case("de", "deutschkurs", ("e:3",), ("o:6", "o:7")),
    Case("de", "Senioren Handy", ("o:11",), ("o:10", "e:6")),
    Case("de", "Senioren Handi", ("o:11",), ("o:10", "e:6")),  # typo
    Case("de", "Hausaufgaben", ("o:2",)),
    Case("de", "Hausaufgabenhilfe", ("o:2",)),
    Case("de", "Fussball", ("o:14",), ("e:8",)),
    Case("de", "Repair Cafe", ("o:13", "e:4")),
    Case("de", "Gelterswoog", ("e:5",), ("o:15",)),
    Case("de", "Lauftreff", ("o:15",)),
    Case("de", "Wahlhelfer", ("o:18",)),
    Case("de", "Demokratie", ("e:1", "o:17"), ("o:18",)),
    Case("de", "Sprachcafe", ("o:6", "e:3"), ("o:7",)),
    Case("de", "Baumpate", ("o:12",)),
    Case("de", "Besuchsdienst", ("o:8",)),
    Case("de", "Einsamkeit", ("o:8",), ("o:9",)),
    Case("de", "lammchesberg", ("o:11",)),
    Case("de", "Behoerdengaenge", ("o:4",)),
    Case("de", "Kulturveranstaltung", ("o:16",)),
    Case("de", "Telefonpate", ("o:9",)),
    Case("de", "Grundschulkinder", ("o:2",)),
    Case("de", "Werkstatt", ("o:3",), ("e:4", "o:13", "o:2")),
    Case("de", "Ehrenamt kennenlernen", ("e:2",)),
    Case("de", "Sprachcaffe", ("o:6", "e:3"), ("o:7",)),  # typo
    Case("de", "Gelterswog", ("e:5",), ("o:15",)),  # typo
    Case("de", "Kleiderkammer", ()),  # the demo city has none
    # English
    Case("en", "homework", ("o:2",)),
    Case("en", "homwork", ("o:2",)),  # typo
    Case("en", "reading children", ("o:1", "e:7")),
    Case("en", "football coach", ("o:14",), ("e:8",)),
    Case("en", "language cafe", ("e:3", "o:6"), ("o:7",)),
    Case("en", "smartphone seniors", ("o:11",), ("o:10", "e:6")),
    Case("en", "tree sponsor", ("o:12",)),
    Case("en", "election helper", ("o:18",)),
    Case("en", "loneliness", ("o:8",), ("o:9",)),
    Case("en", "volunteering", ("e:2",)),
    Case("en", "running group", ("o:15",)),
    # Ukrainian, in Cyrillic
    Case("uk", "читання", ("o:1",), ("e:7",)),
    Case("uk", "допомога з домашніми завданнями", ("o:2",)),
    Case("uk", "футбол", ("o:14",), ("e:8",)),
    Case("uk", "мовне кафе", ("e:3",), ("o:6", "o:7")),
    Case("uk", "кафе демократії", ("e:1", "o:17")),
    Case("uk", "тренер", ("o:14", "e:8")),
    # Russian
    Case("ru", "помощь детям", ("o:2",), ("o:1", "o:14")),
    Case("ru", "чтение", ("o:1",), ("e:7",)),
    Case("ru", "ремонт", ("o:13",), ("e:4",)),
    Case("ru", "кафе демократии", ("e:1", "o:17")),
    Case("ru", "пожилых", ("o:10", "o:11"), ("e:6", "o:8")),
    # Arabic
    Case("ar", "مساعدة الأطفال", ("o:2",), ("o:1", "o:14")),
    Case("ar", "مقهى اللغة", ("e:3", "o:6"), ("o:7",)),
    Case("ar", "الديمقراطية", ("e:1", "o:17"), ("o:18",)),
    Case("ar", "كرة قدم", ("o:14",)),
    Case("ar", "التصليح", ("o:13", "e:4")),
    # Persian
    Case("fa", "کافه زبان", ("e:3", "o:6"), ("o:7",)),
    Case("fa", "دموکراسی", ("e:1", "o:17"), ("o:18",)),
    Case("fa", "فوتبال", ("o:14",)),
    Case("fa", "سالمندان", ("o:10", "o:11"), ("e:6", "o:8")),
    Case("fa", "تکالیف", ("o:2",)),
    # Turkish, with and without its letters
    Case("tr", "ödev yardımı", ("o:2",)),
    Case("tr", "odev yardimi", ("o:2",)),
    Case("tr", "demokrasi kafesi", ("e:1", "o:17")),
    Case("tr", "futbol", ("o:14",)),
    Case("tr", "kitap okuma", ("o:1",), ("e:7",)),
    Case("tr", "tamir", ("o:13",), ("e:4",)),
    # Nothing at all
    Case("en", "zzqxv", ()),
)
