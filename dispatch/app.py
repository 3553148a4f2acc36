"""The FastAPI application factory: storage, hub, WebSocket endpoints and console pages."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.middleware.sessions import SessionMiddleware

from dispatch import __version__
from dispatch.agent_ws import agent_endpoint
from dispatch.alarms import AlarmStore
from dispatch.api.router import router as api_router
from dispatch.bus import create_bus
from dispatch.console.admin import router as admin_router
from dispatch.console.routes import router as console_router
from dispatch.console.statistics import router as statistics_router
from dispatch.console_ws import console_endpoint
from dispatch.database import Database
from dispatch.directory import Directory
from dispatch.hub import Hub
from dispatch.settings import Settings


def create_app(settings: Settings) -> FastAPI:
    """The schema must be migrated before the app starts (``dispatch.migrate.upgrade``)."""
    secret = settings.require_session_secret()
    bus = create_bus(settings.bus, settings.resolved_database_url)  # refuses a bad combination

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = Database(settings.resolved_database_url)
        app.state.db = db
        app.state.directory = directory = Directory(db)
        app.state.hub = hub = Hub(
            AlarmStore(db),
            directory,
            settings.heartbeat_interval,
            settings.redeliver_interval,
            bus=bus,
        )
        hub.start()
        await bus.start(hub.on_bus_event)  # listening before /healthz answers
        try:
            yield
        finally:
            await hub.stop()
            await bus.stop()  # after the hub: its last changes (PCs offline) still go out
            await db.dispose()

    app = FastAPI(title="Stiller Alarm – Zentrale", version=__version__, lifespan=lifespan)
    app.state.settings = settings
    app.add_middleware(
        SessionMiddleware,
        secret_key=secret.get_secret_value(),
        session_cookie="silent_alarm_session",
        max_age=settings.session_max_age,
        same_site="strict",
        https_only=settings.secure_cookies,
    )
    app.add_api_websocket_route("/ws/agent", agent_endpoint)
    app.add_api_websocket_route("/ws/console", console_endpoint)
    app.include_router(console_router)
    app.include_router(statistics_router)
    app.include_router(admin_router)
    app.include_router(api_router)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    return app
