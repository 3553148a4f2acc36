"""A recipient's address is checked before it is stored (dispatch/channels/recipients.py)."""

from __future__ import annotations

import pytest

from dispatch.channels.base import Channel, ChannelKind, OutboundMessage, Outcome, Sent, Storeless
from dispatch.channels.recipients import check_address
from dispatch.directory.refusals import Invalid


class _Configured(Storeless):
    """Stands for a configured channel: only its presence in the registry matters here."""

    def __init__(self, kind: ChannelKind) -> None:
        self._kind = kind

    @property
    def kind(self) -> ChannelKind:
        return self._kind

    async def send(self, message: OutboundMessage, address: str) -> Outcome:
        return Sent()


def _channels(kind: ChannelKind) -> dict[ChannelKind, Channel]:
    return {kind: _Configured(kind)}


@pytest.mark.parametrize("number", ["1", "4711", "1234567890123456"])
def test_a_handset_number_of_1_to_16_digits_is_taken(number: str) -> None:
    check_address(ChannelKind.ESPA, number, _channels(ChannelKind.ESPA))


@pytest.mark.parametrize("number", ["", "12a", "+49123", "12345678901234567", "١٢٣"])
def test_anything_else_is_no_espa_number(number: str) -> None:
    with pytest.raises(Invalid):
        check_address(ChannelKind.ESPA, number, _channels(ChannelKind.ESPA))


def test_a_channel_the_hub_has_not_set_up_is_refused() -> None:
    with pytest.raises(Invalid, match="not configured"):
        check_address(ChannelKind.ESPA, "4711", _channels(ChannelKind.EMAIL))
