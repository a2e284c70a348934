"""Matrix against a real Synapse on 127.0.0.1: residents with encrypting clients talk to the bot.

One Synapse for the whole module (tests/matrix_server.py); each test has a bot account and a
database of its own. Skipped, with the reason, where Synapse is not installed (`make synapse`).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from itertools import count
from pathlib import Path

import pytest
from nio import DownloadResponse, RoomEncryptedFile, RoomMessageNotice
from nio.crypto.attachments import decrypt_attachment
from sqlmodel import select

from bot.app import App
from bot.clock import FakeClock
from bot.delivery import DeliveryWorker
from bot.i18n import RLM
from bot.messages import Reply
from bot.scheduler import Jobs
from bot.transports.base import RecipientGone
from bot.transports.matrix import MatrixTransport
from db.engine import session_scope
from db.models import Event, OutboxMessage, OutboxStatus, User
from db.outbox import NewMessage, enqueue_many
from tests.chaos.harness import BotProcess
from tests.conftest import make_settings
from tests.fakes import NoWaitPacer
from tests.matrix_server import Resident, Synapse, start_server
from tests.running import running_transport

pytestmark = pytest.mark.xdist_group("synapse")

MAP_LINK = "https://www.openstreetmap.org/?mlat="
_names = count(1)


@pytest.fixture(scope="module")
def synapse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synapse]:
    try:
        server = start_server(tmp_path_factory.mktemp("synapse"))
    except LookupError as exc:
        pytest.skip(str(exc))
    try:
        yield server
    finally:
        server.stop()


def bot_settings(
    synapse: Synapse, app: App, tmp_path: Path, *, fast: bool = True, **overrides: object
) -> App:
    """The test's app, made again with a new bot account on the homeserver."""
    user_id, _token, password = synapse.register(f"bot{next(_names)}")
    if fast:
        synapse.lift_rate_limit(user_id)
    settings = make_settings(
        app.settings.database_url,
        matrix_homeserver=synapse.url,
        matrix_user_id=user_id,
        matrix_password=password,
        matrix_store_dir=str(tmp_path / f"matrix-store-{user_id[1:].split(':')[0]}"),
        **overrides,
    )
    return App(settings, clock=app.clock)


def running(app: App) -> contextlib.AbstractAsyncContextManager[MatrixTransport]:
    """Run the app's Matrix transport until the block ends, from its first sync."""
    transport = MatrixTransport(app.conversation, app.settings, sync_timeout_ms=1000)
    return running_transport(
        transport, ready=transport._ready.is_set, what="the Matrix transport to start", timeout=30
    )


@pytest.fixture
async def bot_app(synapse: Synapse, app: App, tmp_path: Path) -> AsyncIterator[App]:
    application = bot_settings(synapse, app, tmp_path)
    yield application
    application.close()


@pytest.fixture
async def resident(synapse: Synapse, tmp_path: Path) -> AsyncIterator[Resident]:
    person = Resident(synapse, f"resident{next(_names)}", tmp_path / "residents")
    await person.start()
    yield person
    await person.close()


async def wait_until(condition, *, timeout: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.1)


def number_of(text: str, label_part: str) -> str:
    """Return the number to type for the menu line that contains `label_part`."""
    lines = [m for m in re.finditer(r"^\u200f?(\d+)\) (.*)$", text, re.M) if label_part in m[2]]
    assert len(lines) == 1, f"{len(lines)} menu lines match {label_part!r} in:\n{text}"
    return lines[0][1]


async def onboard(person: Resident, language: str, app: App) -> str:
    t = app.translations.get("de")
    text = await person.say("start")
    assert t._("Choose your language:") in text
    text = await person.say(number_of(text, language))
    target = app.translations.get({"English": "en", "العربية": "ar", "Deutsch": "de"}[language])
    return await person.say(number_of(text, target.pgettext("button", "✅ I agree")))


# -- conversations -----------------------------------------------------------------------------


