"""Server configuration: one frozen dataclass built from CLI flags and environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from server.storage import DEFAULT_DATABASE_URL

PACKAGE_STATIC_DIR = Path(__file__).resolve().parent / "static"
"""The web app as installed package data (`server.static`, built from the repository's static/)."""
REPO_STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
"""The repository's static/ next to server/ (a checkout, or an editable install)."""
STATIC_ENTRY_POINTS = ("index.html", "sw.js", "supervisor/index.html")
"""Files without which there is no app to serve: the officer PWA, its worker, the supervisor pages."""


def default_static_dir() -> Path:
    """The installed package's copy of the web app, else the checkout's static/."""
    if (PACKAGE_STATIC_DIR / "index.html").is_file():
        return PACKAGE_STATIC_DIR
    return REPO_STATIC_DIR


def missing_static_files(directory: Path) -> list[str]:
    """Entry points of the web app that `directory` lacks (empty when it can be served)."""
    return [name for name in STATIC_ENTRY_POINTS if not (directory / name).is_file()]


MiB = 1024 * 1024


@dataclass(frozen=True, kw_only=True)
class Config:
    database: str = DEFAULT_DATABASE_URL
    """Database URL: sqlite:///path/file.db (default ./data/tigapilar.db)."""
    data_dir: Path | None = None
    """Directory for attachments; default: the directory of the SQLite file."""
    static_dir: Path | None = field(default_factory=default_static_dir)
    """Directory served at /; None serves no static files."""
    max_body_size: int = 8 * MiB
    token_ttl_days: int = 90
    touch_interval_s: int = 300
    """How often a device's last_seen is updated at most (every request would be a write)."""
    touch_flush_interval_s: float = 1.0
    """How often the last_seen times noted by requests are written, all in one transaction
    (server/touches.py): a crash loses at most this much of them; a clean stop loses none."""
    login_max_failures: int = 5
    """Failed logins of one username from one client address before that pair is made to wait."""
    login_max_failures_per_address: int = 30
    """Failed logins from one client address (many phones share a kecamatan's NAT)."""
    login_max_failures_per_account: int = 100
    """Failed logins of one username from all addresses within login_account_window_s before only
    its known devices may try it (OWASP ASVS 2.2.1: at most 100 failed attempts an hour)."""
    login_account_window_s: int = 3600
    login_lockout_s: int = 30
    """First wait after too many failures; doubles with each further lockout (at most 1 hour)."""
    login_window_s: int = 15 * 60
    """Failures are counted in a window this long from a key's first failure, then forgotten."""
    argon2_time_cost: int = 3
    argon2_memory_kib: int = 64 * 1024
    argon2_parallelism: int = 1
    password_threads: int = 2
    """Threads that hash and check passwords, for nothing else: a login never queues behind photo
    work or file reads (each Argon2 call holds argon2_memory_kib while it runs)."""
    live_session_check_s: float = 3.0
    """How often an open live stream checks its session again, however busy it is (a revocation or
    a disabled account in this process ends it at once; one made by the CLI or by another server
    process within this time)."""
    image_workers: int = 1
    """Worker processes that decode uploaded photos (server/images.py), at a lower CPU priority."""
    image_decode_timeout_s: float = 10.0
    """A photo that takes longer to decode is refused (415 image_too_complex), its worker killed."""
    api_docs: bool = False
    """Serve the interactive API docs (Swagger, ReDoc...) under /schema (`serve --api-docs`). They run
    scripts from CDNs, inline, on the origin where supervisor pages keep their token: off unless
    asked for. The schema itself (/schema/openapi.json) is always served."""
    debug: bool = False
    alerts: bool = True
    """Run the alert worker (server/alerts/worker.py): deliver webhooks and Web Push, raise the
    scheduled events. Every server process may run it; they share the work through the database."""
    public_url: str = ""
    """Origin of the supervisor pages as the people alerted reach them (`serve --public-url`,
    e.g. https://posko.example.go.id): the links in alerts start with it. Empty: paths only."""
    alert_retry_first_s: float = 10.0
    """Wait before the second attempt of a delivery; it doubles with each failure (with jitter)."""
    alert_retry_max_s: float = 3600.0
    """Longest wait between two attempts."""
    alert_retry_window_s: float = 24 * 3600.0
    """A delivery failing for this long since it was made goes to the dead-letter list."""
    alert_timeout_s: float = 10.0
    """Time limit of one delivery attempt (connect, send, answer)."""
    alert_round_gap_s: float = 0.05
    """Least time between the starts of two delivery rounds woken by commits (they are coalesced:
    server/alerts/worker.py); 0 runs a round per wake-up."""
    alert_scan_interval_s: float = 60.0
    """How often the scheduled events (inspection.overdue, device.stale) are looked for, and
    finished outbox rows purged (server/alerts/retention.py)."""
    alert_retention_days: float = 30.0
    """Finished events and their deliveries (delivered, or dead letters) are purged this long after
    they were raised and made, each purge audited (`serve --alert-retention-days`); 0 keeps them."""
    vapid_key: Path | None = None
    """VAPID private key (PEM) of Web Push; default vapid-private.pem beside the database, made at
    first start when missing (`tigapilar push keygen` makes one ahead)."""
    push_allow_private: bool = False
    """Allow push endpoints on loopback or private addresses (a push service stand-in in tests). A
    subscription's endpoint comes from a browser, so it is checked like a webhook's URL."""
    vapid_subject: str = "mailto:admin@tigapilar.invalid"
    """Contact of this server for push services (RFC 8292 `sub`: a mailto: or https: URL)."""


def database_from_env(value: str | None = None) -> str:
    """The --database value, else $TIGAPILAR_DATABASE, else the default."""
    return value or os.environ.get("TIGAPILAR_DATABASE") or DEFAULT_DATABASE_URL
