"""Routing: who is told what about an alarm.

From the alarm's level, the site's policy and the room topology.
"""
