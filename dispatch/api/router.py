"""All admin API resources under /api/v1 (one line in dispatch.app includes this)."""

from __future__ import annotations

from fastapi import APIRouter

from dispatch.api import enrolment, mapping_csv, operators, policies, rooms, sites, workstations

API_PREFIX = "/api/v1"

router = APIRouter(prefix=API_PREFIX)
router.include_router(operators.router)
router.include_router(sites.router)
router.include_router(policies.router)
router.include_router(rooms.router)
router.include_router(mapping_csv.router)  # /workstations.csv before /workstations/{id}
router.include_router(workstations.router)
router.include_router(enrolment.router)
