"""Deep links that open an offer or event in the bot, from calendar files and posters."""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote

from bot.config import Settings

_PREFIXES = {"offer": "o", "o": "o", "event": "e", "e": "e"}
_GERMAN = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss"})


def start_payload(kind: str, item_id: int) -> str:
    """Return the deep-link payload that opens an item, such as "o_12" or "e_7"."""
    try:
        prefix = _PREFIXES[kind]
    except KeyError:
        raise ValueError(f"unknown kind {kind!r}; expected offer or event") from None
    if item_id < 1:
        raise ValueError("an item id is a positive number")
    return f"{prefix}_{item_id}"


def telegram_link(settings: Settings, payload: str) -> str | None:
    """Return the t.me link that opens `payload` in the bot, or None without a bot username."""
    if not settings.telegram_bot_username:
        return None
    return f"https://t.me/{settings.telegram_bot_username}?start={quote(payload, safe='_-')}"


def slug(text: str, *, fallback: str, limit: int = 40) -> str:
    """Turn a title into a file-name slug such as "demokratie-cafe-in-der-koenigstrasse"."""
    folded = unicodedata.normalize("NFKD", text.lower().translate(_GERMAN))
    ascii_only = folded.encode("ascii", "ignore").decode()
    words = re.sub(r"[^a-z0-9]+", "-", ascii_only).strip("-")
    if len(words) > limit:
        words = words[:limit].rsplit("-", 1)[0] if "-" in words[:limit] else words[:limit]
    return words or fallback


def parse_payload(payload: str) -> tuple[str, int] | None:
    """Parse "o_12" or "e_7" into ("offer", 12) or ("event", 7); None if it is neither."""
    match = re.fullmatch(r"([oe])_([1-9][0-9]{0,8})", payload.strip().lower())
    if match is None:
        return None
    return ("offer" if match.group(1) == "o" else "event"), int(match.group(2))
