"""Photos, content-addressed by SHA-256.

A phone first asks which of its hashes the server lacks, then uploads each missing one under its
hash: whole, or in ranges with `Content-Range` that survive a dropped connection (server/uploads.py;
`GET /api/attachments/{sha256}/upload` tells how many bytes are stored; only the whole is checked).
The server checks the bytes against the hash, the size limit and the image type (by its magic
bytes, never the client's Content-Type), and decodes the image once, in a worker process with a time
limit (server/images.py: polyglots, truncated files, decompression and scan bombs are refused with
415), keeping its dimensions and its thumbnail. So an upload is idempotent, cannot be mislabelled,
and nothing decodes the original again.
Reading a photo needs a record in the caller's scope that its uploader made reference it (before it
is attached anywhere, only its uploader reads it); /missing and the upload status answer only for
photos the caller uploaded or may read.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from pathlib import Path
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post, put
from litestar.datastructures import State
from litestar.exceptions import InternalServerException
from litestar.params import JSONBody, Parameter

from server import images
from server.auth import Session, require_login
from server.deps import SessionDep, StorageDep
from server.errors import ApiError
from server.images import DecodedImage, ImageDecoder, ImageRefused, ImagesBusy, sniff
from server.models import now_iso
from server.storage import Storage
from server.storage.base import AttachmentMeta
from server.uploads import PartialUploads, RangeWriter, parse_content_range
from sync.messages import AttachmentsMissingRequest, AttachmentsMissingResponse

log = logging.getLogger("tigapilar.attachments")

MAX_ATTACHMENT = 10 * 1024 * 1024
DECODER_BUSY_RETRY_S = 10
Sha = Annotated[str, Parameter(pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the bytes, lowercase hex")]


def _path(storage: Storage, sha: str) -> Path:
    return images.original_path(storage.data_dir, sha)


def images_busy() -> ApiError:
    return ApiError(
        503,
        "images_busy",
        "Server sedang memproses banyak foto, coba lagi sebentar lagi",
        retry_after=DECODER_BUSY_RETRY_S,
    )


async def decode_upload(decoder: ImageDecoder, data: bytes) -> DecodedImage:
    """Decode an uploaded photo in the decoder's worker, or the 415/503 the API answers."""
    try:
        return await decoder.decode(data)
    except ImageRefused as refused:
        raise ApiError(415, refused.code, refused.message) from refused
    except ImagesBusy as busy:
        raise images_busy() from busy


_partials: dict[Path, PartialUploads] = {}


def partial_uploads(storage: Storage) -> PartialUploads:
    """The partial uploads of this storage's data directory (one tracker per directory)."""
    directory = storage.data_dir / "attachments"
    if directory not in _partials:
        _partials[directory] = PartialUploads(directory)
    return _partials[directory]


async def store_photo(
    data: bytes, sha256: str, session: Session, storage: Storage, decoder: ImageDecoder
) -> Response[dict[str, Any]]:
    """Check a photo's whole bytes and keep them: 201 when new, 200 when the server had them."""
    if not data:
        raise ApiError(400, "empty_body", "Berkas kosong")
    if hashlib.sha256(data).hexdigest() != sha256:
        raise ApiError(400, "hash_mismatch", "Isi berkas tidak cocok dengan hash-nya", sha256=sha256)
    if sniff(data) is None:
        raise ApiError(415, "unsupported_type", images.MESSAGES["unsupported_type"])
    answer = {"sha256": sha256, "size": len(data), "stored": len(data), "complete": True}
    known = await storage.attachment(sha256)
    if known is not None:
        return Response({**answer, "mime": known.mime, "created": False}, status_code=200)
    decoded = await decode_upload(decoder, data)
    mime = decoded.mime
    # The thumbnail first: a photo on record always has one, so nothing decodes the original again.
    await asyncio.to_thread(
        images.write_atomically, images.thumbnail_path(storage.data_dir, sha256), decoded.thumbnail
    )
    await asyncio.to_thread(images.write_atomically, _path(storage, sha256), data)
    meta = AttachmentMeta(
        sha256=sha256,
        size=len(data),
        mime=mime,
        path=str(_path(storage, sha256).relative_to(storage.data_dir)),
        uploaded_by=session.user.id,
        created_at=now_iso(),
        width=decoded.width,
        height=decoded.height,
    )
    created = await storage.put_attachment(meta)
    return Response({**answer, "mime": mime, "created": created}, status_code=201 if created else 200)


