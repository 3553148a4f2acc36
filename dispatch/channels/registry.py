"""Which channels this hub can send on: each configured channel module's ``build_channel``
(the hub's side) and ``build_transmitter`` (the sender process's side)."""

from __future__ import annotations

from collections.abc import Callable

from dispatch.channels import email, espa444, webhook, webpush
from dispatch.channels.base import Channel, ChannelKind, Transmitter
from dispatch.settings import Settings
from dispatch.store.database import Database

Builder = Callable[[Settings, Database], Channel | None]
TransmitterBuilder = Callable[[Settings], Transmitter | None]

BUILDERS: tuple[Builder, ...] = (
    email.build_channel,
    webhook.build_channel,
    espa444.build_channel,
    webpush.build_channel,
)


def build_channels(settings: Settings, db: Database) -> dict[ChannelKind, Channel]:
    """The configured channels by kind; a kind whose settings are missing is left out."""
    channels: dict[ChannelKind, Channel] = {}
    for build in BUILDERS:
        channel = build(settings, db)
        if channel is not None:
            channels[channel.kind] = channel
    return channels


TRANSMITTERS: tuple[TransmitterBuilder, ...] = (
    email.build_transmitter,
    webhook.build_transmitter,
    espa444.build_transmitter,
    webpush.build_transmitter,
)


def build_transmitters(settings: Settings) -> dict[ChannelKind, Transmitter]:
    """The sending parts of the configured channels, for the sender process (no store)."""
    transmitters: dict[ChannelKind, Transmitter] = {}
    for build in TRANSMITTERS:
        transmitter = build(settings)
        if transmitter is not None:
            transmitters[transmitter.kind] = transmitter
    return transmitters
