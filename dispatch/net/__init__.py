"""The network edge: connections, frames, keepalive, admission and limits.

And the bus between hub instances.
"""
