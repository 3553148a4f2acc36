"""Issue 20: the hub's sender process (dispatch/channels/sender.py) at idle priority, killed
mid-send (the hub restarts it and every message goes out), and gone with its hub.

One real hub sending webhooks to a real local receiver; the sender process is found as
the hub's child in /proc. Every wait is for a condition, bounded.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from dispatch.channels import frames
from dispatch.channels.base import ChannelKind, Job, Sent
from dispatch.channels.content import probe_message
from dispatch.channels.sender_process import SenderProcess
from dispatch.settings import Settings, WebhookEndpoint
from shared.domain import AlarmLevel
from shared.protocol import AlarmStored, RaiserStatus
from tests.integration.conftest import agents_of, set_policy
from tests.integration.test_channels import (
    SMS,
    add_recipient,
    clear_recipients,
    counts_until,
    deliveries,
    until,
)
from tests.support.consoleclient import connect_console
from tests.support.hub import RunningHub, start_demo_hub
from tests.support.webhook_receiver import WebhookReceiver, start_webhook_receiver

IN_FLIGHT = 4  # CHANNEL_CONCURRENCY: this many requests are held when the child is killed
RECIPIENTS = 10


def sender_pids(parent: int) -> list[int]:
    """Living processes whose parent is ``parent`` and that run the sender module."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue  # gone meanwhile
        state, ppid = stat.rpartition(")")[2].split()[:2]
        if int(ppid) == parent and state != "Z" and b"dispatch.channels.sender" in command:
            found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    """Running (a zombie waiting for its reaper has ended)."""
    try:
        return (Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]) != "Z"
    except OSError:
        return False


async def the_sender(hub: RunningHub, not_this: int | None = None) -> int:
    """The pid of the hub's (new) sender process, once it runs."""
    found: list[int] = []

    def started() -> bool:
        found[:] = [pid for pid in sender_pids(hub.process.pid) if pid != not_this]
        return len(found) == 1

    await until(started, 20)
    return found[0]


@pytest.fixture(scope="module")
def receiver() -> Iterator[WebhookReceiver]:
    server = start_webhook_receiver()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def sender_hub(
    tmp_path_factory: pytest.TempPathFactory, receiver: WebhookReceiver
) -> Iterator[RunningHub]:
    env = {
        "SILENT_ALARM_WEBHOOKS": json.dumps(
            {"sms": {"url": f"{receiver.url}/sms", "body": '{"to": "$to"}', "label": "SMS"}}
        ),
        "SILENT_ALARM_CHANNEL_SEND_TIMEOUT": "3",
        "SILENT_ALARM_CHANNEL_CONCURRENCY": str(IN_FLIGHT),
    }
    hub = start_demo_hub(tmp_path_factory.mktemp("sender"), env=env)
    try:
        yield hub
    finally:
        hub.stop()


async def test_the_sender_runs_at_idle_priority(sender_hub: RunningHub) -> None:
    """On a shared core the hub's storing and popups always go first."""
    pid = await the_sender(sender_hub)
    # It lowers its own priority first thing after Python's start: wait for that, bounded.
    await until(lambda: os.sched_getscheduler(pid) == os.SCHED_IDLE, 10)


async def test_a_killed_sender_is_restarted_and_every_message_goes_out(
    sender_hub: RunningHub, receiver: WebhookReceiver
) -> None:
    """The gateway holds the first requests (the child is mid-send), the child is killed
    with SIGKILL: the hub logs it, starts a new one, puts the rows it held back to due and
    every row ends sent. Each key arrives once, but a key that was mid-send when the child
    died arrives again (at least once, under the same key)."""
    clear_recipients(sender_hub)
    for n in range(RECIPIENTS):
        add_recipient(sender_hub, 2, "webhook", f"sms:+4917{n:03}", "security")
    first = await the_sender(sender_hub)
    before = len(receiver.requests)
    losses = sender_hub.log().count('"channel_sender_lost"')
    receiver.hold()
    try:
        async with agents_of(sender_hub) as agent:
            raiser = await agent("pc-1-05")
            sent = await raiser.raise_alarm(AlarmLevel.THREAT)
            await raiser.expect(AlarmStored, alarm_id=sent.alarm_id)
            held = (await asyncio.to_thread(receiver.wait, before + IN_FLIGHT))[before:]
            os.kill(first, signal.SIGKILL)
            await until(lambda: not alive(first))
            receiver.release()
            second = await the_sender(sender_hub, not_this=first)
            assert second != first
            await until(
                lambda: (
                    [r[2] for r in deliveries(sender_hub, sent.alarm_id)] == ["sent"] * RECIPIENTS
                ),
                20,
            )
    finally:
        receiver.release()
    keys = Counter(r.headers["idempotency-key"] for r in receiver.requests[before:])
    rows = {str(r[5]) for r in deliveries(sender_hub, sent.alarm_id)}
    assert set(keys) == rows
    mid_send = {r.headers["idempotency-key"] for r in held}
    assert len(mid_send) == IN_FLIGHT
    for key, count in keys.items():
        assert count == (2 if key in mid_send else 1), key
    assert sender_hub.log().count('"channel_sender_lost"') == losses + 1


async def test_a_hung_sender_is_killed_and_restarted(
    sender_hub: RunningHub, receiver: WebhookReceiver
) -> None:
    """A child that stops answering (SIGSTOP stands for a hang) is killed once a job waited
    the lease (twice CHANNEL_SEND_TIMEOUT), a new one starts and the rows go out."""
    clear_recipients(sender_hub)
    for n in range(3):
        add_recipient(sender_hub, 2, "webhook", f"sms:+4916{n:03}", "security")
    hung = await the_sender(sender_hub)
    os.kill(hung, signal.SIGSTOP)
    async with agents_of(sender_hub) as agent:
        raiser = await agent("pc-1-04")
        sent = await raiser.raise_alarm(AlarmLevel.THREAT)
        await raiser.expect(AlarmStored, alarm_id=sent.alarm_id)
        await until(lambda: not alive(hung), 20)
        await until(
            lambda: [r[2] for r in deliveries(sender_hub, sent.alarm_id)] == ["sent"] * 3, 20
        )
    assert "no answer within the lease" in sender_hub.log()


