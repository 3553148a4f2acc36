"""Workstation agent of the silent alarm: hotkey, tray, durable outbox and the link to the hub."""

__version__ = "0.1.0"
