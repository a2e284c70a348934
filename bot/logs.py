"""The process's logging: the operator's level for our own loggers, libraries kept quiet.

python-telegram-bot logs every update it fetches and every request it makes at DEBUG, with
the texts people wrote and their ids; httpx and httpcore log every request and its body's
progress; SQLAlchemy logs statements; matrix-nio logs people's Matrix ids and devices at INFO.
None of that belongs in an ordinary log, whatever LOG_LEVEL says: these libraries log at
WARNING and above unless the operator asks for their wire logging with LOG_WIRE=true (for
debugging a transport; the bot token stays redacted).
"""

from __future__ import annotations

import logging

# The libraries whose debug and info records carry what people wrote, their ids or requests.
WIRE_LOGGERS = ("telegram", "httpx", "httpcore", "hpack", "sqlalchemy", "nio", "aiohttp")
# Libraries that are merely chatty.
QUIET_LOGGERS = ("alembic", "apscheduler")


def configure_logging(level: str, *, wire: bool = False) -> None:
    """Log at `level`; keep the libraries' wire logging out unless `wire`."""
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    quiet = max(logging.WARNING, logging.getLevelName(level))
    for name in WIRE_LOGGERS:
        logging.getLogger(name).setLevel(level if wire else quiet)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(quiet)
