"""Remote sessions (issue 19): detection, the client name in the hello, the session's status.

``user32``/``wtsapi32`` exist only on Windows; the ctypes calls are exercised here
with stand-ins that keep the contract of ``GetSystemMetrics`` and of
``WTSQuerySessionInformationW`` (it writes a pointer to a string Windows owns,
which ``WTSFreeMemory`` frees). The Windows CI workflow runs them against the real DLLs.
"""

from __future__ import annotations

import ctypes
import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from agent.feedback import Feedback, Reason, ordered
from agent.link import link_for
from agent.outbox import Outbox
from agent.remote_session import (
    SM_REMOTESESSION,
    WTS_CLIENT_NAME,
    WTS_CURRENT_SERVER_HANDLE,
    WTS_CURRENT_SESSION,
    CtypesSessionApi,
    RemoteSession,
    clean_name,
    detect,
    session_data_dir,
)
from agent.status_text import room_line
from shared.domain import AlarmLevel, Trigger
from shared.protocol import PROTOCOL_VERSION, Hello, agent_to_hub, encode
from shared.protocol import RemoteSession as SessionOnTheWire


class StandInSession:
    """What the agent asks Windows, answered as a test says."""

    def __init__(self, remote: bool, name: str | None) -> None:
        self.remote, self.name = remote, name

    def is_remote(self) -> bool:
        return self.remote

    def client_name(self) -> str | None:
        return self.name


def windows(remote: bool, name: str | None) -> Any:
    return lambda: StandInSession(remote, name)


def test_a_local_linux_desktop_is_no_remote_session() -> None:
    assert detect({}, platform="linux") is None
    # CLIENTNAME alone is no session on Linux: only xrdp's own variables say so.
    assert detect({"CLIENTNAME": "THIN-07"}, platform="linux") is None


def test_an_xrdp_session_names_its_client_only_when_told() -> None:
    nameless = detect({"XRDP_SESSION": "1"}, platform="linux")
    assert nameless == RemoteSession("xrdp", None)
    assert not nameless.mappable
    assert detect({"XRDP_SOCKET_PATH": "/run/xrdp/sockdir"}, platform="linux") == nameless
    named = detect({"XRDP_SESSION": "4711", "CLIENTNAME": " THIN-07 "}, platform="linux")
    assert named == RemoteSession("xrdp", "THIN-07")
    assert named.mappable


def test_windows_asks_the_session_api_first_then_clientname() -> None:
    env = {"CLIENTNAME": "FROM-ENV"}
    assert detect(env, platform="win32", windows_api=windows(False, "THIN-07")) is None
    assert detect(env, platform="win32", windows_api=windows(True, "THIN-07")) == RemoteSession(
        "windows", "THIN-07"
    )
    # The API gave nothing (a failed call): Windows' environment variable is the fallback.
    assert detect(env, platform="win32", windows_api=windows(True, None)) == RemoteSession(
        "windows", "FROM-ENV"
    )
    unnamed = detect({}, platform="win32", windows_api=windows(True, ""))
    assert unnamed == RemoteSession("windows", None)


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("THIN-07", "THIN-07"),
        ("  thin-07\0", "thin-07"),
        ("Console", None),
        ("", None),
        (None, None),
        ("A" * 65, None),
        ("THIN\n07", None),
        ("THIN\x7f", None),
    ],
)
def test_client_names_fit_for_the_hello(raw: str | None, clean: str | None) -> None:
    assert clean_name(raw) == clean


class StandInUser32:
    def __init__(self, remote: int) -> None:
        self.remote, self.asked = remote, 0

    def GetSystemMetrics(self, index: int) -> int:
        self.asked = index
        return self.remote


class StandInWtsApi:
    """Writes the client name where the caller's LPWSTR points, as Windows does."""

    def __init__(self, name: str | None) -> None:
        self.name = name
        self.calls: list[tuple[object, ...]] = []
        self.freed: list[object] = []
        self._keep: list[object] = []

    def WTSQuerySessionInformationW(
        self, server: int, session: int, info: int, buffer: Any, size: Any
    ) -> int:
        self.calls.append((server, session, info))
        if self.name is None:
            return 0
        text = ctypes.create_unicode_buffer(self.name)
        self._keep.append(text)
        buffer._obj.value = text.value  # the LPWSTR behind byref()
        size._obj.value = (len(self.name) + 1) * 2
        return 1

    def WTSFreeMemory(self, pointer: object) -> None:
        self.freed.append(pointer)


