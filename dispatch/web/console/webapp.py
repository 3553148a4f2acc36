"""The console as an installable web app: its manifest and the service worker that shows pushes.

Both are served from the hub's own origin, at the root, so the service worker's
scope is "/" (the console, the login and the start URL) without a
``Service-Worker-Allowed`` header. Neither needs a session: browsers fetch a
manifest without cookies, and the worker holds no data of its own.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from dispatch.web.console import i18n
from dispatch.web.console.routes import STATIC_PATH, templates

router = APIRouter(include_in_schema=False)

APP_NAME = "Stiller Alarm – Wache"
THEME_COLOUR = "#b91c1c"  # the brand mark's red (console.css --l3)
ICONS = f"{STATIC_PATH}/icons"

MANIFEST: dict[str, Any] = {
    "name": APP_NAME,
    "short_name": "Wache",
    "description": "Alarme der Zentrale auf dem Telefon der Wache, mit Quittieren.",
    "lang": "de",
    "id": "/console",
    "start_url": "/console",
    "scope": "/",
    "display": "standalone",
    "background_color": "#ffffff",
    "theme_color": THEME_COLOUR,
    "icons": [
        {"src": f"{ICONS}/icon-192.png", "sizes": "192x192", "type": "image/png"},
        {"src": f"{ICONS}/icon-512.png", "sizes": "512x512", "type": "image/png"},
        {
            "src": f"{ICONS}/icon-maskable-512.png",
            "sizes": "512x512",
            "type": "image/png",
            "purpose": "maskable",
        },
    ],
}

# The worker's own texts: the console catalogue's push_* keys, in every language.
_WORKER_TEXTS = {
    lang: {k: v for k, v in i18n.messages(lang).items() if k.startswith("push_")}
    for lang in i18n.LANGUAGES
}
SERVICE_WORKER = templates.env.get_template("sw.js").render(texts=_WORKER_TEXTS)

WORKER_HEADERS = {
    # Browsers check for a new worker at most daily anyway; no-cache makes every check real.
    "Cache-Control": "no-cache",
    "Content-Security-Policy": "default-src 'none'; connect-src 'self'; img-src 'self'",
    "X-Content-Type-Options": "nosniff",
}


@router.get("/manifest.webmanifest")
async def manifest() -> Response:
    return Response(
        json.dumps(MANIFEST, ensure_ascii=False),
        media_type="application/manifest+json",
        headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"},
    )


@router.get("/sw.js")
async def service_worker() -> Response:
    return Response(SERVICE_WORKER, media_type="text/javascript", headers=WORKER_HEADERS)