FAILING_START = """\
# Loaded by every Python started with this folder on PYTHONPATH: the test's hub and its
# sender process. Only the sender (it alone has SILENT_ALARM_SENDER_PARENT) exits at once,
# and only while the test's flag file exists: a sender that fails at start.
import os

if "SILENT_ALARM_SENDER_PARENT" in os.environ and os.path.exists(os.environ["FAIL_FLAG"]):
    os.write(2, b"test: this sender process fails at start\\n")
    os._exit(3)
"""


async def test_a_sender_that_fails_at_start_is_retried_and_seen_and_sends_once_it_starts(
    tmp_path: Path, receiver: WebhookReceiver
) -> None:
    """The sender process exits at once, again and again: the hub logs each loss with
    "exited at start" and restarts it with backoff; the row is a retryable failure the
    console shows with the reason; the raiser is told nobody was reached. Once the child
    starts (the flag gone) the message goes out, once."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(FAILING_START)
    flag = tmp_path / "sender-fails"
    flag.touch()
    env = {
        "SILENT_ALARM_WEBHOOKS": json.dumps(
            {"sms": {"url": f"{receiver.url}/sms", "body": '{"to": "$to"}', "label": "SMS"}}
        ),
        "SILENT_ALARM_CHANNEL_SEND_TIMEOUT": "1",  # a job waits the lease (2 s) for a child
        "PYTHONPATH": os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")])),
        "FAIL_FLAG": str(flag),
    }
    hub = await asyncio.to_thread(start_demo_hub, tmp_path / "hub", None, env)
    try:
        await until(lambda: hub.log().count("exited at start") >= 2, 20)  # retried
        set_policy(hub.data_dir, 2, ["security"], [], raiser_feedback="count")
        with sqlite3.connect(hub.data_dir / "dispatch.sqlite3") as db:
            db.execute("UPDATE alarm_policies SET nobody_reached_s = 3 WHERE level = 2")
        add_recipient(hub, 2, "webhook", "sms:+4917099", "security")
        console = await connect_console(hub)
        async with agents_of(hub) as agent:
            raiser = await agent("pc-1-04")
            sent = await raiser.raise_alarm(AlarmLevel.THREAT)
            await raiser.expect(AlarmStored, alarm_id=sent.alarm_id)
            failing = await counts_until(
                console, sent.alarm_id, lambda c: SMS in c and c[SMS].retrying == 1, 20
            )
            reason = failing[SMS].reason or ""
            assert reason.startswith("the sender process is not running (exited at start")
            status = await raiser.expect(
                RaiserStatus, alarm_id=sent.alarm_id, timeout=15, nobody_reached=True
            )
            assert status.nobody_reached
            before = len(receiver.requests)
            flag.unlink()  # the next restart starts
            await until(lambda: [r[2] for r in deliveries(hub, sent.alarm_id)] == ["sent"], 30)
            done = await counts_until(console, sent.alarm_id, lambda c: c[SMS].sent == 1, 10)
            assert done[SMS].reason is None
        await console.close()
    finally:
        hub.stop()
    [row] = deliveries(hub, sent.alarm_id)
    keys = [r.headers["idempotency-key"] for r in receiver.requests[before:]]
    assert keys == [row[5]]  # sent once
    lost = [json.loads(line) for line in hub.log().splitlines() if '"channel_sender_lost"' in line]
    at_start = [entry for entry in lost if entry["why"] == "exited at start"]
    assert len(at_start) >= 2
    assert {entry["returncode"] for entry in at_start} == {3}


async def test_a_batch_goes_over_in_one_frame_and_comes_back_in_few(
    receiver: WebhookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hub's cost is per frame: a round's 20 jobs are one frame to the child, and the
    answers that finish together come back together (the gateway releases all 20 at once),
    not in 20 frames each waking the hub."""
    settings = Settings(
        webhooks={"sms": WebhookEndpoint(url=f"{receiver.url}/sms", body='{"to": "$to"}')}
    )
    answer_frames: list[int] = []
    read = frames.read

    async def counted(reader: asyncio.StreamReader) -> object | None:
        frame = await read(reader)
        if isinstance(frame, list):
            answer_frames.append(len(frame))
        return frame

    monkeypatch.setattr(frames, "read", counted)
    sender = SenderProcess(settings, lease=6)
    sender.start()
    before = len(receiver.requests)
    receiver.hold()
    try:
        jobs = [
            Job(ChannelKind.WEBHOOK, probe_message(f"key-{n}", "SMS"), f"sms:+4915{n:03}")
            for n in range(20)
        ]
        answers = await sender.submit(jobs)
        await asyncio.to_thread(receiver.wait, before + 20)
        receiver.release()
        results = await asyncio.wait_for(asyncio.gather(*answers), 20)
    finally:
        receiver.release()
        await sender.stop()
    assert {type(r.outcome) for r in results} == {Sent}
    assert sum(answer_frames) == 20
    assert len(answer_frames) < 10, answer_frames


async def test_a_hub_killed_with_sigkill_leaves_no_sender_behind(sender_hub: RunningHub) -> None:
    """Last in the module: it kills the module's hub."""
    pid = await the_sender(sender_hub)
    sender_hub.kill()
    await until(lambda: not alive(pid), 10)
