"""The sender process: ``python -m dispatch.channels.sender``, started by the hub, sends its jobs.

It does the CPU and network work of sending (SMTP sessions, webhook requests, ESPA
calls, Web Push encryption and posts) at idle CPU priority, so on a shared core the
hub's storing and popups always go first. It holds no database connection: the hub
prepares every job and writes every outcome (SQLite has one writer, and a child that
low in priority holding the write lock would stall the alarms' commits).

The frames (dispatch/channels/frames.py): the hub's first is its `Settings`; the
child answers `READY` once its channels are built; then each frame is a batch, a list
of ``(job id, Job)``, whose jobs all start at once; they are answered as
``(job id, Transmitted)`` in whatever order the sends finish, those finished within
`ANSWER_GATHER_S` of each other in one frame (the hub's cost is per frame). When its
stdin closes (the hub stopped, or died) the child exits; if the hub is killed, the
kernel kills the child too (PR_SET_PDEATHSIG), so no sender outlives its hub.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal

from dispatch.channels import frames

# Only the standard library and the frames above at the top: ``main`` sets the parent
# death signal and idle priority before the channels' libraries are imported (in
# ``serve``), so a hub that dies at once leaves nothing, and even the imports yield.

READY = "ready"
ANSWER_GATHER_S = 0.005
"""Answers finished this close together go back in one frame: a burst's sends finish by the
dozen, and each frame wakes the hub."""
PARENT_ENV = "SILENT_ALARM_SENDER_PARENT"
"""The hub's pid: a child whose parent is already another one exits at once."""
PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Linux: the kernel sends SIGKILL when the hub dies, even by SIGKILL."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    expected = os.environ.get(PARENT_ENV)
    if expected is not None and os.getppid() != int(expected):
        os._exit(0)  # the hub died before the line above took effect


def lower_priority() -> None:
    """Idle scheduling: this process runs only when no other wants the CPU; else nice 19."""
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except (AttributeError, OSError):
        with contextlib.suppress(OSError):
            os.nice(19)


async def serve(frames_out: int) -> None:
    from dispatch import logs
    from dispatch.channels.base import Failed, Job, Transmitted
    from dispatch.channels.registry import build_transmitters
    from dispatch.channels.senders import InProcess
    from dispatch.settings import Settings

    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=frames.MAX_FRAME)
    await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(0, "rb", buffering=0)
    )
    transport, protocol = await loop.connect_write_pipe(
        asyncio.streams.FlowControlMixin, os.fdopen(frames_out, "wb", buffering=0)
    )
    writer = asyncio.StreamWriter(transport, protocol, None, loop)
    settings = await frames.read(reader)
    if not isinstance(settings, Settings):
        return  # the hub went away before it said anything
    logs.configure(settings.log_level)
    # Each job is cut off a little after the channels' own timeout, well within the lease
    # after which the hub counts this process as hung (dispatch/channels/sender_process.py).
    sender = InProcess(build_transmitters(settings), 1.5 * settings.channel_send_timeout)
    writer.write(frames.encode(READY))
    running: set[asyncio.Task[None]] = set()
    answers: list[tuple[int, Transmitted]] = []

    def flush() -> None:
        writer.write(frames.encode(answers[:]))
        answers.clear()

    async def answer(job_id: int, job: Job) -> None:
        try:
            result = await sender.transmit(job)
        except Exception as error:  # a channel broke its contract: the row is retried
            result = Transmitted(Failed(f"{job.kind.value}: {type(error).__name__}"))
        if not answers:
            loop.call_later(ANSWER_GATHER_S, flush)
        answers.append((job_id, result))

    try:
        while (frame := await frames.read(reader)) is not None:
            if not isinstance(frame, list):
                raise frames.BrokenFrame(type(frame).__name__)
            for item in frame:
                match item:
                    case (int(job_id), Job() as job):
                        task = asyncio.create_task(answer(job_id, job))
                    case _:
                        raise frames.BrokenFrame(type(item).__name__)
                running.add(task)
                task.add_done_callback(running.discard)
    finally:
        # stdin closed: the hub is stopping (it puts unanswered rows back to due) or gone.
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        await sender.stop()


def main() -> None:
    die_with_parent()
    lower_priority()
    # Frames go out on a copy of stdout; stdout itself becomes stderr (the hub's log), so
    # a stray print or a log line can never corrupt a frame.
    frames_out = os.dup(1)
    os.dup2(2, 1)
    # The hub stops it by closing stdin, after it has put the unanswered rows back: a
    # SIGTERM or Ctrl+C meant for the whole service must not cut in before that.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    asyncio.run(serve(frames_out))


if __name__ == "__main__":
    main()
