"""The hub names what the installed uvicorn lacks of what its WebSocket layer uses."""

from __future__ import annotations

from dispatch.runtime.uvicorn_support import problems


def test_the_installed_uvicorn_has_everything_the_hub_uses() -> None:
    assert problems() == []


def test_a_missing_module_class_or_method_is_named() -> None:
    used = (
        ("json", "JSONDecoder", ("decode", "start_keepalive")),
        ("json", "NoSuchProtocol", ("handle_connect",)),
        ("uvicorn.protocols.websockets.no_such_impl", "WebSocketsSansIOProtocol", ()),
    )
    assert problems(used) == [
        "no JSONDecoder.start_keepalive",
        "no json.NoSuchProtocol",
        "no module uvicorn.protocols.websockets.no_such_impl",
    ]
