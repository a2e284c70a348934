"""One owner per duty when processes share a database: a messenger's delivery, the scheduler.

Each duty has a lock that dies with the process holding it (db/locks.py). A process that holds
it does the duty; one that does not serves conversations and asks again every few seconds, so
it takes over within seconds of the holder's death, also after a kill -9 and an immediate
restart. A holder that loses its lock (a PostgreSQL connection that dropped) stops the duty.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from typing import Protocol

from db.locks import OwnerLock

log = logging.getLogger(__name__)

# How often a process without the lock asks for it, and a holder checks it still has it.
RETRY_SECONDS = 2.0


class Duty(Protocol):
    name: str

    async def run(self) -> None:
        """Do the duty until cancelled."""
        ...

    async def stop(self, *, still_owner: bool) -> None:
        """Finish cleanly after `run` ended; `still_owner` is False when the lock was lost."""
        ...


async def hold(lock: OwnerLock, duty: Duty, *, retry_seconds: float = RETRY_SECONDS) -> None:
    """Do `duty` whenever this process holds `lock`, until cancelled."""
    told_waiting = False
    while True:
        if not await asyncio.to_thread(lock.try_acquire):
            if not told_waiting:
                log.info(
                    "%s: another process does this; this one (pid %s) takes over when it stops",
                    duty.name,
                    os.getpid(),
                )
                told_waiting = True
            await asyncio.sleep(retry_seconds)
            continue
        told_waiting = False
        log.info("%s: this process (pid %s) does it now", duty.name, os.getpid())
        try:
            await _run_while_held(lock, duty, retry_seconds)
        finally:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(lock.release)
        # The duty ended on its own (an error, logged) or the lock was lost: a pause before
        # asking again, so a duty that keeps failing does not spin.
        await asyncio.sleep(retry_seconds)


async def _run_while_held(lock: OwnerLock, duty: Duty, retry_seconds: float) -> bool:
    """Run the duty until cancelled or the lock is lost; return whether the lock is still ours."""
    task = asyncio.create_task(duty.run(), name=duty.name)
    still_owner = True
    try:
        while not task.done():
            await asyncio.wait({task}, timeout=retry_seconds)
            if not task.done() and not await asyncio.to_thread(lock.held):
                log.error("%s: lost the lock; stopping until it can be taken again", duty.name)
                still_owner = False
                break
        if task.done() and not task.cancelled() and task.exception() is not None:
            log.error("%s stopped with an error", duty.name, exc_info=task.exception())
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        stopping = asyncio.ensure_future(duty.stop(still_owner=still_owner))
        try:
            await asyncio.shield(stopping)
        except asyncio.CancelledError:
            await stopping  # cancelled again while stopping: the stop is short, finish it
            raise
    return still_owner
