"""A 300-person announcement on Matrix reaches each person once under the homeserver's limit.

The real `engagebot run` against a real Synapse on 127.0.0.1 (tests/matrix_server.py, a server
of this module's own, logging every request it answers). Residents are registered through the
shared-secret admin API and each opens a direct room with the bot, by plain HTTP to the
Client-Server API (faster than one matrix-nio client each). The rooms are unencrypted, for
scale: encrypted rooms, the bot's crypto store and key sharing are covered by
tests/test_matrix.py. Each resident is a consented person in the bot's database, seeded
directly as the other crash tests do.

While the rooms are opened the bot's account may send freely; then Synapse's message limit for
it (rc_message, set for this one account through the admin API's "Override ratelimiting") is
set well below the pace the bot sends at (MATRIX_RATE=100, one message after another), and
`engagebot broadcast --audience all` queues the announcement. In the second form `engagebot run`
is killed with SIGKILL half way through it and started again at once, on the same database and
the same Matrix device.

What is asserted, in both forms:
- each resident's room holds the announcement exactly once, read from the room's /messages;
- Synapse answered the bot's sends with 429 (its access log), and the bot met M_LIMIT_EXCEEDED
  (outbox rows that waited with "rate limited");
- every outbox row of the announcement is sent after exactly one counted attempt: none dead,
  failed or dropped, the 429s not counted;
- the bot stayed one device, so a message the killed process had handed over without recording
  it goes again under the same transaction id, which Synapse de-duplicates (the figures count
  such resends from its log).

CHAOS_SCALE=short sends to 40 people, full (`make chaos`) to 300.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import time
import urllib.parse
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlmodel import select

from db.models import OutboxMessage
from tests.chaos.harness import add_people, outbox_counts, scaled, until
from tests.matrix_server import Synapse, start_server

pytestmark = [pytest.mark.chaos, pytest.mark.xdist_group("synapse")]

PEOPLE = scaled(40, 300)
# Synapse's limit for the bot's account during the announcement (rc_message, per account),
# and the bot's own pace, well above it: the homeserver must refuse some sends.
LIMIT_PER_SECOND = 4
LIMIT_BURST = 4
BOT_RATE = 100
MARKER = "Gelterswoog"
ANNOUNCEMENT = "Am Samstag putzen wir gemeinsam den Gelterswoog. Handschuhe gibt es vor Ort."
# Synapse's access log (synapse/http/site.py, "Processed request"): bytes sent, then the status
# code, then the request line; the bot's sends are PUT .../send/m.room.message/TXN.
SEND = re.compile(r'\s(\d{3})!? "PUT /_matrix/client/v3/rooms/[^/ ]+/send/m\.room\.message/(\S+) ')
THREADS = 8


@pytest.fixture(scope="module")
def synapse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synapse]:
    try:
        server = start_server(tmp_path_factory.mktemp("synapse"), access_log=True)
    except LookupError as exc:
        pytest.skip(str(exc))
    try:
        yield server
    finally:
        server.stop()


def open_direct_room(synapse: Synapse, token: str, bot: str) -> str:
    """Create a private room inviting the bot, as a client does a direct chat (unencrypted)."""
    answer = synapse._request(
        "POST",
        "/_matrix/client/v3/createRoom",
        {"preset": "trusted_private_chat", "is_direct": True, "invite": [bot]},
        token=token,
    )
    return answer["room_id"]


def announcements_in(synapse: Synapse, token: str, room_id: str, bot: str) -> list[int]:
    """The bot's messages in a room that carry the announcement: their origin_server_ts."""
    room = urllib.parse.quote(room_id)
    found: list[int] = []
    path = f"/_matrix/client/v3/rooms/{room}/messages?dir=b&limit=100"
    while True:
        page = synapse._request("GET", path, token=token)
        for event in page.get("chunk", []):
            body = event.get("content", {}).get("body", "")
            mine = event.get("type") == "m.room.message" and event.get("sender") == bot
            if mine and MARKER in body:
                found.append(int(event["origin_server_ts"]))
        end = page.get("end")
        if not end or not page.get("chunk"):
            return found
        path = f"/_matrix/client/v3/rooms/{room}/messages?dir=b&limit=100&from={end}"


def sends(synapse: Synapse) -> list[tuple[str, str]]:
    """Every message send Synapse answered so far: (status code, transaction id)."""
    log = synapse.folder / "homeserver.log"
    text = log.read_text(errors="replace") if log.exists() else ""
    return [(m[1], m[2]) for line in text.splitlines() if (m := SEND.search(line))]


def joined_rooms(synapse: Synapse, user_id: str) -> set[str]:
    quoted = urllib.parse.quote(user_id)
    answer = synapse._request(
        "GET", f"/_synapse/admin/v1/users/{quoted}/joined_rooms", token=synapse.admin_token
    )
    return set(answer.get("joined_rooms", []))


async def in_threads(pool: ThreadPoolExecutor, work: Any, items: list[Any]) -> list[Any]:
    loop = asyncio.get_running_loop()
    return await asyncio.gather(*(loop.run_in_executor(pool, work, item) for item in items))


