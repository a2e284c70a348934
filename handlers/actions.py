"""Action ids: short, stable strings such as `ev:42` that a button carries instead of its label.

A pressed button is user input: its id is parsed strictly against the registered shape and the
handler re-checks everything it refers to.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.messages import MAX_ACTION_BYTES

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,15}$")
_INT = re.compile(r"^(0|[1-9][0-9]{0,8})$")
_WORD = re.compile(r"^[a-z0-9_-]{1,32}$")


class BadAction(ValueError):
    """An action id that is malformed, unknown or of the wrong shape."""


@dataclass(frozen=True, slots=True)
class ParsedAction:
    name: str
    args: tuple[int | str, ...]


def action(name: str, *args: int | str) -> str:
    """Build an action id from its name and arguments."""
    if not _NAME.match(name):
        raise ValueError(f"bad action name {name!r}")
    parts = [name]
    for arg in args:
        text = str(arg)
        if not (_INT.match(text) if isinstance(arg, int) else _WORD.match(text)):
            raise ValueError(f"bad action argument {arg!r}")
        parts.append(text)
    built = ":".join(parts)
    if len(built.encode()) > MAX_ACTION_BYTES:
        raise ValueError(f"action id too long: {built!r}")
    return built


def parse_action(raw: str, shapes: dict[str, tuple[type, ...]]) -> ParsedAction:
    """Parse `raw` against the registered shapes, or raise BadAction."""
    if not raw or len(raw.encode("utf-8", "replace")) > MAX_ACTION_BYTES:
        raise BadAction("empty or too long")
    name, *parts = raw.split(":")
    shape = shapes.get(name)
    if shape is None or len(parts) != len(shape):
        raise BadAction(f"unknown action {name!r}")
    args: list[int | str] = []
    for part, kind in zip(parts, shape, strict=True):
        if kind is int:
            if not _INT.match(part):
                raise BadAction("not a number")
            args.append(int(part))
        else:
            if not _WORD.match(part):
                raise BadAction("not a word")
            args.append(part)
    return ParsedAction(name, tuple(args))
