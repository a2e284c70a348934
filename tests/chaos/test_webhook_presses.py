"""Every button press is answered and edits its message, across a kill -9: in webhook mode in
the 200 to Telegram, when polling with an answerCallbackQuery request of the bot's own.

`engagebot run` in webhook mode; the fake Bot API posts each press to it (tests/fake_bot_api.py,
after the Bot API's setWebhook) and performs the answerCallbackQuery that the 200 carries (Bot
API, "Making requests when getting updates"). Everyone presses "Volunteer offers" on a message
of the bot's; in the middle the bot is killed with kill -9 and started again at once. Then:

- every press is handled: its message is edited in place, once; a new message comes only for
  an answer that was on its way at the kill (a kept answer is sent again after the restart, and
  the inbox does not remember which message to edit), at most one per update in hand then;
- in webhook mode, every press got its answer in a 200 (a press whose 200 the kill cut off is
  posted again, and that 200 carries it), and the bot made no answerCallbackQuery request of its
  own, not even for the presses it took up from its inbox after the restart;
- when polling (the same presses fetched with getUpdates), every press got an
  answerCallbackQuery request the fake accepted, also those taken up after the restart.
"""

from __future__ import annotations

import asyncio
import socket
import time

import pytest
from sqlalchemy import text

from tests.chaos.harness import add_people, scaled, until

pytestmark = [pytest.mark.chaos, pytest.mark.both_databases]

FIRST_CHAT = 8_700_000
WEBHOOK_URL = "https://bot.example.org/telegram/hook"
SECRET = "webhook-secret_for-button-presses"
# What "Volunteer offers" edits the pressed message into (English).
OFFERS = "How would you like to look for volunteer offers?"


def in_hand(session) -> int:  # type: ignore[no-untyped-def]
    """Count the Telegram updates stored and not yet finished (answered and forgotten)."""
    query = text("SELECT count(*) FROM inbox WHERE transport = 'telegram'")
    return int(session.execute(query).scalar_one())


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("mode", ["webhook", "polling"])
async def test_every_press_is_answered_and_edits_its_message_across_a_kill(
    telegram, bots, chaos_database_url, seed, figures, mode
) -> None:
    people = scaled(30, 300)
    port = free_port()
    webhook = mode == "webhook"
    settings = {
        "webhook_url": WEBHOOK_URL,
        "webhook_secret": SECRET,
        "webhook_listen": "127.0.0.1",
        "webhook_port": port,
    }
    if not webhook:
        settings = {}
    bot = bots(telegram=telegram, database_url=chaos_database_url, settings=settings)
    await bot.prepare()
    chats = [FIRST_CHAT + n for n in range(people)]
    await bot.db(
        lambda s: add_people(s, transport="telegram", keys=[str(c) for c in chats], locale="en")
    )
    # A message of the bot's in each chat to press on (as if it had shown the main menu).
    pressed: dict[int, int] = {}
    for chat in chats:
        telegram.add_chat(chat)
        pressed[chat] = telegram._outgoing(chat, {"text": "Main menu"})["message_id"]
    await bot.start()
    if webhook:
        telegram.deliver_webhooks_to(f"http://127.0.0.1:{port}")
    presses = [
        telegram.callback_query(chat, "offers", message_id=pressed[chat], language_code="en")
        for chat in chats
    ]
    query_ids = {press["callback_query"]["id"] for press in presses}
    mark = len(telegram.calls)
    telegram.queue(*presses)

    def edited() -> list[int]:
        return [c for c in chats if telegram.message(c, pressed[c])["text"].startswith(OFFERS)]

    await until(lambda: len(edited()) >= people // 3, timeout=30)
    await bot.kill()
    killed_at = time.monotonic()
    edited_at_kill = len(edited())
    in_hand_at_kill = await bot.db(in_hand)
    await bot.start()
    arrived = await until(
        lambda: len(edited()) == people and not telegram.pending_updates, timeout=60
    )
    await asyncio.sleep(1.0)  # a late answer or message would be on its way by now
    await bot.stop()

    calls = telegram.calls[mark:]
    answers = [c for c in calls if c.method == "answerCallbackQuery"]
    requested = [c for c in answers if not c.in_webhook_response]
    answered = {
        c.params.get("callback_query_id")
        for c in answers
        if (c.in_webhook_response if webhook else c.ok)
    }
    edits = [c for c in calls if c.method == "editMessageText" and c.ok]
    sends = [c for c in calls if c.method == "sendMessage"]
    figures.update(
        seed=seed,
        mode=mode,
        presses=people,
        edited_at_kill=edited_at_kill,
        updates_in_hand_at_kill=in_hand_at_kill,
        all_handled_after_kill_s=round(time.monotonic() - killed_at, 2) if arrived else None,
        answers_in_webhook_response=sum(1 for c in answers if c.in_webhook_response),
        answer_requests=len(requested),
        edits=len(edits),
        new_messages=len(sends),
        webhook_posts_failed=sum(1 for post in telegram.webhook_posts if not post.ok),
    )
    summary = figures.publish()
    context = f"\n{summary}\n{bot.tails()}"
    assert arrived is not None, f"not every press was handled{context}"
    if webhook:
        assert not requested, f"the bot asked answerCallbackQuery itself: {requested[:3]}{context}"
    assert answered == query_ids, f"{len(query_ids - answered)} presses got no answer{context}"
    assert len(sends) <= in_hand_at_kill, (
        f"{len(sends)} presses sent a new message instead of editing, more than the "
        f"{in_hand_at_kill} updates in hand at the kill: {sends[:3]}{context}"
    )
    assert len(edits) == people, f"{len(edits)} edits for {people} presses{context}"