@pytest.mark.parametrize("kill", [False, True], ids=["straight", "kill-9-midway"])
async def test_an_announcement_on_matrix_reaches_each_once_under_the_rate_limit(
    synapse, bots, figures, kill: bool
) -> None:
    bot_id, _token, password = synapse.register(f"bot{secrets.token_hex(4)}")
    synapse.lift_rate_limit(bot_id)  # free while the residents' rooms are opened
    bot = bots(
        settings={
            "matrix_homeserver": synapse.url,
            "matrix_user_id": bot_id,
            "matrix_password": password,
            "matrix_rate": BOT_RATE,
        },
    )
    await bot.prepare(demo=False)

    began = time.monotonic()
    prefix = secrets.token_hex(3)
    with ThreadPoolExecutor(THREADS) as pool:
        residents = await in_threads(
            pool, lambda n: synapse.register(f"r{prefix}-{n}")[:2], list(range(PEOPLE))
        )
        figures["residents registered (s)"] = time.monotonic() - began
        await bot.db(
            lambda s: add_people(
                s, transport="matrix", keys=[user for user, _ in residents], locale="de"
            )
        )
        run = await bot.start()
        ready = await until(lambda: "is receiving messages" in run.text(), timeout=60)
        assert ready is not None, bot.tails(40)

        began = time.monotonic()
        rooms = await in_threads(
            pool, lambda resident: open_direct_room(synapse, resident[1], bot_id), residents
        )
        joined = await until(
            lambda: set(rooms) <= joined_rooms(synapse, bot_id), timeout=PEOPLE + 60, interval=0.5
        )
        assert joined is not None, (
            f"the bot joined {len(set(rooms) & joined_rooms(synapse, bot_id))} of {PEOPLE} "
            f"rooms\n{bot.tails(40)}"
        )
        figures["rooms opened and joined (s)"] = time.monotonic() - began
        # The bot learns each room's members from its next sync, which its own joins wake.
        await asyncio.sleep(3)

        synapse.set_rate_limit(bot_id, per_second=LIMIT_PER_SECOND, burst=LIMIT_BURST)
        sends_before = len(sends(synapse))
        queued_at = time.time()
        printed = await bot.cli("broadcast", "--audience", "all", "--text", ANNOUNCEMENT)
        # Every row, whatever its status: the running bot may have claimed them all already.
        queued = sum(n for k, n in (await bot.outbox()).items() if k.startswith("broadcast/"))
        assert queued == PEOPLE, f"queued for {queued}, not {PEOPLE}: {printed}"

        def outbox_now() -> dict[str, int]:
            return {k: n for k, n in outbox_counts(bot.path).items() if k.startswith("broadcast/")}

        def done() -> bool:
            counts = outbox_now()
            unfinished = ("broadcast/pending", "broadcast/sending")
            return counts.get("broadcast/sent", 0) == PEOPLE or any(
                key not in unfinished and key != "broadcast/sent" for key in counts
            )

        def sent() -> int:
            return outbox_now().get("broadcast/sent", 0)

        expected = PEOPLE / LIMIT_PER_SECOND
        if kill:
            # kill -9 half way; the restarted process sends the rest, and what the killed one
            # had handed to Synapse without recording it goes again with the same transaction
            # id, which Synapse answers with the event it already has.
            halfway = await until(lambda: sent() >= PEOPLE // 2, timeout=expected * 4 + 60)
            assert halfway is not None, f"the announcement stalled at {sent()}\n{bot.tails(40)}"
            await bot.kill()
            figures["sent before the kill"] = sent()
            figures["claimed at the kill"] = await bot.claimed()
            run = await bot.start()
            back = await until(lambda: "is receiving messages" in run.text(), timeout=60)
            assert back is not None, bot.tails(40)
            figures["restart until receiving (s)"] = back
        finished = await until(done, timeout=expected * 4 + 60, interval=0.2)
        counts = outbox_now()

        arrivals = await in_threads(
            pool,
            lambda pair: announcements_in(synapse, pair[0][1], pair[1], bot_id),
            list(zip(residents, rooms, strict=True)),
        )

    answered = sends(synapse)[sends_before:]
    refused = sum(1 for status, _ in answered if status == "429")
    accepted = Counter(txn for status, txn in answered if status == "200")
    rows = await bot.db(
        lambda s: s.exec(
            select(OutboxMessage.attempts, OutboxMessage.last_error).where(
                OutboxMessage.kind == "broadcast"
            )
        ).all()
    )
    limited_rows = sum(1 for _, error in rows if error == "rate limited")
    attempts = sorted({count for count, _ in rows})
    stamps = [stamp for found in arrivals for stamp in found]
    each = [len(found) for found in arrivals]
    figures.update(
        {
            "people": PEOPLE,
            "homeserver limit (messages/s, burst)": f"{LIMIT_PER_SECOND}, {LIMIT_BURST}",
            "bot's own rate (MATRIX_RATE)": BOT_RATE,
            "announcements in rooms": sum(each),
            "rooms with it once": sum(1 for n in each if n == 1),
            "rooms with it twice or more": sum(1 for n in each if n > 1),
            "rooms without it": sum(1 for n in each if n == 0),
            "429s answered to the bot": refused,
            "sends accepted again under the same transaction id": sum(
                n - 1 for n in accepted.values()
            ),
            "rows that waited out a 429": limited_rows,
            "attempts counted per row": attempts,
            "outbox": counts,
            "queued to the last arrival (s)": (max(stamps) / 1000 - queued_at) if stamps else None,
            "first to last arrival (s)": (max(stamps) - min(stamps)) / 1000 if stamps else None,
        }
    )
    shown = figures.publish()
    assert finished is not None, f"the announcement did not finish\n{shown}\n{bot.tails(40)}"
    assert counts == {"broadcast/sent": PEOPLE}, f"{shown}\n{bot.tails(40)}"
    assert each == [1] * PEOPLE, shown
    assert refused > 0, f"Synapse never refused the bot: the test proves nothing\n{shown}"
    assert limited_rows > 0, f"no row waited out a 429\n{shown}"
    assert attempts == [1], f"a 429 was counted as a failed attempt\n{shown}"
    devices = set(re.findall(r"is device (\S+)", bot.tails(200)))
    assert len(devices) == 1, f"the restart made a new device: {devices}"
