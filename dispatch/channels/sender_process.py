"""The hub's handle on its sender process: starts it, hands it jobs, notices when it dies or hangs.

The child (dispatch/channels/sender.py) gets the hub's `Settings` in its first frame, so
a hub started with settings made in code (tests) sends with exactly those. A child that
exits (pipe EOF) or leaves a job unanswered past the lease (then it is killed) is
restarted after 0.2 s, doubling to 10 s while it keeps dying; every job it held raises
`SenderLost`, and the queue puts those rows back to due under the same idempotency key:
at least once, as after a crash of the hub itself. A job that finds no child running
(it cannot start: exits at once, cannot be executed) within the lease was never handed
over: it is a retryable failure with the reason, so the queue retries it with backoff and
the console shows "wird wiederholt: the sender process is not running (…)" instead of
a queue that waits in silence.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import itertools
import os
import sys
import time

import structlog

from dispatch.channels import frames
from dispatch.channels.base import Failed, Job, Transmitted
from dispatch.channels.sender import PARENT_ENV, READY
from dispatch.channels.senders import SenderLost
from dispatch.settings import Settings

log = structlog.get_logger(__name__)

FIRST_RESTART_S = 0.2
MAX_RESTART_S = 10.0
STABLE_S = 30.0
"""A child that ran this long died of something new: the next restart is quick again."""
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 5.0


class SenderProcess:
    def __init__(self, settings: Settings, *, lease: float) -> None:
        self._settings = settings
        self._lease = lease  # no answer within it: the child is hung
        self._process: asyncio.subprocess.Process | None = None
        self._up = asyncio.Event()  # set while a started child takes jobs
        self._pending: dict[int, asyncio.Future[Transmitted]] = {}
        self._ids = itertools.count(1)
        self._supervisor: asyncio.Task[None] | None = None
        self._became_ready = False  # the running child said READY (else: it failed at start)
        self._stopping = False
        self._why_killed = ""
        self._down = "starting"  # why no child takes jobs now: the reason a job is told
        self.restarts = 0

    @property
    def pid(self) -> int | None:
        """The running child's pid (tests, the log)."""
        return self._process.pid if self._process is not None and self._up.is_set() else None

    def start(self) -> None:
        self._supervisor = asyncio.create_task(self._supervise())

    async def stop(self) -> None:
        self._stopping = True
        process = self._process
        if process is not None and process.stdin is not None:
            process.stdin.close()  # the child's cue to stop
            try:
                await asyncio.wait_for(process.wait(), STOP_TIMEOUT_S)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
        self._lose_pending()

    async def transmit(self, job: Job) -> Transmitted:
        try:
            await asyncio.wait_for(self._up.wait(), self._lease)
        except TimeoutError:
            # Never handed over, so certainly not sent: an ordinary retryable failure.
            reason = f"the sender process is not running ({self._down})"
            return Transmitted(Failed(reason, retryable=True))
        process = self._process
        assert process is not None
        assert process.stdin is not None
        job_id = next(self._ids)
        answer: asyncio.Future[Transmitted] = asyncio.get_running_loop().create_future()
        self._pending[job_id] = answer
        try:
            process.stdin.write(frames.encode((job_id, job)))
            await process.stdin.drain()
            return await asyncio.wait_for(answer, self._lease)
        except (BrokenPipeError, ConnectionResetError):
            raise SenderLost("the sender process closed its pipe") from None
        except TimeoutError:
            # Every send in the child is cut off well before the lease: it is hung.
            self._kill(process, "no answer within the lease")
            raise SenderLost("no answer within the lease") from None
        finally:
            self._pending.pop(job_id, None)

    # --- the child's life ---------------------------------------------------------------

    async def _supervise(self) -> None:
        delay = FIRST_RESTART_S
        while not self._stopping:
            started = time.monotonic()
            self._became_ready = False
            try:
                returncode = await self._run_child()
                why = self._why_killed or "exited"
                if not self._became_ready:
                    why = f"{why} at start"
            except Exception as error:  # could not start it (no memory, no Python)
                returncode, why = None, f"could not start: {type(error).__name__}"
            self._up.clear()
            self._down = why if returncode is None else f"{why}, exit code {returncode}"
            lost = self._lose_pending()
            if self._stopping:
                return
            if time.monotonic() - started > STABLE_S:
                delay = FIRST_RESTART_S
            # One line per loss; never a job's address or text.
            log.warning(
                "channel_sender_lost",
                why=why,
                returncode=returncode,
                in_flight=lost,
                restart_in_s=delay,
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_RESTART_S)
            self.restarts += 1

    async def _run_child(self) -> int:
        """Starts a child, serves its answers until its stdout closes; its exit code."""
        self._why_killed = ""
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "dispatch.channels.sender",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=_hub_log(),
            env={**os.environ, PARENT_ENV: str(os.getpid())},
            limit=frames.MAX_FRAME,
        )
        self._process = process
        assert process.stdin is not None
        assert process.stdout is not None
        try:
            process.stdin.write(frames.encode(self._settings))
            await process.stdin.drain()
            ready = await asyncio.wait_for(frames.read(process.stdout), START_TIMEOUT_S)
            if ready == READY:
                self._became_ready = True
                self._up.set()
                await self._read_answers(process.stdout)
        except (TimeoutError, BrokenPipeError, ConnectionResetError, frames.BrokenFrame) as error:
            self._kill(process, type(error).__name__)
        finally:
            self._up.clear()
        with contextlib.suppress(ProcessLookupError):
            process.kill()  # stdout closed or broken: whatever is left of it goes
        return await process.wait()

    async def _read_answers(self, stdout: asyncio.StreamReader) -> None:
        while (frame := await frames.read(stdout)) is not None:
            match frame:
                case (int(job_id), Transmitted() as result):
                    answer = self._pending.get(job_id)
                    if answer is not None and not answer.done():
                        answer.set_result(result)
                case _:
                    raise frames.BrokenFrame(type(frame).__name__)

    def _kill(self, process: asyncio.subprocess.Process, why: str) -> None:
        if not self._why_killed:
            self._why_killed = why
        with contextlib.suppress(ProcessLookupError):
            process.kill()

    def _lose_pending(self) -> int:
        lost = 0
        for answer in self._pending.values():
            if not answer.done():
                answer.set_exception(SenderLost("the sender process is gone"))
                lost += 1
        return lost


def _hub_log() -> int | None:
    """Where the child's log lines go: the hub's stdout (its log), like the hub's own lines;
    None (the hub's stderr) where stdout is no file (a test capturing it)."""
    try:
        return sys.stdout.fileno()
    except (AttributeError, ValueError, io.UnsupportedOperation):
        return None
