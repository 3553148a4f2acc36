"""The directory: sites, rooms, workstations and operators, enrolment and log-in.

Each entity has one write path: its rules checked once, its audit event written.
"""
