"""What a running bot keeps in memory: libraries of features it does not use stay unloaded.

Every module and data file loaded at start-up stays resident for the life of the process
(benchmarks/RESULTS.md, "Start-up"), so the optional ones are imported where they are used.
"""

import json
import os
import subprocess
import sys
from pathlib import Path
from unittest import mock
from zoneinfo import ZoneInfo

from babel import localedata

from bot.app import App
from bot.config import SUPPORTED_LOCALES
from bot.i18n import Translations
from tests.conftest import START
from tests.dialog import Dialog

# Each of these belongs to a feature `engagebot run` with the console or Telegram alone never
# uses: migrations (only when the schema is behind), calendar files, posters and QR codes,
# machine translation, Matrix, Signal, PostgreSQL, catalog tools, the webhook server.
NOT_AT_START = (
    "alembic",
    "mako",
    "icalendar",
    "segno",
    "PIL",
    "deepl",
    "nio",
    "psycopg",
    "babel.messages.pofile",
    "aiohttp.web",
    "bot.ics",
    "bot.posters",
    "bot.catalogs",
    "bot.transports.signal",
    "bot.transports.matrix",
    "bot.transports.webhook",
)

# `engagebot run` in this interpreter, with the Telegram transport's modules imported too;
# the console ends at end of input, and then the test reads what was loaded.
RUN_THEN_LIST_MODULES = """
import json, sys
import bot.transports.telegram
from bot.cli import main
status = main(["run"])
print("\\nloaded:", json.dumps({"status": status, "modules": sorted(sys.modules)}))
"""


def test_engagebot_run_does_not_load_unused_features(tmp_path: Path, db_path: Path) -> None:
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT", "PYTHONPATH")
    env = {key: value for key, value in os.environ.items() if key in keep}
    env.update(DATABASE_URL=f"sqlite:///{db_path}", LOG_LEVEL="WARNING")
    done = subprocess.run(
        [sys.executable, "-c", RUN_THEN_LIST_MODULES],
        input="/start\n",
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.rpartition("\nloaded:")[2])
    assert found["status"] == 0
    assert "Deutsch" in done.stdout  # it did start and answer
    loaded = set(found["modules"])
    assert sorted(name for name in NOT_AT_START if name in loaded) == []


def test_translating_does_not_load_cldr_data_until_something_is_formatted() -> None:
    localedata.clear_caches()
    with mock.patch("babel.localedata.load", wraps=localedata.load) as load:
        translations = Translations(ZoneInfo("Europe/Berlin"))
        # What start-up does in every language: command words and the command menu.
        for code in SUPPORTED_LOCALES:
            assert translations.get(code)._("Choose your language:")
        assert load.call_count == 0
        assert translations.get("uk").date(START)
        assert {call.args[0] for call in load.call_args_list} == {"uk", "root"}


def test_the_language_picker_loads_no_other_languages_cldr_data(app: App) -> None:
    localedata.clear_caches()
    with mock.patch("babel.localedata.load", wraps=localedata.load) as load:
        # A newcomer is shown every language, each named in itself, and chooses Turkish.
        dialog = Dialog(app.conversation, user="picker", locale_hint="tr")
        shown = dialog.say("/start")
        assert "Українська" in str(shown) and "العربية" in str(shown)
        dialog.onboard("tr")
    assert {call.args[0] for call in load.call_args_list} <= {"tr", "root"}
