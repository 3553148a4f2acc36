"""How the delivery queue reaches the channels' sending parts: the `Sender` contract, and the
sender that runs them in this process (the sender process itself, and tests without one)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Protocol

from dispatch.channels.base import ChannelKind, Failed, Job, Transmitted, Transmitter


class SenderLost(Exception):
    """The sender process died or hung with the job in hand: nobody knows whether it went out."""


class Sender(Protocol):
    async def submit(self, jobs: Sequence[Job]) -> list[asyncio.Future[Transmitted]]:
        """Hands the jobs over together (the sender process: one frame) and returns at once
        with one future per job, in their order: its result, or `SenderLost` when the
        process sending it is gone. The queue's cost is per batch, not per message."""
        ...

    async def stop(self) -> None: ...


async def transmit(sender: Sender, job: Job) -> Transmitted:
    """One job's result (the admin page's test message); raises `SenderLost`."""
    (answer,) = await sender.submit([job])
    return await answer


class InProcess:
    """Runs each job's ``transmit`` on this event loop, cut off after ``timeout``."""

    def __init__(self, transmitters: Mapping[ChannelKind, Transmitter], timeout: float) -> None:
        self._transmitters = dict(transmitters)
        self._timeout = timeout

    async def submit(self, jobs: Sequence[Job]) -> list[asyncio.Future[Transmitted]]:
        return [asyncio.ensure_future(self.transmit(job)) for job in jobs]

    async def transmit(self, job: Job) -> Transmitted:
        transmitter = self._transmitters.get(job.kind)
        if transmitter is None:
            reason = f"channel {job.kind.value} is not configured on this hub"
            return Transmitted(Failed(reason, retryable=False))
        try:
            # The channel bounds its own send; this guard keeps a hung one within the lease.
            return await asyncio.wait_for(transmitter.transmit(job), self._timeout)
        except TimeoutError:
            return Transmitted(Failed(f"{job.kind.value}: no answer in time"))

    async def stop(self) -> None:
        for transmitter in self._transmitters.values():
            close = getattr(transmitter, "aclose", None)  # one holding connections (HTTP, SMTP)
            if close is not None:
                await close()