def _cut_off(sha256: str, session: Session, received: int, expected: int | None) -> Response[dict[str, Any]]:
    """The phone went away mid-upload: an everyday event on a weak link, one line in the log (the
    answer reaches nobody; the phone resumes from the stored bytes)."""
    log.warning(
        "upload of %s by %s cut off by the client after %d of %s bytes",
        sha256[:12],
        session.user.id,
        received,
        "?" if expected is None else expected,
    )
    return Response({"code": "client_disconnected", "message": "Unggahan terputus"}, status_code=400)


async def _append_range(writer: RangeWriter, request: Request[Any, Any, Any]) -> bool:
    """Stream the request body into the partial file; False when the client went away."""
    try:
        async for piece in request.stream():
            if piece:
                await asyncio.to_thread(writer.write, piece)
    except InternalServerException:  # Litestar's "client disconnected prematurely"
        return False
    finally:
        await asyncio.to_thread(writer.close)
    return True


class AttachmentController(Controller):
    path = "/api/attachments"
    tags = ["attachments"]  # noqa: RUF012
    guards = [require_login]  # noqa: RUF012

    @post("/missing", status_code=200)
    async def missing(
        self, data: JSONBody[AttachmentsMissingRequest], session: SessionDep, storage: StorageDep
    ) -> AttachmentsMissingResponse:
        """Which of these hashes the server does not have yet, as far as the caller may know: a photo
        is reported present only if the caller uploaded it or it belongs to a record in the caller's
        scope (anything else is reported missing, and an upload of its bytes is harmless)."""
        present = await _visible(session, storage, data.hashes)
        return AttachmentsMissingResponse(missing=[h for h in dict.fromkeys(data.hashes) if h not in present])

    @put("/{sha256:str}", request_max_body_size=MAX_ATTACHMENT, status_code=201)
    async def upload(
        self,
        sha256: Sha,
        request: Request[Any, Any, Any],
        session: SessionDep,
        storage: StorageDep,
        state: State,
    ) -> Response[dict[str, Any]]:
        """Upload a photo's bytes under their hash. Uploading the same photo again is harmless.

        Whole (no Content-Range): 201 created, 200 already there. In ranges (`Content-Range: bytes
        START-END/TOTAL`, START where the stored bytes end): 202 with `stored` until all TOTAL bytes
        are there, then the whole is checked like a whole upload (201/200). A range that does not
        start at the stored bytes is 409 `upload_offset_mismatch` with `stored`."""
        header = request.headers.get("content-range")
        if header is None:
            try:
                data = await request.body()
            except InternalServerException:
                return _cut_off(sha256, session, 0, None)
            return await store_photo(data, sha256, session, storage, state.images)

        byte_range = parse_content_range(header, MAX_ATTACHMENT)
        # A range proves no possession of the photo: a stored one the caller may not know of is
        # treated as new until all its bytes are in (store_photo checks them against the hash).
        known = await storage.attachment(sha256) if await _visible(session, storage, [sha256]) else None
        if known is not None:
            return Response(
                {
                    "sha256": sha256,
                    "size": known.size,
                    "stored": known.size,
                    "complete": True,
                    "created": False,
                },
                status_code=200,
            )
        uploads = partial_uploads(storage)
        if uploads.sweep_due():
            await asyncio.to_thread(uploads.sweep)
        writer = await asyncio.to_thread(uploads.open_range, sha256, byte_range)
        if not await _append_range(writer, request):
            return _cut_off(sha256, session, writer.stored, byte_range.total)
        if writer.written != byte_range.length:
            raise ApiError(
                400,
                "content_range_mismatch",
                "Isi lebih pendek dari rentang Content-Range",
                stored=writer.stored,
            )
        if not writer.complete:
            return Response(
                {"sha256": sha256, "size": byte_range.total, "stored": writer.stored, "complete": False},
                status_code=202,
            )
        data = await asyncio.to_thread(writer.read_whole)
        try:
            return await store_photo(data, sha256, session, storage, state.images)
        finally:
            # Kept or refused, the partial is done with: bytes that failed the check never get better.
            await asyncio.to_thread(uploads.discard, sha256)

    @get("/{sha256:str}/upload")
    async def upload_status(self, sha256: Sha, session: SessionDep, storage: StorageDep) -> dict[str, Any]:
        """How many bytes of this photo the server holds: where a resumed upload goes on (a stored
        photo the caller may not know of, as for /missing, reads as not stored)."""
        meta = await storage.attachment(sha256) if await _visible(session, storage, [sha256]) else None
        if meta is not None:
            return {"sha256": sha256, "stored": meta.size, "size": meta.size, "complete": True}
        status = partial_uploads(storage).status(sha256)
        return {"sha256": sha256, "stored": status.stored, "size": status.total, "complete": False}

    @get("/{sha256:str}")
    async def download(self, sha256: Sha, session: SessionDep, storage: StorageDep) -> Response[bytes]:
        """The photo's bytes. Immutable, so phones and browsers may cache it for good."""
        meta = await self._readable(sha256, session, storage)
        try:
            data = await asyncio.to_thread((storage.data_dir / meta.path).read_bytes)
        except FileNotFoundError as exc:  # a database restored without its attachments/ directory
            raise ApiError(
                404, "attachment_file_missing", "Berkas foto tidak ada di server", sha256=sha256
            ) from exc
        return Response(data, media_type=meta.mime, headers=_IMMUTABLE)

    @get("/{sha256:str}/thumb")
    async def thumbnail(
        self, sha256: Sha, session: SessionDep, storage: StorageDep, state: State
    ) -> Response[bytes]:
        """A JPEG at most 320 px on its longest edge, made when the photo was uploaded."""
        meta = await self._readable(sha256, session, storage)
        thumb = await stored_thumbnail(state.images, storage, meta)
        return Response(
            await asyncio.to_thread(thumb.read_bytes), media_type="image/jpeg", headers=_IMMUTABLE
        )

    @staticmethod
    async def _readable(sha256: str, session: Session, storage: Storage) -> AttachmentMeta:
        """A photo is read through a record the caller can see now, that references it by the hand
        of its uploader (storage.attachment_warehouses): not because the caller put its hash in a
        record of their own, nor because the caller once took it (an officer moved to another
        warehouse keeps no access). Until its uploader has attached it to any record, only the
        uploader reads it (their own bytes, between upload and push)."""
        meta = await storage.attachment(sha256)
        if meta is None:
            raise ApiError(404, "attachment_not_found", "Foto belum diunggah", sha256=sha256)
        warehouses = await storage.attachment_warehouses(sha256)
        if not warehouses & session.actor.warehouses and (warehouses or meta.uploaded_by != session.user.id):
            raise ApiError(403, "out_of_scope", "Foto ini di luar penugasan Anda")
        return meta


_IMMUTABLE = {"Cache-Control": "private, max-age=31536000, immutable"}


async def _visible(session: Session, storage: Storage, hashes: list[str]) -> set[str]:
    """The stored photos among `hashes` the caller may learn exist (storage.attachments_visible)."""
    return await storage.attachments_visible(hashes, sorted(session.actor.warehouses), session.user.id)


async def stored_thumbnail(decoder: ImageDecoder, storage: Storage, meta: AttachmentMeta) -> Path:
    """The thumbnail file of a stored photo; made once (in the decoder's worker) for a photo stored
    before uploads kept one. 422 for a stored file that does not decode, 404 for a missing one."""
    try:
        return await images.ensure_thumbnail(
            decoder, storage.data_dir, meta.sha256, storage.data_dir / meta.path
        )
    except ImageRefused as exc:
        raise ApiError(
            422, "unreadable_image", "Foto ini tidak dapat dibaca", sha256=meta.sha256, reason=exc.code
        ) from exc
    except FileNotFoundError as exc:  # a database restored without its attachments/ directory
        raise ApiError(
            404, "attachment_file_missing", "Berkas foto tidak ada di server", sha256=meta.sha256
        ) from exc
    except ImagesBusy as busy:
        raise images_busy() from busy
