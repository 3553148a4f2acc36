"""Length-prefixed pickle frames between the hub and its own sender process (a pipe each way).

Pickle is safe here only because both ends are the same program and the pipe is
private to a parent and the child it started: nothing else can write into it.
"""

from __future__ import annotations

import asyncio
import pickle
import struct

HEADER = struct.Struct(">I")
MAX_FRAME = 64 * 1024 * 1024
"""Far above any job (a push payload is 4 KB per browser): a larger length is a broken pipe."""


class BrokenFrame(ValueError):
    """A frame's length makes no sense: the other end wrote something else into the pipe."""


def encode(value: object) -> bytes:
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    return HEADER.pack(len(data)) + data


async def read(reader: asyncio.StreamReader) -> object | None:
    """The next frame's value, or None when the other end closed the pipe."""
    try:
        header = await reader.readexactly(HEADER.size)
        (size,) = HEADER.unpack(header)
        if size > MAX_FRAME:
            raise BrokenFrame(f"frame of {size} bytes")
        data = await reader.readexactly(size)
    except asyncio.IncompleteReadError:
        return None
    value: object = pickle.loads(data)  # noqa: S301 - our own child's frames (the module's note)
    return value