async def test_an_encrypted_direct_chat_from_language_to_reminder_and_calendar(
    bot_app: App, resident: Resident, clock: FakeClock
) -> None:
    en = bot_app.translations.get("en")
    async with running(bot_app) as transport:
        room = await resident.open_direct_chat(transport.client.user_id)
        assert resident.client.rooms[room].encrypted
        text = await onboard(resident, "English", bot_app)
        assert "I will write to you in English." in text
        # Everything the bot said so far reached the resident encrypted, and was decrypted.
        assert resident.heard and all(e.decrypted for e in resident.heard)
        text = await resident.say("/events")
        assert "upcoming events." in text
        text = await resident.say(number_of(text, "Democracy Café"))
        assert "When:" in text and "Königstraße" in text
        assert re.search(r"^https://www\.openstreetmap\.org/\?mlat=[\d.]+&mlon=", text, re.M)
        assert re.search(r"^geo:-?[\d.]+,-?[\d.]+$", text, re.M), text
        card = text
        text = await resident.say(number_of(card, en.pgettext("button", "✋ I'm going")))
        assert "1) " + en.pgettext("button", "❌ Can't come") in text

        # The calendar file, as an encrypted m.file the resident downloads and decrypts.
        before = len(resident.heard)
        await resident.say(number_of(text, en.pgettext("button", "📆 Add to calendar")))
        [file] = [e for e in resident.heard[before:] if isinstance(e, RoomEncryptedFile)]
        assert file.source["content"]["file"]["url"].startswith("mxc://")
        download = await resident.client.download(mxc=file.source["content"]["file"]["url"])
        assert isinstance(download, DownloadResponse), download
        keys = file.source["content"]["file"]
        ics = decrypt_attachment(
            download.body, keys["key"]["k"], keys["hashes"]["sha256"], keys["iv"]
        )
        unfolded = ics.replace(b"\r\n ", b"").decode()
        assert "BEGIN:VEVENT" in unfolded and "Königstraße" in unfolded

        # The reminder, a day ahead, as an m.notice in the same encrypted room.
        with session_scope(bot_app.engine) as session:
            cafe = next(e for e in session.exec(select(Event)).all() if "Demokratie" in e.title)
            starts = cafe.starts_at
        clock.advance(starts - timedelta(hours=24) - clock.now() + timedelta(minutes=1))
        jobs = Jobs(conversation=bot_app.conversation, settings=bot_app.settings, clock=clock)
        assert await bot_app.conversation.run_db(jobs.queue_due) == 1
        worker = DeliveryWorker(
            conversation=bot_app.conversation,
            transport=transport,
            clock=clock,
            rate=1000,
            max_attempts=5,
            pacer=NoWaitPacer(),
        )
        before = len(resident.heard)
        assert await worker.deliver_due() == 1
        await resident.wait_for(lambda: len(resident.heard) > before, what="the reminder")
        [notice] = resident.heard[before:]
        assert isinstance(notice, RoomMessageNotice) and notice.decrypted
        assert "Democracy Café" in notice.body and "1) " in notice.body
        with session_scope(bot_app.engine) as session:
            [row] = session.exec(
                select(OutboxMessage).where(OutboxMessage.kind == "reminder")
            ).all()
            assert row.status == OutboxStatus.SENT


async def test_an_arabic_resident_is_answered_in_arabic_right_to_left(
    bot_app: App, resident: Resident
) -> None:
    ar = bot_app.translations.get("ar")
    async with running(bot_app) as transport:
        await resident.open_direct_chat(transport.client.user_id)
        text = await onboard(resident, "العربية", bot_app)
        assert all(line.startswith(RLM) for line in text.split("\n") if line), text
        text = await resident.say("القائمة")
        assert ar._("What would you like to do?") in text
        assert re.search(rf"^{RLM}1\) ", text, re.M)
        text = await resident.say(number_of(text, ar.pgettext("button", "📅 Upcoming events")))
        text = await resident.say(number_of(text, "Königstraße"))
        lines = [line for line in text.split("\n") if line]
        bare = ("https://", "geo:")
        assert any(line.startswith(MAP_LINK) for line in lines), text
        assert all(line.startswith(RLM) for line in lines if not line.startswith(bare)), text


async def test_a_group_room_gets_one_polite_line_and_the_bot_leaves(
    synapse: Synapse, bot_app: App, resident: Resident, tmp_path: Path
) -> None:
    other = Resident(synapse, f"neighbour{next(_names)}", tmp_path / "others")
    await other.start()
    try:
        async with running(bot_app) as transport:
            bot = transport.client.user_id
            await resident.open_direct_chat(bot, others=(other.user_id,))
            line = bot_app.translations.get("de")._(
                "Hello! I only talk one to one. Please write to me in a private chat."
            )
            await resident.wait_for(lambda: line in resident.texts(), what="the polite line")
            await resident.wait_for(lambda: not resident.joined(bot), what="the bot to leave")
            await resident.send("hallo?")
            await asyncio.sleep(1.5)
            await resident.sync()
            assert resident.texts() == [line]
    finally:
        await other.close()


