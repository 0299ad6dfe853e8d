"""The text of a Web Push notification, in the language the person subscribed with (id or en).
The service worker shows it as it comes and opens `url` when it is tapped (static/sw.js)."""

from __future__ import annotations

from typing import Any

import msgspec

from server.alerts.webhooks import record_path
from server.models import Warehouse
from server.storage.alerts import StoredEvent

TITLES: dict[str, dict[str, str]] = {
    "id": {
        "incident.created": "Insiden baru",
        "incident.severity_raised": "Tingkat insiden naik",
        "incident.acknowledged": "Insiden diterima",
        "incident.resolved": "Insiden selesai",
        "inspection.findings": "Pemeriksaan dengan temuan",
        "inspection.overdue": "Pemeriksaan terlambat",
        "device.stale": "Perangkat lama tidak sinkron",
    },
    "en": {
        "incident.created": "New incident",
        "incident.severity_raised": "Incident severity raised",
        "incident.acknowledged": "Incident acknowledged",
        "incident.resolved": "Incident resolved",
        "inspection.findings": "Inspection with findings",
        "inspection.overdue": "Inspection overdue",
        "device.stale": "Device not synced for long",
    },
}
SEVERITY: dict[str, dict[str, str]] = {
    "id": {"rendah": "rendah", "sedang": "sedang", "tinggi": "tinggi", "kritis": "KRITIS"},
    "en": {"rendah": "low", "sedang": "medium", "tinggi": "high", "kritis": "CRITICAL"},
}
FINDINGS = {"id": "{n} temuan", "en": "{n} findings"}


def language(lang: str) -> str:
    return "en" if lang.lower().startswith("en") else "id"


def text(event: StoredEvent, warehouse: Warehouse | None, lang: str) -> tuple[str, str]:
    lang = language(lang)
    fields: dict[str, Any] = event.record.get("fields") or {}
    place = warehouse.name if warehouse else event.warehouse_id
    title = TITLES[lang].get(event.event, event.event)
    if event.event.startswith("incident."):
        severity = SEVERITY[lang].get(str(fields.get("severity")), str(fields.get("severity", "")))
        title = f"{title} ({severity})" if severity else title
        what = str(fields.get("title") or fields.get("description") or "")[:140]
        return title, f"{place}: {what}" if what else place
    if event.event == "inspection.findings":
        return title, f"{place}: {FINDINGS[lang].format(n=len(fields.get('findings') or []))}"
    return title, place


def officer_path(event: StoredEvent) -> str:
    """Where the officer app shows what the event is about (an officer has no supervisor pages)."""
    collection, _, record_id = event.subject.partition("/")
    if collection == "incidents":
        return f"/#/w/{event.warehouse_id}/incident/{record_id}"
    return "/#/"


def message(event: StoredEvent, warehouse: Warehouse | None, lang: str, *, officer: bool = False) -> bytes:
    """The notification; its `url` is the record in the officer app for an officer, else in the
    supervisor pages."""
    title, body = text(event, warehouse, lang)
    return msgspec.json.encode(
        {
            "title": title,
            "body": body,
            "url": officer_path(event) if officer else record_path(event),
            "tag": event.subject,
            "event": event.event,
            "critical": (event.record.get("fields") or {}).get("severity") == "kritis",
        }
    )
