"""The dispatch hub: receives alarms, stores them, routes them and serves the console."""

__version__ = "0.1.0"