async def test_a_person_who_leaves_their_room_gets_nothing_more(
    bot_app: App, resident: Resident
) -> None:
    async with running(bot_app) as transport:
        room = await resident.open_direct_chat(transport.client.user_id, encrypted=False)
        await onboard(resident, "Deutsch", bot_app)
        await resident.client.room_leave(room)

        def active() -> bool | None:
            with session_scope(bot_app.engine) as session:
                user = session.exec(select(User).where(User.external_id == resident.user_id)).one()
                return user.active

        await wait_until(lambda: not active())
        assert resident.user_id not in transport.rooms
        with pytest.raises(RecipientGone):
            await transport.send(resident.user_id, [Reply("Hallo?")])


async def test_a_message_that_cannot_be_decrypted_is_asked_for_again(
    bot_app: App, resident: Resident
) -> None:
    async with running(bot_app) as transport:
        await resident.open_direct_chat(transport.client.user_id)
        await onboard(resident, "English", bot_app)
        # An encrypted event whose key the bot never got (its session was made up here).
        await resident.send_raw(
            "m.room.encrypted",
            {
                "algorithm": "m.megolm.v1.aes-sha2",
                "sender_key": resident.client.olm.account.identity_keys["curve25519"],
                "ciphertext": "AwgAEnACgAkLmt6qF84IK++J7UDH2Za1YVchHyprqTqsg",
                "session_id": "X" * 43,
                "device_id": resident.client.device_id,
            },
        )
        before = len(resident.heard)
        await resident.wait_for(lambda: len(resident.heard) > before, what="the resend answer")
        en = bot_app.translations.get("en")
        expected = en._(
            "I could not read your last message: it reached me encrypted with a key I did "
            "not get. Please send it again."
        )
        assert expected in resident.texts()[-1]


# -- delivery under the homeserver's rate limit ----------------------------------------------


EACH = 3


async def test_a_rate_limited_announcement_reaches_each_person_once(
    synapse: Synapse, app: App, tmp_path: Path, clock: FakeClock
) -> None:
    # This bot meets Synapse's rc_message limit (1 a second, bursts of 3): its 429s carry
    # retry_after_ms, and the outbox waits them out without counting them as failures.
    limited = bot_settings(synapse, app, tmp_path, fast=False)
    people = [Resident(synapse, f"reader{next(_names)}", tmp_path / "readers") for _ in range(2)]
    try:
        for person in people:
            await person.start()
        async with running(limited) as transport:
            for person in people:
                await person.open_direct_chat(transport.client.user_id, encrypted=False)
            await wait_until(lambda: all(p.user_id in transport.rooms for p in people))
            now = clock.now()
            with session_scope(limited.engine) as session:
                messages = []
                for index, person in enumerate(people):
                    user = User(
                        transport="matrix",
                        external_id=person.user_id,
                        locale="de",
                        consent_at=now,
                        created_at=now,
                        last_seen_at=now,
                    )
                    session.add(user)
                    session.flush()
                    report = {"delivered": 3, "blocked": 0, "failed": 0}
                    messages += [
                        NewMessage(
                            user=user,
                            kind="broadcast_report",
                            dedupe_key=f"r:{index}:{n}",
                            payload=report,
                        )
                        for n in range(EACH)
                    ]
                enqueue_many(session, messages, now=now)
            worker = DeliveryWorker(
                conversation=limited.conversation,
                transport=transport,
                clock=clock,
                rate=1000,
                max_attempts=2,
                pacer=NoWaitPacer(),
            )
            limits = 0
            for _ in range(200):
                await worker.deliver_due()
                with session_scope(limited.engine) as session:
                    rows = session.exec(select(OutboxMessage)).all()
                    waiting = [r for r in rows if r.status == OutboxStatus.PENDING]
                    limits += sum(r.last_error == "rate limited" for r in waiting)
                    assert all(r.attempts == (r.status == OutboxStatus.SENT) for r in rows)
                if not waiting:
                    break
                clock.advance(timedelta(seconds=1))
                await asyncio.sleep(0.25)
            assert not waiting and all(r.status == OutboxStatus.SENT for r in rows)
            assert limits, "the homeserver never limited the bot; the test proves nothing"
            for person in people:
                with contextlib.suppress(AssertionError):
                    await person.wait_for(lambda p=person: len(p.heard) >= EACH, what="notices")
                await person.sync()
                assert len(person.heard) == EACH, person.texts()
                assert all(isinstance(e, RoomMessageNotice) for e in person.heard)
    finally:
        for person in people:
            await person.close()
        limited.close()


