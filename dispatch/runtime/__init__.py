"""Interpreter knobs the hub sets at start.

Garbage-collector pauses and the thread switch interval.
"""
