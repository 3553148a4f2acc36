"""The admin REST API under /api/v1: topology, workstations, operators, enrolment, CSV mapping.

Documented for people in docs/admin-api.md and for machines at /openapi.json.
"""
