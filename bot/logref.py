"""Name users in logs by a keyed hash, never by their messenger id."""

from __future__ import annotations

import hashlib
import hmac
import secrets


class UserRefs:
    """Turns (transport, user id) into a short keyed hash that is the same for the same user.

    With LOG_HASH_KEY set the hashes stay the same across restarts, so an operator can follow
    one user's trouble through the logs; without it a random key is made at each start.
    """

    def __init__(self, key: str = "") -> None:
        self._key = (key or secrets.token_hex(32)).encode()

    def __call__(self, transport: str, user_key: str) -> str:
        digest = hmac.new(self._key, f"{transport}:{user_key}".encode(), hashlib.sha256)
        return f"u:{digest.hexdigest()[:12]}"