def test_the_ctypes_calls_ask_for_this_sessions_client_and_free_windows_memory() -> None:
    user32, wtsapi = StandInUser32(1), StandInWtsApi("THIN-07")
    api = CtypesSessionApi(user32, wtsapi)
    assert api.is_remote()
    assert user32.asked == SM_REMOTESESSION
    assert api.client_name() == "THIN-07"
    assert wtsapi.calls == [(WTS_CURRENT_SERVER_HANDLE, WTS_CURRENT_SESSION, WTS_CLIENT_NAME)]
    assert len(wtsapi.freed) == 1
    failing = StandInWtsApi(None)
    assert CtypesSessionApi(StandInUser32(0), failing).client_name() is None
    assert failing.freed == []  # nothing was allocated
    assert not CtypesSessionApi(StandInUser32(0), failing).is_remote()


def test_each_session_has_a_data_dir_of_its_own(tmp_path: Path) -> None:
    assert session_data_dir(tmp_path, None) == tmp_path
    assert session_data_dir(tmp_path, RemoteSession("windows", "THIN-07")) == (
        tmp_path / "session-THIN-07"
    )
    assert session_data_dir(tmp_path, RemoteSession("windows", "a/b\\c")) == (
        tmp_path / "session-a_b_c"
    )
    assert session_data_dir(tmp_path, RemoteSession("xrdp", None)) == tmp_path / "session-unnamed"


def test_the_hello_carries_the_client_only_from_a_session() -> None:
    plain = Hello(protocol=PROTOCOL_VERSION, workstation_id="rds-01", token="t", agent_version="1")
    assert "remote_session" not in json.loads(encode(plain))  # an older hub takes it
    remote = Hello(
        protocol=PROTOCOL_VERSION,
        workstation_id="rds-01",
        token="t",
        agent_version="1",
        remote_session=SessionOnTheWire(client_name="THIN-07"),
    )
    wire = json.loads(encode(remote))
    assert wire["token"] == "t"  # the token's own serializer still applies
    assert wire["remote_session"] == {"client_name": "THIN-07"}
    parsed = agent_to_hub.validate_json(json.dumps(wire))
    assert isinstance(parsed, Hello)
    assert parsed.remote_session is not None
    assert parsed.remote_session.client_name == "THIN-07"
    for bad in ("", "THIN\n07", "x" * 65):
        wire["remote_session"] = {"client_name": bad}
        with pytest.raises(ValidationError):
            agent_to_hub.validate_json(json.dumps(wire))


def test_the_status_names_the_session_after_the_room() -> None:
    room = {"number": "1.02", "name": "Beratung 2", "floor": "1. OG"}
    status: dict[str, Any] = {"room": room, "room_known": True, "session_client": "THIN-07"}
    assert room_line(status, "de") == "Raum 1.02 – Beratung 2, 1. OG (Sitzung von THIN-07)"
    assert room_line(status, "en") == "Room 1.02 – Beratung 2, 1. OG (session of THIN-07)"
    assert room_line({**status, "session_client": None}, "de") == "Raum 1.02 – Beratung 2, 1. OG"


def test_an_unmappable_session_says_why_instead_of_no_hub() -> None:
    feedback = Feedback()
    assert Reason.NO_HUB in feedback.view.reasons
    view = feedback.reason(Reason.SESSION_UNMAPPED, True)
    assert ordered(view.reasons) == [Reason.SESSION_UNMAPPED]
    assert not view.protected


def test_an_unmappable_session_never_connects(tmp_path: Path) -> None:
    from agent.config import parse_config
    from agent.link import LinkEvents

    config = parse_config(
        {
            "hub_urls": ["ws://127.0.0.1:9/ws/agent"],
            "workstation_id": "rds-01",
            "token": "secret",
            "data_dir": str(tmp_path),
            "peer_port": 47000,
        }
    )
    outbox = Outbox(tmp_path)
    try:
        link = link_for(config, outbox, LinkEvents(), RemoteSession("xrdp", None))
        link.start()  # returns without a thread: the hub would take the session for the host
        assert link._thread is None
        assert link._peers is None  # a session never listens for direct alarms
        alarm = link.raise_alarm(AlarmLevel.SUPPORT, Trigger.HOTKEY)
        assert [a.alarm_id for a in outbox.pending()] == [alarm.alarm_id]  # kept, not lost
        named = link_for(config, outbox, LinkEvents(), RemoteSession("windows", "THIN-07"))
        assert named._remote_session is not None
        assert named._remote_session.client_name == "THIN-07"
        assert named._peers is None
        local = link_for(config, outbox, LinkEvents())
        assert local._remote_session is None
        assert local._peers is not None  # the same config on a PC: the direct path is on
    finally:
        outbox.close()