async def test_a_flood_from_one_person_does_not_hold_up_another(
    synapse: Synapse, app: App, resident: Resident, tmp_path: Path
) -> None:
    # The flood gate as configured for real (FLOOD_BURST's default), not the tests' wide one.
    flooded = bot_settings(synapse, app, tmp_path, flood_burst=12)
    calm = Resident(synapse, f"calm{next(_names)}", tmp_path / "calm")
    await calm.start()
    try:
        async with running(flooded) as transport:
            transport.stop_drain_seconds = 1.0
            await resident.open_direct_chat(transport.client.user_id, encrypted=False)
            await calm.open_direct_chat(transport.client.user_id, encrypted=False)
            await onboard(calm, "English", flooded)
            flood = 300
            for start in range(0, flood, 30):
                await asyncio.gather(
                    *(resident.send(f"/help {n}") for n in range(start, start + 30))
                )
            began = asyncio.get_running_loop().time()
            text = await calm.say("/help")
            took = asyncio.get_running_loop().time() - began
            assert "I help you find volunteer work" in text
            assert took < 10, f"the calm person waited {took:.1f} s behind the flood"
            await resident.sync()
            # The flooding account heard a warning and some answers, never 300.
            assert 1 <= len(resident.heard) < 50, len(resident.heard)
            slow = (
                bot.translations.get("de")._(
                    "You are writing very fast. Please wait a few seconds, then try again."
                )
                if (bot := flooded)
                else ""
            )
            assert any(slow in body for body in resident.texts()), resident.texts()[:3]
    finally:
        await calm.close()
        flooded.close()


# -- a kill -9 mid-conversation ----------------------------------------------------------------


async def test_a_kill_mid_conversation_loses_and_repeats_nothing(
    synapse: Synapse, resident: Resident, tmp_path: Path
) -> None:
    user_id, _token, password = synapse.register(f"bot{next(_names)}")
    synapse.lift_rate_limit(user_id)
    bot = BotProcess(
        tmp_path / "process",
        settings={
            "matrix_homeserver": synapse.url,
            "matrix_user_id": user_id,
            "matrix_password": password,
            "flood_burst": 1000,
        },
    )
    await bot.prepare()
    try:
        run = await bot.start()
        await wait_until(lambda: "is receiving messages" in run.text(), timeout=60)
        await resident.open_direct_chat(user_id)
        await resident.say("start")
        await resident.say("2")  # English
        await resident.say("1")  # I agree
        said = 40
        # The kill must catch the bot in the middle of the conversation, with messages kept
        # and not answered, for the restart to take them up; a bot that answered all 40 before
        # the kill landed is killed again in a second (or third) conversation.
        for _attempt in range(3):
            before = len(resident.heard)
            for _ in range(said):
                await resident.send("/help")
            await resident.wait_for(
                lambda b=before: len(resident.heard) > b + 3, what="some answers"
            )
            await bot.kill()
            answered_before_kill = len(resident.heard) - before
            run = await bot.start()
            with contextlib.suppress(AssertionError):
                await resident.wait_for(
                    lambda b=before: len(resident.heard) >= b + said,
                    what="every answer",
                    timeout=60,
                )
            await asyncio.sleep(2)  # anything sent twice would arrive by now
            await resident.sync()
            answers = resident.heard[before:]
            assert len(answers) == said, (len(answers), answered_before_kill, bot.tails(40))
            assert all("I help you find volunteer work" in event.body for event in answers)
            await wait_until(lambda r=run: "is receiving messages" in r.text(), timeout=60)
            if re.search(r"taking up \d+ messages left by a stopped process", run.text()):
                break  # the restart took up what the kill left
        else:
            raise AssertionError(f"no kill caught the conversation in the middle\n{bot.tails()}")
        # The log names nobody: not our code, and not matrix-nio, which would at INFO.
        assert resident.user_id not in bot.tails(10_000)
        device = re.findall(r"is device (\S+)", bot.tails(200))
        assert len(set(device)) == 1, "the restart made a new device"
    finally:
        await bot.close()
