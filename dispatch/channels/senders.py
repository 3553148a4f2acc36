"""How the delivery queue reaches the channels' sending parts: the `Sender` contract, and the
sender that runs them in this process (the sender process itself, and tests without one)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Protocol

from dispatch.channels.base import ChannelKind, Failed, Job, Transmitted, Transmitter


class SenderLost(Exception):
    """The sender process died or hung with the job in hand: nobody knows whether it went out."""


class Sender(Protocol):
    async def transmit(self, job: Job) -> Transmitted:
        """The job's result; raises `SenderLost` when the process sending it is gone."""
        ...

    async def stop(self) -> None: ...


class InProcess:
    """Runs each job's ``transmit`` on this event loop, cut off after ``timeout``."""

    def __init__(self, transmitters: Mapping[ChannelKind, Transmitter], timeout: float) -> None:
        self._transmitters = dict(transmitters)
        self._timeout = timeout

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
            close = getattr(transmitter, "aclose", None)  # one holding connections (httpx)
            if close is not None:
                await close()
