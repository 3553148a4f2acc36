"""The hub's handle on its sender process: starts it, hands it jobs, notices when it dies or hangs.

The child (dispatch/channels/sender.py) gets the hub's `Settings` in its first frame, so
a hub started with settings made in code (tests) sends with exactly those. Jobs go over
in batches, one frame per batch, and come back in frames of whatever finished together:
the hub's cost is per frame, not per message. A child that exits (pipe EOF) or leaves
a job unanswered past the lease (then it is killed) is restarted after 0.2 s, doubling
to 10 s while it keeps dying; every job it held raises `SenderLost`, and the queue puts
those rows back to due under the same idempotency key: at least once, as after a crash
of the hub itself. Jobs that find no child running (it cannot start: exits at once,
cannot be executed) within the lease were never handed over: each is a retryable failure
with the reason, so the queue retries it with backoff and the console shows "wird
wiederholt: the sender process is not running (…)" instead of a queue that waits in
silence.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import itertools
import os
import sys
import time
from collections.abc import Sequence

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
        # Job id -> its answer and the loop time it must come by; oldest first (submit order).
        self._pending: dict[int, tuple[asyncio.Future[Transmitted], float]] = {}
        self._watchdog: asyncio.Task[None] | None = None
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
        for task in (self._supervisor, self._watchdog):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._lose_pending()

    async def submit(self, jobs: Sequence[Job]) -> list[asyncio.Future[Transmitted]]:
        loop = asyncio.get_running_loop()
        give_up = loop.time() + self._lease
        # Checked again after each wait, with no await before the jobs are entered below: a
        # child that died meanwhile must not be handed jobs its supervisor will never fail.
        while not self._up.is_set():
            if loop.time() >= give_up:
                # Never handed over, so certainly not sent: ordinary retryable failures.
                reason = f"the sender process is not running ({self._down})"
                return [_answered(loop, Transmitted(Failed(reason, retryable=True))) for _ in jobs]
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._up.wait(), give_up - loop.time())
        process = self._process
        assert process is not None
        assert process.stdin is not None
        deadline = loop.time() + self._lease
        frame: list[tuple[int, Job]] = []
        answers: list[asyncio.Future[Transmitted]] = []
        for job in jobs:
            job_id = next(self._ids)
            answer: asyncio.Future[Transmitted] = loop.create_future()
            self._pending[job_id] = (answer, deadline)
            frame.append((job_id, job))
            answers.append(answer)
        try:
            process.stdin.write(frames.encode(frame))
            await process.stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            # The child is gone: the supervisor fails these with the rest of its jobs.
            self._kill(process, "the sender process closed its pipe")
        if self._watchdog is None or self._watchdog.done():
            self._watchdog = asyncio.create_task(self._watch())
        return answers

    async def _watch(self) -> None:
        """Every send in the child is cut off well before the lease: a job still unanswered
        after it means a hung child, which is killed (the supervisor then fails its jobs
        with `SenderLost`). Every pending job is the running child's: a lost child's are
        failed and dropped before the next one takes jobs."""
        loop = asyncio.get_running_loop()
        while self._pending:
            _, deadline = next(iter(self._pending.values()))  # the oldest unanswered
            if loop.time() >= deadline:
                if self._process is not None:
                    self._kill(self._process, "no answer within the lease")
                return
            await asyncio.sleep(deadline - loop.time())

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
            if not isinstance(frame, list):
                raise frames.BrokenFrame(type(frame).__name__)
            for answered in frame:
                match answered:
                    case (int(job_id), Transmitted() as result):
                        pending = self._pending.pop(job_id, None)
                        if pending is not None and not pending[0].done():
                            pending[0].set_result(result)
                    case _:
                        raise frames.BrokenFrame(type(answered).__name__)

    def _kill(self, process: asyncio.subprocess.Process, why: str) -> None:
        if not self._why_killed:
            self._why_killed = why
        with contextlib.suppress(ProcessLookupError):
            process.kill()

    def _lose_pending(self) -> int:
        lost = 0
        pending, self._pending = self._pending, {}
        for answer, _ in pending.values():
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


def _answered(loop: asyncio.AbstractEventLoop, answer: Transmitted) -> asyncio.Future[Transmitted]:
    future: asyncio.Future[Transmitted] = loop.create_future()
    future.set_result(answer)
    return future
