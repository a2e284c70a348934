"""The process's logging: the operator's level for our own loggers, libraries kept quiet.

python-telegram-bot logs every update it fetches and every request it makes at DEBUG, with
the texts people wrote and their ids; httpx and httpcore log every request and its body's
progress; SQLAlchemy logs statements; matrix-nio logs people's Matrix ids and devices at INFO.
None of that belongs in an ordinary log, whatever LOG_LEVEL says: these libraries log at
WARNING and above unless the operator asks for their wire logging with LOG_WIRE=true (for
debugging a transport; the bot token stays redacted).
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any
from urllib.parse import quote

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


# -- secrets ---------------------------------------------------------------------------------

_SECRETS: set[str] = set()
_REDACTED = "<redacted>"


def hide_in_logs(secret: str) -> None:
    """Replace `secret` in every log record from now on, whichever library logs it."""
    if len(secret) < 4:
        return
    first = not _SECRETS
    _SECRETS.update({secret, quote(secret, safe="")})
    if first:
        make_record = logging.getLogRecordFactory()

        def redacting_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = make_record(*args, **kwargs)
            _redact(record)
            return record

        logging.setLogRecordFactory(redacting_factory)


def _redact(record: logging.LogRecord) -> None:
    # A record filter would only see records of the logger it is attached to; the record
    # factory sees every record before any handler formats it.
    with contextlib.suppress(Exception):
        message = record.getMessage()
        if any(secret in message for secret in _SECRETS):
            record.msg, record.args = _scrub(message), None
    if record.exc_info and record.exc_info[1] is not None:
        text = logging.Formatter().formatException(record.exc_info)
        if any(secret in text for secret in _SECRETS):
            # Formatters use exc_text when it is set instead of formatting the exception.
            record.exc_text = _scrub(text)


def _scrub(text: str) -> str:
    for secret in sorted(_SECRETS, key=len, reverse=True):
        text = text.replace(secret, _REDACTED)
    return text
