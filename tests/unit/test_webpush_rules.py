"""Web Push's pure rules: which endpoints the hub posts to, acknowledge tokens, the payload,
the settings that refuse to start, and the web app's manifest and icons."""

from __future__ import annotations

import hashlib
import json
import re
import struct
import uuid
from pathlib import Path

import pytest
from pydantic import ValidationError

from dispatch.app import create_app
from dispatch.channels.ack_tokens import AckTokens, TokenRefused
from dispatch.channels.base import Audience, OutboundMessage
from dispatch.channels.push_endpoints import EndpointPolicy, EndpointRefused, endpoint_host
from dispatch.channels.vapid import VapidKeyError, generate, load, public_key
from dispatch.channels.webpush import MAX_PLAINTEXT, payload, topic
from dispatch.settings import PUSH_SERVICE_HOSTS, Settings
from dispatch.web.console import webapp

POLICY = EndpointPolicy(PUSH_SERVICE_HOSTS)
SECRET = "s" * 40
ICONS = Path(webapp.__file__).parent / "static" / "icons"


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://fcm.googleapis.com/fcm/send/dG9rZW4:APA91b",
        "https://updates.push.services.mozilla.com/wpush/v2/gAAAAABk",
        "https://wns2-par02p.notify.windows.com/w/?token=BQYAAAB",
        "https://web.push.apple.com/QGuGW7Nd8GJ5",
        "https://FCM.googleapis.com:443/fcm/send/x",
    ],
)
def test_the_browsers_push_services_are_allowed(endpoint: str) -> None:
    assert POLICY.check(endpoint) == endpoint


@pytest.mark.parametrize(
    ("endpoint", "why"),
    [
        ("http://fcm.googleapis.com/fcm/send/x", "https://"),
        ("https://127.0.0.1/x", "not a push service"),
        ("https://[::1]/x", "not a push service"),
        ("https://10.0.0.5/x", "not a push service"),
        ("https://intranet/x", "not a push service"),
        ("https://fcm.googleapis.com.evil.example/x", "not a push service"),
        ("https://evilfcm.googleapis.com/x", "not a push service"),
        ("https://notify.windows.com/x", "not a push service"),
        ("https://user:pw@fcm.googleapis.com/x", "user name"),
        ("https://fcm.googleapis.com@10.0.0.5/x", "user name"),
        ("https://fcm.googleapis.com\\@10.0.0.5/x", "plain URL"),
        ("https://fcm.googleapis.com/x y", "plain URL"),
        ("https://fcm.googleapis.com:8443/x", "port 443"),
        ("https://fcm.googleapis.com:99999/x", "not a URL"),
        ("gopher://fcm.googleapis.com/x", "https://"),
        ("https://fcm.googleapis.com/" + "x" * 2100, "longer than"),
        ("", "plain URL"),
    ],
)
def test_other_endpoints_are_refused_saying_why(endpoint: str, why: str) -> None:
    with pytest.raises(EndpointRefused, match=re.escape(why)):
        POLICY.check(endpoint)


def test_the_test_origin_allows_exactly_that_origin() -> None:
    policy = EndpointPolicy(PUSH_SERVICE_HOSTS, "http://127.0.0.1:4321")
    assert policy.check("http://127.0.0.1:4321/push/a") == "http://127.0.0.1:4321/push/a"
    for other in (
        "http://127.0.0.1:4322/push/a",
        "http://127.0.0.1/push/a",
        "http://localhost:4321/",
    ):
        with pytest.raises(EndpointRefused):
            policy.check(other)


def test_only_the_host_of_an_endpoint_is_shown() -> None:
    assert endpoint_host("https://fcm.googleapis.com/fcm/send/secret-part") == "fcm.googleapis.com"
    assert endpoint_host("https://[::1") == "?"


# --- acknowledge tokens -----------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def test_a_token_acknowledges_its_alarm_until_it_expires() -> None:
    clock = Clock()
    tokens = AckTokens(SECRET, 3600, clock=clock)
    alarm = uuid.uuid4()
    token = tokens.issue(alarm, operator_id=7, session_epoch=3)
    claim = tokens.check(token, alarm)
    assert (claim.alarm_id, claim.operator_id, claim.session_epoch) == (alarm, 7, 3)
    clock.now += 3600
    assert tokens.check(token, alarm).expires_at == int(clock.now)
    clock.now += 1
    with pytest.raises(TokenRefused, match="expired"):
        tokens.check(token, alarm)


def test_forged_and_foreign_tokens_are_refused() -> None:
    tokens = AckTokens(SECRET, 3600)
    alarm = uuid.uuid4()
    token = tokens.issue(alarm, 7, 3)
    with pytest.raises(TokenRefused, match="another alarm"):
        tokens.check(token, uuid.uuid4())
    with pytest.raises(TokenRefused, match="not genuine"):
        AckTokens("t" * 40, 3600).check(token, alarm)
    with pytest.raises(TokenRefused, match="not genuine"):
        tokens.check(token.replace(".", "x", 1), alarm)
    # Signed with the right key but shaped otherwise (another use of the same secret).
    from itsdangerous import URLSafeSerializer

    from dispatch.channels.ack_tokens import SALT

    sha256 = {"digest_method": hashlib.sha256}
    odd = URLSafeSerializer(SECRET, salt=SALT, signer_kwargs=sha256).dumps({"alarm": str(alarm)})
    with pytest.raises(TokenRefused, match="not genuine"):
        tokens.check(odd, alarm)
    session_like = URLSafeSerializer(SECRET, signer_kwargs=sha256).dumps(
        [str(alarm), 7, 3, 2_000_000_000]
    )
    with pytest.raises(TokenRefused, match="not genuine"):
        tokens.check(session_like, alarm)  # another salt: not an acknowledge token


