"""The Litestar application: `create_app(config)` assembles controllers, dependencies, exception
handlers, security headers, the static PWA shell and the lifespan that opens the storage."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from litestar import Litestar, Router
from litestar.config.compression import CompressionConfig
from litestar.datastructures import State
from litestar.file_system import BaseLocalFileSystem
from litestar.handlers import head
from litestar.openapi import OpenAPIConfig, ResponseSpec
from litestar.openapi.plugins import JsonRenderPlugin, YamlRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.response.file import ASGIFileResponse
from litestar.static_files import StaticFiles, create_static_files_router
from litestar.types import ControllerRouterHandler, Message, Scope

from server import reports
from server.alerts.worker import AlertWorker
from server.api.accounts import AuthController, MeController
from server.api.admin import AdminController
from server.api.alerts import AlertAdminController, PushController
from server.api.attachments import AttachmentController
from server.api.exports import export_csv
from server.api.health import healthz
from server.api.live import live, live_resume
from server.api.reference import ReferenceController
from server.api.report_pdf import ReportPdfController
from server.api.roster import RosterController
from server.api.supervisor import SupervisorController
from server.api.sync import SyncController
from server.api.wire import JsonRequest
from server.auth import Accounts, LoginThrottle, Passwords
from server.compress import LazyCompression
from server.config import Config
from server.deps import DEPENDENCIES
from server.errors import ERROR_STATUSES, EXCEPTION_HANDLERS, ErrorBody
from server.events import EventHub, cross_process_events
from server.images import ImageDecoder
from server.storage import Storage, open_storage
from server.touches import DeviceTouches
from sync.clock import HybridClock
from sync.engine import SyncEngine

log = logging.getLogger("tigapilar")

VERSION = "0.1.0"

ROUTE_HANDLERS: list[ControllerRouterHandler] = [
    healthz,
    AuthController,
    MeController,
    ReferenceController,
    SyncController,
    AttachmentController,
    SupervisorController,
    RosterController,
    ReportPdfController,
    AdminController,
    AlertAdminController,
    PushController,
    export_csv,
    live,
    live_resume,
]

KiB = 1024
DEFAULT_BODY_LIMIT = 1024 * KiB
"""Request body limit of every route that sets none of its own and is not in BODY_LIMITS."""
BODY_LIMITS: dict[Any, int | None] = {AuthController: 16 * KiB, SyncController: None}
"""Body limits by controller: a login is a few hundred bytes; None means `Config.max_body_size` (a push
of up to 2000 mutations). Handlers may set their own: a photo upload 10 MiB
(server/api/attachments.py), a template upload 512 KiB (server/api/admin.py). No limit is ever larger
than Config.max_body_size except those two uploads."""

CSP = (
    "default-src 'self'; img-src 'self' blob: data:; script-src 'self'; style-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"
)
DOCS_CSP = (
    "default-src 'self'; img-src 'self' blob: data: https:; "
    "script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://unpkg.com https://cdn.redoc.ly; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://unpkg.com "
    "https://fonts.googleapis.com; "
    "font-src 'self' data: https://fonts.gstatic.com; worker-src 'self' blob:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"
)
"""Only with `tigapilar serve --api-docs`: the interactive viewers under /schema load their scripts
from CDNs and bootstrap them inline, on the origin where supervisor pages keep their token."""

NO_CACHE_PATHS = frozenset({"/", "/index.html", "/sw.js", "/manifest.webmanifest"})
"""The service worker and the shell entry must be revalidated, or an update never reaches phones."""


def _raw(pairs: dict[str, str]) -> list[tuple[bytes, bytes]]:
    return [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in pairs.items()]


_SECURITY = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(self), geolocation=(), microphone=(), payment=(), usb=()",
}
_HSTS = _raw({"Strict-Transport-Security": "max-age=63072000; includeSubDomains"})
_NO_CACHE = _raw({"Cache-Control": "no-cache"})
_NO_STORE = _raw({"Cache-Control": "no-store"})
_OURS = frozenset(name for name, _ in _raw({**_SECURITY, "Content-Security-Policy": ""}))
"""What the hook sets: a header of one of these names that a handler set is replaced, not repeated
(Cache-Control too on NO_CACHE_PATHS; elsewhere a handler's own Cache-Control stays)."""
_OURS_AND_CACHE = _OURS | {b"cache-control"}
_HSTS_NAME = frozenset({b"strict-transport-security"})


def security_headers(*, api_docs: bool = False) -> Callable[[Message, Scope], Awaitable[None]]:
    """The before_send hook: security headers on every response, errors and static files included.
    The strict CSP everywhere, unless `api_docs` serves the interactive viewers under /schema.

    The headers are encoded once, here; a response gets them in one pass over its header list
    (setting them one by one through MutableScopeHeaders scanned the list for each: ~10 scans and
    encodings a request, on every answer)."""
    strict = _raw({"Content-Security-Policy": CSP, **_SECURITY})
    docs = _raw({"Content-Security-Policy": DOCS_CSP, **_SECURITY})

    async def hook(message: Message, scope: Scope) -> None:
        if message["type"] != "http.response.start":
            return
        path = scope.get("path", "")
        is_docs = api_docs and path.startswith("/schema") and not path.startswith("/schema/openapi.")
        no_cache = path in NO_CACHE_PATHS
        https = scope.get("scheme") == "https"
        replaced = _OURS_AND_CACHE if no_cache else _OURS
        if https:
            replaced = replaced | _HSTS_NAME
        headers = [h for h in message.get("headers", ()) if h[0].lower() not in replaced]
        cached = no_cache or any(h[0].lower() == b"cache-control" for h in headers)
        headers += docs if is_docs else strict
        if https:
            headers += _HSTS
        if no_cache:
            headers += _NO_CACHE
        elif path.startswith("/api/") and not cached:
            headers += _NO_STORE
        message["headers"] = headers

    return hook


def document_errors(app: Litestar) -> None:
    """State in the OpenAPI schema that every API endpoint may answer each error status with
    server.errors.ErrorBody (Litestar would otherwise document its own error shape for 400, which
    this API never sends). A handler's own `responses` win."""
    errors = {
        status: ResponseSpec(ErrorBody, description=text, generate_examples=False)
        for status, text in ERROR_STATUSES.items()
    }
    for route in app.routes:
        if not route.path.startswith(("/api/", "/healthz")):
            continue
        for handler in getattr(route, "route_handlers", []):
            handler.responses = {**errors, **(handler.responses or {})}


def static_routes(directory: Path) -> list[ControllerRouterHandler]:
    """The web app at /. Litestar's html_mode index route answers GET only: HEAD / (an uptime
    check, `curl -I`) answers like GET / without a body, as every other file already does."""
    index = StaticFiles(is_html_mode=True, directories=[directory], file_system=BaseLocalFileSystem())

    @head("/", name="static/index/head", include_in_schema=False)
    async def index_head() -> ASGIFileResponse:
        return await index.handle(path="/", is_head_response=True)

    files = create_static_files_router(
        path="/", directories=[directory], html_mode=True, include_in_schema=False
    )
    return [files, index_head]


def create_app(config: Config | None = None, *, storage: Storage | None = None) -> Litestar:
    """Build the application. With `storage`, the caller owns it (opened and closed outside);
    otherwise the lifespan opens config.database on start-up and closes it on shutdown."""
    config = config or Config()
    # aiosqlite logs every statement with its parameters at DEBUG: token and password hashes. Never.
    logging.getLogger("aiosqlite").setLevel(logging.INFO)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        owned = storage is None
        store = storage if storage is not None else open_storage(config.database, data_dir=config.data_dir)
        if owned:
            await store.open()
        app.state.storage = store
        # Berita acara numbers run per year of the local zone (TIGAPILAR_UTC_OFFSET_HOURS).
        local = reports.Settings.from_env().utc_offset_hours
        app.state.engine = SyncEngine(store, HybridClock("server"), utc_offset_hours=local)
        app.state.events = EventHub()
        # Revocations, disabled accounts, changed assignments: open live streams check their session.
        account_changes = app.state.account_changes = EventHub()
        passwords = Passwords.from_config(config)
        app.state.accounts = Accounts(
            storage=store,
            passwords=passwords,
            throttle=LoginThrottle.from_config(config),
            token_ttl=timedelta(days=config.token_ttl_days),
            on_change=account_changes.notify,
        )
        # Photos are decoded in worker processes, never in this one (server/images.py).
        images = app.state.images = ImageDecoder(
            workers=config.image_workers, timeout_s=config.image_decode_timeout_s
        )
        # Devices' last_seen, noted by authenticate(), written once a second in one transaction.
        touches = app.state.touches = DeviceTouches(store, interval_s=config.touch_flush_interval_s)
        touches.start()
        # Webhooks and Web Push from the outbox, and the scheduled events (server/alerts/worker.py).
        worker = AlertWorker(store, config, app.state.events, app.state) if config.alerts else None
        app.state.alerts = worker
        if worker is not None:
            worker.start()
        try:
            # With PostgreSQL, other server processes' commits wake this process's live views too.
            async with cross_process_events(store, app.state.events):
                yield
        finally:
            try:
                if worker is not None:
                    await worker.close()
                await touches.close()  # the last flush, before the storage closes
            finally:
                images.close()
                passwords.close()
                if owned:
                    await store.close()

    def limited(handler: ControllerRouterHandler) -> Router:
        limit = BODY_LIMITS.get(handler, DEFAULT_BODY_LIMIT)
        size = config.max_body_size if limit is None else min(limit, config.max_body_size)
        return Router(path="/", route_handlers=[handler], request_max_body_size=size)

    handlers: list[ControllerRouterHandler] = [limited(h) for h in ROUTE_HANDLERS]
    if config.static_dir is not None:
        if config.static_dir.is_dir():
            handlers += static_routes(config.static_dir)
        else:
            log.warning("static directory %s not found: the PWA is not served", config.static_dir)

    state: dict[str, Any] = {"config": config}
    if storage is not None:
        state["storage"] = storage
    app = Litestar(
        route_handlers=handlers,
        lifespan=[lifespan],
        state=State(state),
        dependencies=DEPENDENCIES,
        exception_handlers=EXCEPTION_HANDLERS,
        # JSON bodies with a NUL character are refused before they are decoded (server.api.wire).
        request_class=JsonRequest,
        before_send=[security_headers(api_docs=config.api_docs)],
        request_max_body_size=config.max_body_size,
        # gzip JSON answers (a pull page of 5,000 records shrinks to about a tenth) and the PWA shell;
        # level 1: most of the saving for a fraction of the CPU of level 9.
        compression_config=CompressionConfig(
            backend="gzip",
            minimum_size=1024,
            gzip_compress_level=1,
            # no compressor made for an answer below minimum_size (most API answers)
            middleware_class=LazyCompression,
            # photos are compressed already; the pull feed compresses itself (server.compress)
            exclude=["^/api/attachments/", "^/api/sync/pull$"],
        ),
        openapi_config=OpenAPIConfig(
            title="Tiga Pilar API",
            version=VERSION,
            description="Offline-first inspections of election-logistics warehouses.",
            path="/schema",
            # The schema itself always (JSON, also at /schema; YAML); the interactive viewers, which
            # run third-party scripts, only when asked for (DOCS_CSP).
            render_plugins=[] if config.api_docs else [JsonRenderPlugin(), YamlRenderPlugin()],
            components=Components(
                security_schemes={"bearer": SecurityScheme(type="http", scheme="bearer")},
            ),
            security=[{"bearer": []}],
        ),
        debug=config.debug,
    )
    document_errors(app)
    return app
