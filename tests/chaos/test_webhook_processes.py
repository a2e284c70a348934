"""Two `engagebot run` processes in webhook mode behind one proxy, on one PostgreSQL database.

The fake Bot API posts every update to the webhook as Telegram does (tests/fake_bot_api.py,
after the Bot API's setWebhook: a POST per update, repeated until it gets a 2xx). A small
loopback proxy in front of the two processes passes the requests to them in turn, as nginx's
`upstream` block does (round-robin by default). People write in rounds; in the middle of a round
one process is killed with kill -9. Then:

- every update is answered, each once; only an answer that was on its way at the kill (its
  update still in the inbox right after the kill) may go out twice;
- a reminder that falls due after the kill is sent exactly once, by the survivor;
- both processes answered updates before the kill (the proxy split them).

Needs TEST_DATABASE_URL (`bash .ci/postgres`); skipped without it.
"""

from __future__ import annotations

import asyncio
import itertools
import socket
import time
from collections import Counter
from datetime import timedelta

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import text

from tests.chaos.harness import add_event, add_going, add_people, now_utc, scaled, until
from tests.fake_bot_api import SECRET_HEADER

pytestmark = pytest.mark.chaos

FIRST_CHAT = 8_600_000
WEBHOOK_URL = "https://bot.example.org/telegram/hook"
SECRET = "webhook-secret_for-two-processes"
EVENT = "Reparaturcafé am Rathaus"
LEAD = timedelta(minutes=1)  # REMINDER_LEADS=1m
# Each person's question; the answer (the help text) is one message.
QUESTION = "/help"


class RoundRobinProxy:
    """A reverse proxy that hands each request to the next server in turn (nginx `upstream`).

    As nginx does by default (`proxy_next_upstream error timeout`, and no retry of a POST once
    it was sent, since 1.9.13): a server that refuses the connection is skipped and the next one
    gets the request; a server that dies holding a request makes it a 502, so Telegram posts
    that update again later.
    """

    def __init__(self, ports: list[int]) -> None:
        self.ports = ports
        self.answered: Counter[int] = Counter()  # by server port: requests answered with 2xx
        self.failed = 0
        self._turn = itertools.cycle(range(len(ports)))
        self._runner: web.AppRunner | None = None
        self._http: aiohttp.ClientSession | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        app = web.Application()
        app.router.add_route("*", "/{path:.*}", self._forward)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._http is not None:
            await self._http.close()

    async def _forward(self, request: web.Request) -> web.Response:
        assert self._http is not None
        body = await request.read()
        headers = {
            name: request.headers[name]
            for name in ("Content-Type", SECRET_HEADER)
            if name in request.headers
        }
        for _ in self.ports:
            port = self.ports[next(self._turn)]
            try:
                async with self._http.post(
                    f"http://127.0.0.1:{port}{request.path_qs}", data=body, headers=headers
                ) as answer:
                    content = await answer.read()
                    if 200 <= answer.status < 300:
                        self.answered[port] += 1
                    # As nginx passes it on: with its Content-Type, so a Bot API call the
                    # answer carries (a button press's answerCallbackQuery) reaches Telegram.
                    kept = {"Content-Type": answer.headers["Content-Type"]} if content else {}
                    return web.Response(status=answer.status, body=content, headers=kept)
            except aiohttp.ClientConnectorError:
                continue  # nothing listens there: the request was not sent, the next one gets it
            except (aiohttp.ClientError, TimeoutError):
                break  # the server went away with the request
        self.failed += 1
        return web.Response(status=502, text="Bad Gateway")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def in_hand(session) -> int:
    """Count the Telegram updates stored and not yet finished (answered and forgotten)."""
    query = text("SELECT count(*) FROM inbox WHERE transport = 'telegram'")
    return int(session.execute(query).scalar_one())


def answers(telegram, chat: int) -> list[str]:
    return [sent.text for sent in telegram.texts_to(chat) if EVENT not in sent.text]


