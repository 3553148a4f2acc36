"""Interpreter and event-loop matters below every other layer.

Garbage-collector pauses and the thread switch interval, set at start; and
noticing that the event loop itself stood still (loop_stalls).
"""
