"""The FastAPI application factory: storage, hub, WebSocket endpoints and console pages."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket

from dispatch import __version__
from dispatch.alarms.retention import RetentionPolicy
from dispatch.alarms.retention_job import DailyPruning
from dispatch.alarms.store import AlarmStore
from dispatch.channels import vapid
from dispatch.channels.ack_tokens import AckTokens
from dispatch.channels.base import ChannelKind
from dispatch.channels.queue import DeliveryQueue
from dispatch.channels.registry import build_channels
from dispatch.channels.retry import lease
from dispatch.channels.sender_process import SenderProcess
from dispatch.directory.authentication import Authenticator
from dispatch.directory.directory_watch import DirectoryWatch
from dispatch.directory.ldap_directory import LdapDirectory
from dispatch.live.hub import Hub
from dispatch.live.peer_directory import PeerDirectories
from dispatch.net.admission import HandshakeGate
from dispatch.net.bus import create_bus
from dispatch.net.connection_limits import Addresses
from dispatch.runtime import gcpause, switch_interval
from dispatch.runtime.metrics import Metrics, MetricsServer
from dispatch.settings import Settings
from dispatch.store import audit_key as audit_keys
from dispatch.store import peer_key
from dispatch.store.audit_anchors import AuditAnchors
from dispatch.store.database import Database
from dispatch.store.migrate import head_revision
from dispatch.store.store_health import storage_failure
from dispatch.web.agent_ws import agent_endpoint
from dispatch.web.api.router import router as api_router
from dispatch.web.console.admin import router as admin_router
from dispatch.web.console.routes import router as console_router
from dispatch.web.console.statistics import router as statistics_router
from dispatch.web.console.webapp import router as webapp_router
from dispatch.web.console_ws import console_endpoint
from dispatch.web.hsts import StrictTransportSecurity
from dispatch.web.readiness import problems
from dispatch.web.validation_errors import install as answer_validation_errors_without_inputs
from shared.protocol import build_all

log = structlog.get_logger(__name__)

AGENT_PATH = "/ws/agent"


def create_app(settings: Settings) -> FastAPI:
    """The schema must be migrated before the app starts (``dispatch.store.migrate.upgrade``)."""
    secret = settings.require_session_secret()
    bus = create_bus(settings.bus, settings.resolved_database_url)  # refuses a bad combination
    audit_key = audit_keys.load_or_create(settings.resolved_audit_key_file)  # or refuses
    schema_needed = head_revision()
    metrics = Metrics()  # this app's own registry, served only with METRICS_PORT set
    peer_secret = peer_key.load_or_create(settings.resolved_peer_key_file)  # or refuses
    directory = LdapDirectory(settings) if settings.ldap_url else None
    if settings.vapid_private_key_file is not None:
        vapid.load(settings.vapid_private_key_file)  # a bad key file refuses to start

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        build_all()  # every protocol validator now, not on the first alarm
        served = _serve_metrics(metrics, settings)  # first: a port taken stops the start
        gcpause.configure()
        switch_interval.configure()  # database threads get the GIL back sooner under load
        # SQLite: the WAL is checkpointed by a task of its own, not in the writer's commits.
        db = Database(
            settings.resolved_database_url,
            checkpoint_in_background=True,
            audit_key=audit_key,
            reserve_bytes=settings.disk_reserve_bytes,
            metrics=metrics,
        )
        app.state.db = db
        db.health.start()  # the disk reserve; a full disk starts the hub not ready
        anchors = AuditAnchors(
            db, settings.resolved_audit_anchor_file, audit_key, settings.audit_anchor_interval
        )
        gate: HandshakeGate = app.state.handshake_gate
        app.state.authenticator = authenticator = Authenticator(db, directory, crowded=gate.crowded)
        alarms = AlarmStore(db)
        try:
            await alarms.routing.refresh()
        except Exception as error:
            # A full disk may keep SQLite from opening at all: the hub starts not ready, its
            # store's watch retries, and the heartbeat round reads the routing later.
            if storage_failure(error) is None:
                raise
            db.health.write_failed(error)
        app.state.hub = hub = Hub(
            alarms,
            authenticator,
            settings.heartbeat_interval,
            settings.redeliver_interval,
            bus=bus,
            metrics=metrics,
            crowded=gate.crowded,
        )
        hub.peer_directories = PeerDirectories(peer_secret)  # issue 16: the direct path
        channels = build_channels(settings, db)
        # issue 20: the guards' phones; None without a VAPID key. The same channel the
        # delivery queue sends alarms on serves the console's "Test-Push".
        app.state.webpush = channels.get(ChannelKind.WEBPUSH)
        hub.store_changed(db.health.state)
        db.health.listeners.append(hub.store_changed)
        # The sending runs in a child process at idle priority (issue 20: sending never
        # delays storing or the popups); the hub keeps the store's share of it. Without a
        # channel there is nothing to send and no child is started.
        sender = None
        if channels:
            sender = SenderProcess(
                settings, lease=lease(settings.channel_send_timeout).total_seconds()
            )
            sender.start()
        app.state.sender = sender
        hub.deliveries = deliveries = DeliveryQueue(
            db,
            channels,
            send_timeout=settings.channel_send_timeout,
            concurrency=settings.channel_concurrency,
            max_attempts=settings.channel_max_attempts,
            on_change=hub.channels_changed,
            sender=sender,
        )
        hub.start()
        deliveries.start()  # e-mail, webhook/SMS (issue 20): its own task, never the alarm's
        anchors.start()
        pruning = DailyPruning(
            db, retention_policy(settings), first_after=settings.retention_first_run
        )
        pruning.start()
        watch = None
        if directory is not None:
            watch = DirectoryWatch(
                db,
                directory,
                interval=settings.ldap_check_interval,
                session_max_age=settings.session_max_age,
            )
            watch.start()
        app.state.bus = bus
        await bus.start(hub.on_bus_event)  # listening before /healthz answers
        hub.metrics_served = served is not None
        try:
            yield
        finally:
            await pruning.stop()
            await deliveries.stop()
            if watch is not None:
                await watch.stop()
            await hub.stop()
            await bus.stop()  # after the hub: its last changes (PCs offline) still go out
            await anchors.stop()  # after the hub's last audited change
            await db.dispose()
            if served is not None:
                served.stop()

    # No /docs or /redoc: FastAPI's pages load Swagger UI and ReDoc from a CDN, and no
    # third-party script may run on the hub's origin. The schema stays at /openapi.json.
    app = FastAPI(
        title="Stiller Alarm – Zentrale",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.directory = directory  # None: local accounts only, no directory sync
    app.state.metrics = metrics
    app.state.webpush = None  # the Web Push channel, once the store is open (lifespan)
    app.state.sender = None  # the sender process, when a channel is configured (lifespan)
    # "Quittieren" on a phone's notification: tokens signed with the session secret.
    app.state.ack_tokens = AckTokens(secret.get_secret_value(), settings.webpush_ack_token_ttl)
    app.state.handshake_gate = HandshakeGate(
        settings.max_handshakes,
        per_address=settings.max_handshakes_per_address,
        max_queued=settings.max_queued_handshakes,
        max_wait=settings.max_handshake_wait,
        exempt=Addresses(settings.trusted_proxies),  # refuses a malformed entry
        metrics=metrics,
    )
    answer_validation_errors_without_inputs(app)
    app.add_middleware(
        SessionMiddleware,
        secret_key=secret.get_secret_value(),
        session_cookie="silent_alarm_session",
        max_age=settings.session_max_age,
        same_site="strict",
        https_only=settings.https_only,
    )
    if settings.https_only:
        app.add_middleware(StrictTransportSecurity)
    app.add_api_websocket_route(AGENT_PATH, agent_endpoint)  # see with_agent_fast_path
    app.add_api_websocket_route("/ws/console", console_endpoint)
    app.include_router(console_router)
    app.include_router(webapp_router)  # the manifest and service worker (issue 20)
    app.include_router(statistics_router)
    app.include_router(admin_router)
    app.include_router(api_router)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        """Liveness: the process answers (a restart would not help a full disk)."""
        return {"status": "ok", "version": __version__}

    @app.get("/readyz", include_in_schema=False)
    async def readyz(request: Request) -> JSONResponse:
        """Readiness for a load balancer: 503 while the hub cannot store alarms, runs on
        its disk reserve (issue 16), its database does not answer or is at another schema,
        or its bus is not connected (issue 18)."""
        state = request.app.state
        found = await problems(state.db, state.bus, schema_needed)
        if not found:
            return JSONResponse({"status": "ready", "version": __version__, "problems": []})
        first = found[0]  # "problem" and "reason": the form monitors read before issue 18
        return JSONResponse(
            {
                "status": "not_ready",
                "version": __version__,
                "problem": first.problem,
                "reason": first.reason,
                "problems": [p.as_json() for p in found],
            },
            status_code=503,
        )

    return app


def _serve_metrics(metrics: Metrics, settings: Settings) -> MetricsServer | None:
    """/metrics on its own port (docs/admin.md "Monitoring"); none when the port is 0."""
    if not settings.metrics_port:
        return None
    try:
        server = MetricsServer(metrics, settings.metrics_host, settings.metrics_port)
    except OSError as error:  # the port taken, the address not this host's
        log.error(
            "metrics_not_served",
            host=settings.metrics_host,
            port=settings.metrics_port,
            error=error.strerror,
        )
        raise
    log.info("metrics_served", host=settings.metrics_host, port=server.port)
    return server


def retention_policy(settings: Settings) -> RetentionPolicy:
    return RetentionPolicy(
        settings.retain_alarms_days, settings.retain_self_tests_days, settings.retain_audit_days
    )


def with_agent_fast_path(app: FastAPI) -> ASGIApp:
    """The agents' WebSocket goes straight to its endpoint, past the middleware stack.

    Sessions, CSRF and error pages are for browsers; agents authenticate in their
    hello. Every agent frame sent or received through the seven middleware layers
    costs a coroutine hop each way, and ten thousand agents make that the hub's
    largest idle cost after the frames themselves.
    """

    async def asgi(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and scope["path"] == AGENT_PATH:
            scope["app"] = app  # what Starlette would set: the endpoint reads app.state
            await agent_endpoint(WebSocket(scope, receive, send))
        else:
            await app(scope, receive, send)

    return asgi
