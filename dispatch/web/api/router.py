"""All admin API resources under /api/v1 (one line in dispatch.app includes this)."""

from __future__ import annotations

from fastapi import APIRouter

from dispatch.web.api import (
    channels,
    deliveries,
    directory_sync,
    drills,
    enrolment,
    floorplans,
    incidents,
    mapping_csv,
    operators,
    policies,
    rooms,
    sites,
    statistics,
    webpush,
    workstations,
)

API_PREFIX = "/api/v1"

router = APIRouter(prefix=API_PREFIX)
router.include_router(operators.router)
router.include_router(sites.router)
router.include_router(policies.router)
router.include_router(rooms.router)
router.include_router(mapping_csv.router)  # /workstations.csv before /workstations/{id}
router.include_router(directory_sync.router)
router.include_router(workstations.router)
router.include_router(enrolment.router)
router.include_router(floorplans.router)
router.include_router(statistics.router)
router.include_router(incidents.router)
router.include_router(drills.router)
router.include_router(deliveries.router)
router.include_router(channels.router)
router.include_router(webpush.router)  # issue 20: the guards' phones