# --- the payload ----------------------------------------------------------------------------


def _message(body: str = "Bitte kommen.", room: str | None = "1.01") -> OutboundMessage:
    return OutboundMessage(
        alarm_id=str(uuid.uuid4()),
        idempotency_key="k",
        level=2,
        audience=Audience.SECURITY,
        site="Musterstadt",
        room=room,
        subject="Stufe 2 – Raum 1.01",
        body=body,
    )


def test_the_payload_carries_what_the_service_worker_shows() -> None:
    message = _message()
    data = json.loads(payload(message, "TOKEN"))
    assert data == {
        "v": 1,
        "alarm_id": message.alarm_id,
        "level": 2,
        "room": "1.01",
        "site": "Musterstadt",
        "audience": "security",
        "lang": "de",
        "title": "Stufe 2 – Raum 1.01",
        "body": "Bitte kommen.",
        "url": f"/console?alarm={message.alarm_id}",
        "ack": {
            "url": f"/api/v1/webpush/alarms/{message.alarm_id}/acknowledge",
            "token": "TOKEN",
        },
        "test": False,
        "kind": "alarm",
    }


def test_a_long_body_is_cut_to_fit_one_push() -> None:
    encoded = payload(_message(body="ä" * 5000), "T" * 200)
    assert len(encoded) <= MAX_PLAINTEXT
    data = json.loads(encoded)
    assert data["body"].endswith("…")
    assert data["ack"]["token"] == "T" * 200


def test_a_body_of_escaped_characters_is_cut_to_fit_too() -> None:
    encoded = payload(_message(body='"\\' * 3000), "T")
    assert len(encoded) <= MAX_PLAINTEXT
    assert json.loads(encoded)["body"].endswith("…")


def test_the_topic_is_a_short_base64url_word_per_message() -> None:
    first = topic("alarm-1:wache:webpush")
    assert re.fullmatch(r"[A-Za-z0-9_-]{32}", first)
    assert topic("alarm-1:wache:webpush") == first
    assert topic("alarm-1:zweite:webpush") != first


# --- settings -------------------------------------------------------------------------------


def test_a_vapid_key_needs_a_subject(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="VAPID_SUBJECT"):
        Settings(vapid_private_key_file=tmp_path / "k.pem", vapid_subject="sicherheit@example.org")
    Settings(vapid_private_key_file=tmp_path / "k.pem", vapid_subject="mailto:s@example.org")


@pytest.mark.parametrize(
    "origin",
    ["http://10.0.0.5:80", "https://127.0.0.1:443", "http://127.0.0.1", "http://localhost:1"],
)
def test_the_test_origin_is_only_a_loopback_port(origin: str) -> None:
    with pytest.raises(ValidationError, match=re.escape("127.0.0.1:PORT")):
        Settings(webpush_test_origin=origin)


def test_a_broken_key_file_stops_the_hub_without_quoting_it(tmp_path: Path) -> None:
    """create_app refuses (the CLI turns the ValueError into one line and exit 2)."""
    broken = tmp_path / "broken.pem"
    broken.write_text("-----BEGIN PRIVATE KEY-----\nbm9wZQ==\n-----END PRIVATE KEY-----\n")
    settings = Settings(
        session_secret=SECRET,
        data_dir=tmp_path,
        vapid_private_key_file=broken,
        vapid_subject="mailto:s@example.org",
    )
    with pytest.raises(VapidKeyError, match="holds no VAPID private key") as refused:
        create_app(settings)
    assert "bm9wZQ" not in str(refused.value)
    missing = settings.model_copy(update={"vapid_private_key_file": tmp_path / "none.pem"})
    with pytest.raises(VapidKeyError, match="cannot read"):
        create_app(missing)


def test_a_key_file_is_made_once_and_private(tmp_path: Path) -> None:
    made = tmp_path / "vapid.pem"
    public = generate(made)
    assert made.stat().st_mode & 0o777 == 0o600
    assert public_key(load(made)) == public
    before = made.read_bytes()
    with pytest.raises(VapidKeyError, match="exists already"):
        generate(made)
    assert made.read_bytes() == before


# --- the installable app --------------------------------------------------------------------


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", path
    width, height = struct.unpack(">II", head[16:24])
    return width, height


def test_every_icon_of_the_manifest_is_a_png_of_its_size() -> None:
    assert webapp.MANIFEST["name"] == "Stiller Alarm – Wache"
    assert webapp.MANIFEST["start_url"] == "/console"
    for icon in webapp.MANIFEST["icons"]:
        file = ICONS / Path(icon["src"]).name
        width, height = _png_size(file)
        assert icon["sizes"] == f"{width}x{height}"
    assert _png_size(ICONS / "badge-96.png") == (96, 96)


def test_the_service_worker_has_the_texts_of_both_languages() -> None:
    script = webapp.SERVICE_WORKER
    texts = json.loads(re.search(r"var TEXTS = (\{.*\});", script).group(1))  # type: ignore[union-attr]
    assert texts["de"]["push_acknowledge"] == "Quittieren"
    assert texts["en"]["push_acknowledge"] == "Acknowledge"
    assert "{{" not in script
