"""The naive hub, a yardstick: FastAPI, one durable INSERT+COMMIT per alarm, then a plain loop.

    python -m bench.naivehub --port 8765 --db /tmp/naive.sqlite3 --routes routes.json

What a first version of the hub would be: the same uvicorn settings as ``dispatch serve``
(WebSocket pings at the heartbeat, no compression, the same frame limit, uvloop and
httptools), the same message shapes (``shared.protocol``), the token checked, each alarm
written with SQLite's WAL and ``synchronous=FULL`` (fsync before the commit returns) right
on the event loop, the raiser's ``alarm_stored``, then one ``send_text`` per recipient in
turn. Receipts are read and dropped: no re-sends, no audit, no admission control. The
routes file (written by ``bench.compare`` from the topology) maps each workstation to its
token, its room and the workstations its alarms go to.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sqlite3
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI, WebSocket, WebSocketDisconnect

from bench.payloads import notify
from dispatch.live.hub import PONG_WAIT_INTERVALS
from shared.protocol import (
    MAX_MESSAGE_BYTES,
    PROTOCOL_VERSION,
    AlarmStored,
    Hello,
    RaiseAlarm,
    RoomRef,
    Welcome,
    WorkstationInfo,
    agent_to_hub,
    encode,
    utc_now,
)


def create_app(db_path: Path, routes: dict[str, Any], heartbeat: float) -> FastAPI:
    db = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE IF NOT EXISTS alarms (id TEXT PRIMARY KEY, raiser TEXT, body TEXT)")
    tokens: dict[str, str] = routes["tokens"]
    rooms: dict[str, str] = routes["rooms"]
    recipients: dict[str, list[str]] = routes["recipients"]
    online: dict[str, WebSocket] = {}
    app = FastAPI()

    async def alarm(raiser: str, ws: WebSocket, message: RaiseAlarm) -> None:
        alarm_id = str(message.alarm_id)
        db.execute("BEGIN")
        db.execute("INSERT INTO alarms VALUES (?, ?, ?)", (alarm_id, raiser, encode(message)))
        db.execute("COMMIT")
        stored = AlarmStored(reply_to=message.id, alarm_id=message.alarm_id, stored_at=utc_now())
        await ws.send_text(encode(stored))
        room = RoomRef(number=rooms.get(raiser, "?"), name="Büro", floor="EG")
        text = notify(alarm_id, message.level, room).decode("utf-8")
        for workstation_id in recipients.get(raiser, []):
            peer = online.get(workstation_id)
            if peer is not None:
                with contextlib.suppress(RuntimeError, WebSocketDisconnect):
                    await peer.send_text(text)  # gone meanwhile: a naive hub does not re-send

    @app.websocket("/ws/agent")
    async def agent(ws: WebSocket) -> None:
        await ws.accept()
        hello = agent_to_hub.validate_json(await ws.receive_text())
        if not isinstance(hello, Hello) or tokens.get(hello.workstation_id) != (
            hello.token.get_secret_value()
        ):
            await ws.close(4401, "unknown workstation or token")
            return
        me = hello.workstation_id
        online[me] = ws
        info = WorkstationInfo(workstation_id=me, room=None)
        await ws.send_text(
            encode(
                Welcome(
                    reply_to=hello.id,
                    protocol=PROTOCOL_VERSION,
                    hub_version="naive",
                    heartbeat_interval=heartbeat,
                    workstation=info,
                    keepalive="websocket",
                )
            )
        )
        try:
            while True:
                message = agent_to_hub.validate_json(await ws.receive_text())
                if isinstance(message, RaiseAlarm):
                    await alarm(me, ws, message)
        except WebSocketDisconnect:
            pass
        finally:
            if online.get(me) is ws:
                del online[me]

    return app


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.naivehub", description=__doc__.split("\n")[0])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--db", type=Path, required=True)
    p.add_argument("--routes", type=Path, required=True)
    p.add_argument("--heartbeat", type=float, default=6.0)
    args = p.parse_args(argv)
    routes = json.loads(args.routes.read_text(encoding="utf-8"))
    uvicorn.run(
        create_app(args.db, routes, args.heartbeat),
        host="127.0.0.1",
        port=args.port,
        loop="uvloop",
        http="httptools",
        ws="websockets-sansio",  # the protocol the hub's own WebSocket protocol extends
        ws_max_size=MAX_MESSAGE_BYTES,
        ws_per_message_deflate=False,
        ws_ping_interval=args.heartbeat,
        ws_ping_timeout=args.heartbeat * PONG_WAIT_INTERVALS,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=5,
    )


if __name__ == "__main__":
    main()
