"""The sync protocol over HTTP: push a batch of mutations, pull changes. A thin layer: decode,
authenticate, hand the Actor and the message to the engine, encode its answer.

The engine's SyncErrors (protocol mismatch 400, upgrade required 426, sequence gap 409, ...) become
JSON errors through server.errors; a rejected mutation is not an error but a result in the 200
answer, so one bad edit never blocks the rest of a phone's queue.
"""

from __future__ import annotations

from typing import Any, cast

import msgspec
from litestar import Controller, MediaType, Request, Response, post
from litestar.params import JSONBody

from server.api.wire import WireBody
from server.auth import require_login
from server.compress import gzip_bytes
from server.deps import ActorDep, EngineDep
from sync.messages import PullRequest, PullResponse, PushRequest, PushResponse

GZIP_MIN_BYTES = 1024
GZIP_LEVEL = 1
"""As the app's CompressionConfig: level 1 keeps most of the saving for a fifth of level 9's CPU."""
_encode = msgspec.json.Encoder().encode


class SyncController(Controller):
    path = "/api/sync"
    tags = ["sync"]  # noqa: RUF012
    guards = [require_login]  # noqa: RUF012

    @post("/push", status_code=200, dto=WireBody[PushRequest], return_dto=None)
    async def push(self, data: JSONBody[PushRequest], actor: ActorDep, engine: EngineDep) -> PushResponse:
        """Apply a batch of queued mutations, in order, exactly once.

        Retrying a batch (say after a lost response) answers every mutation already applied with its
        stored outcome (`replayed: true`) and changes nothing.
        """
        # Live views are woken by the storage's commit notice (server/events.py), with the warehouses.
        return await engine.push(actor, data)

    @post("/pull", status_code=200, dto=WireBody[PullRequest], return_dto=None)
    async def pull(
        self, data: JSONBody[PullRequest], actor: ActorDep, engine: EngineDep, request: Request[Any, Any, Any]
    ) -> Response[PullResponse]:
        """Changes after the phone's per-warehouse cursors, tombstones and conflicts included."""
        body = _encode(await engine.pull(actor, data, wire=True))
        # Compressed here rather than by the app's middleware (which skips this route): on worker
        # threads, a big page in two halves at once (server.compress).
        headers = {"Vary": "Accept-Encoding"}
        if len(body) >= GZIP_MIN_BYTES and "gzip" in request.headers.get("accept-encoding", ""):
            body = await gzip_bytes(body, level=GZIP_LEVEL)
            headers["Content-Encoding"] = "gzip"
        # bytes go out as they are; the annotation documents the JSON they hold
        return Response(cast("PullResponse", body), media_type=MediaType.JSON, headers=headers)
