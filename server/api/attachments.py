"""Photos, content-addressed by SHA-256.

A phone first asks which of its hashes the server lacks, then uploads each missing one under its
hash. The server checks the bytes against the hash, the size limit and the image type (by its magic
bytes, never the client's Content-Type), and decodes the image once (a polyglot or a truncated file
with a valid header is refused, and so is an image of more than MAX_PIXELS, a decompression bomb), so
an upload is idempotent, cannot be mislabelled and can always be thumbnailed.
Reading a photo needs a warehouse in scope that references it (or being its uploader).
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import warnings
from pathlib import Path
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post, put
from litestar.params import JSONBody, Parameter

from server.auth import Session, require_login
from server.deps import SessionDep, StorageDep
from server.errors import ApiError
from server.models import now_iso
from server.storage import Storage
from server.storage.base import AttachmentMeta
from sync.messages import AttachmentsMissingRequest, AttachmentsMissingResponse

MAX_ATTACHMENT = 10 * 1024 * 1024
MAX_PIXELS = 40_000_000
"""Largest image accepted (the app sends at most 1600 px on the long edge)."""
THUMB_EDGE = 320
Sha = Annotated[str, Parameter(pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the bytes, lowercase hex")]

MAGIC: tuple[tuple[bytes, int, str], ...] = (
    (b"\xff\xd8\xff", 0, "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", 0, "image/png"),
    (b"WEBP", 8, "image/webp"),
)


def sniff(data: bytes) -> str | None:
    """The image type by magic bytes, or None for anything that is not a photo we accept."""
    for magic, offset, mime in MAGIC:
        if data[offset : offset + len(magic)] == magic:
            if mime == "image/webp" and data[:4] != b"RIFF":
                continue
            return mime
    return None


def readable_image(data: bytes, mime: str) -> bool:
    """Whether the bytes decode fully as an image of the sniffed type and of at most MAX_PIXELS."""
    from PIL import Image

    formats = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP"}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=[formats[mime]]) as image:
                if image.width * image.height > MAX_PIXELS:
                    return False
                image.load()
    except Exception:  # PIL raises many kinds (OSError, SyntaxError, ValueError...) for a bad file
        return False
    return True


def _path(storage: Storage, sha: str) -> Path:
    return storage.data_dir / "attachments" / sha[:2] / sha


def _write_atomically(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".part")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, target)


def _thumbnail(source: Path, target: Path) -> None:
    from PIL import Image

    with Image.open(source) as image:
        image.thumbnail((THUMB_EDGE, THUMB_EDGE))
        out = io.BytesIO()
        image.convert("RGB").save(out, "JPEG", quality=75)
    _write_atomically(target, out.getvalue())


class AttachmentController(Controller):
    path = "/api/attachments"
    tags = ["attachments"]  # noqa: RUF012
    guards = [require_login]  # noqa: RUF012

    @post("/missing", status_code=200)
    async def missing(
        self, data: JSONBody[AttachmentsMissingRequest], storage: StorageDep
    ) -> AttachmentsMissingResponse:
        """Which of these hashes the server does not have yet."""
        present = await storage.attachments_present(data.hashes)
        return AttachmentsMissingResponse(missing=[h for h in dict.fromkeys(data.hashes) if h not in present])

    @put("/{sha256:str}", request_max_body_size=MAX_ATTACHMENT, status_code=201)
    async def upload(
        self, sha256: Sha, request: Request[Any, Any, Any], session: SessionDep, storage: StorageDep
    ) -> Response[dict[str, Any]]:
        """Upload a photo's bytes under their hash. Uploading the same photo again is harmless."""
        data = await request.body()
        if not data:
            raise ApiError(400, "empty_body", "Berkas kosong")
        if hashlib.sha256(data).hexdigest() != sha256:
            raise ApiError(400, "hash_mismatch", "Isi berkas tidak cocok dengan hash-nya", sha256=sha256)
        mime = sniff(data)
        if mime is None:
            raise ApiError(415, "unsupported_type", "Hanya foto JPEG, PNG atau WebP yang diterima")
        if not await asyncio.to_thread(readable_image, data, mime):
            raise ApiError(415, "unreadable_image", "Foto rusak atau terlalu besar untuk dibaca")
        if await storage.attachment(sha256) is not None:
            return Response(
                {"sha256": sha256, "size": len(data), "mime": mime, "created": False}, status_code=200
            )
        await asyncio.to_thread(_write_atomically, _path(storage, sha256), data)
        meta = AttachmentMeta(
            sha256=sha256,
            size=len(data),
            mime=mime,
            path=str(_path(storage, sha256).relative_to(storage.data_dir)),
            uploaded_by=session.user.id,
            created_at=now_iso(),
        )
        created = await storage.put_attachment(meta)
        return Response(
            {"sha256": sha256, "size": len(data), "mime": mime, "created": created},
            status_code=201 if created else 200,
        )

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
    async def thumbnail(self, sha256: Sha, session: SessionDep, storage: StorageDep) -> Response[bytes]:
        """A JPEG at most 320 px on its longest edge, made once and kept beside the photo."""
        meta = await self._readable(sha256, session, storage)
        thumb = storage.data_dir / "thumbs" / sha256[:2] / f"{sha256}.jpg"
        if not thumb.exists():
            try:
                await asyncio.to_thread(_thumbnail, storage.data_dir / meta.path, thumb)
            except (OSError, SyntaxError, ValueError) as exc:  # stored before uploads were decoded
                raise ApiError(422, "unreadable_image", "Foto ini tidak dapat dibaca", sha256=sha256) from exc
        return Response(
            await asyncio.to_thread(thumb.read_bytes), media_type="image/jpeg", headers=_IMMUTABLE
        )

    @staticmethod
    async def _readable(sha256: str, session: Session, storage: Storage) -> AttachmentMeta:
        meta = await storage.attachment(sha256)
        if meta is None:
            raise ApiError(404, "attachment_not_found", "Foto belum diunggah", sha256=sha256)
        if meta.uploaded_by != session.user.id:
            warehouses = await storage.attachment_warehouses(sha256)
            if not warehouses & session.actor.warehouses:
                raise ApiError(403, "out_of_scope", "Foto ini di luar penugasan Anda")
        return meta


_IMMUTABLE = {"Cache-Control": "private, max-age=31536000, immutable"}