async def test_two_webhook_processes_behind_a_proxy_answer_once_and_survive_a_kill(
    telegram, bots, pg_url, seed, figures
) -> None:
    people = scaled(24, 200)
    rounds = scaled(4, 8)
    kill_in_round = rounds // 2
    going = people // 2
    ports = [free_port(), free_port()]
    proxy = RoundRobinProxy(ports)
    await proxy.start()

    def bot(name: str, port: int):
        settings = {
            "webhook_url": WEBHOOK_URL,
            "webhook_secret": SECRET,
            "webhook_listen": "127.0.0.1",
            "webhook_port": port,
            "reminder_leads": "1m",
            "scheduler_tick_seconds": 1,
        }
        return bots(telegram=telegram, name=name, database_url=pg_url, settings=settings)

    first, second = bot("first", ports[0]), bot("second", ports[1])
    try:
        await first.prepare()
        chats = [FIRST_CHAT + n for n in range(people)]
        for chat in chats:
            telegram.add_chat(chat)

        def seed_people(session):
            return add_people(
                session, transport="telegram", keys=[str(c) for c in chats], locale="de"
            )

        ids = await first.db(seed_people)
        await first.start()
        await second.start()
        telegram.deliver_webhooks_to(proxy.url)
        assert telegram.webhook.get("url") == WEBHOOK_URL

        killed_at = None
        in_hand_at_kill = 0
        for number in range(1, rounds + 1):
            telegram.queue(*(telegram.private_text(c, QUESTION, language_code="de") for c in chats))
            if number == kill_in_round:
                # Mid-round: some of this round's updates are stored and not answered yet,
                # some answered and not yet forgotten, some on their way.
                wanted = (number - 1) * people + people // 3
                await until(
                    lambda w=wanted: sum(len(answers(telegram, c)) for c in chats) >= w,
                    timeout=30,
                )
                by_second_before_kill = proxy.answered[ports[1]]
                by_first_before_kill = proxy.answered[ports[0]]
                await first.kill()
                killed_at = time.monotonic()
                in_hand_at_kill = await first.db(in_hand)
                # A reminder falling due after the kill: the survivor's scheduler queues it.
                starts_at = now_utc() + LEAD + timedelta(seconds=3)

                def seed_event(session, starts_at=starts_at) -> None:
                    event_id = add_event(session, title=EVENT, starts_at=starts_at)
                    user_ids = [ids[str(c)] for c in chats[:going]]
                    add_going(session, event_id=event_id, user_ids=user_ids)

                await first.db(seed_event)
            took = await until(
                lambda n=number: all(len(answers(telegram, c)) >= n for c in chats), timeout=60
            )
            if took is None:
                break

        def everything_arrived() -> bool:
            return not telegram.pending_updates and all(
                telegram.texts_to(c, EVENT) for c in chats[:going]
            )

        arrived = await until(everything_arrived, timeout=40)
        await asyncio.sleep(1.5)  # anything sent twice would be on its way by now
        await second.stop()
    finally:
        await proxy.close()

    counts = [len(answers(telegram, c)) for c in chats]
    reminders = [len(telegram.texts_to(c, EVENT)) for c in chats[:going]]
    twice = sum(n - rounds for n in counts if n > rounds)
    figures.update(
        seed=seed,
        people=people,
        rounds=rounds,
        answered_by_first_before_kill=by_first_before_kill,
        answered_by_second_before_kill=by_second_before_kill,
        proxy_502s=proxy.failed,
        updates_in_hand_at_kill=in_hand_at_kill,
        all_arrived_after_kill_s=(time.monotonic() - killed_at) if killed_at else None,
        answers_lost=sum(rounds - n for n in counts if n < rounds),
        answers_twice=twice,
        reminders=dict(Counter(reminders)),
        webhook_posts=len(telegram.webhook_posts),
        webhook_posts_failed=sum(1 for post in telegram.webhook_posts if not post.ok),
    )
    summary = figures.publish()
    context = f"\n{summary}\n{first.tails()}\n{second.tails()}"
    assert arrived is not None, f"not everything arrived{context}"
    assert by_first_before_kill > 0 and by_second_before_kill > 0, (
        f"the proxy did not split the updates between the processes{context}"
    )
    assert min(counts) >= rounds, f"someone's question went unanswered{context}"
    assert twice <= in_hand_at_kill, (
        f"{twice} answers went out twice, more than the {in_hand_at_kill} updates in hand at "
        f"the kill{context}"
    )
    assert set(reminders) == {1}, f"a reminder did not arrive exactly once{context}"
