"""Liveness and readiness: answers 200 when the database answers."""

from __future__ import annotations

from litestar import get

from server.deps import StorageDep


@get("/healthz", tags=["health"], security=[])
async def healthz(storage: StorageDep) -> dict[str, object]:
    return {"status": "ok", "schema_version": await storage.schema_version()}
