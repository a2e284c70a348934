"""Bring the database schema up to date with the migrations."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parent / "migrations"

# Performance: importing Alembic (with Mako and Pygments behind it) costs about 11 MB of memory
# for the life of the process and a tenth of a second, at every start. Nearly every start finds
# the schema up to date, so `upgrade` first compares the database's revision with the newest
# migration file and imports Alembic only when there is something to do (or anything is
# unusual: several heads, a file it cannot read). See benchmarks/RESULTS.md, "Start-up".
_REVISION = re.compile(r"^revision\s*(?::[^=\n]*)?=\s*['\"]([^'\"]+)['\"]", re.MULTILINE)
_DOWN_REVISION = re.compile(r"^down_revision\s*(?::[^=\n]*)?=\s*(.+)$", re.MULTILINE)
_QUOTED = re.compile(r"['\"]([^'\"]+)['\"]")


def alembic_config(engine: Engine) -> Config:
    """Return an Alembic configuration that works on `engine` without an ini file."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    return config


def head_revision() -> str | None:
    """Return the newest revision as the migration files name it; None if not exactly one."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        source = path.read_text(encoding="utf-8")
        revision, down = _REVISION.search(source), _DOWN_REVISION.search(source)
        if revision is None or down is None:
            return None
        revisions.add(revision.group(1))
        parents.update(_QUOTED.findall(down.group(1)))
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def is_up_to_date(engine: Engine) -> bool:
    """Tell whether the database is at the newest revision already."""
    head = head_revision()
    if head is None:
        return False
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return False
        current = {
            row[0] for row in connection.execute(text("SELECT version_num FROM alembic_version"))
        }
    return current == {head}


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate the database behind `engine` to `revision`."""
    if revision == "head" and is_up_to_date(engine):
        return
    from alembic import command

    config = alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
