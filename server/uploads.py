"""Resumable photo uploads: the bytes of a photo arrive in ranges and are kept until they are whole.

A phone on a weak link sends a photo as `PUT /api/attachments/{sha256}` requests carrying
`Content-Range: bytes START-END/TOTAL`. Each range must start where the stored bytes end; what arrives
is appended to a partial file as it comes in, so a connection that drops mid-range keeps the bytes
that made it, and `GET /api/attachments/{sha256}/upload` tells the phone where to go on. Only when
TOTAL bytes are stored is the photo checked (SHA-256 of the whole, then the image checks of a whole
upload) and moved to its place; before that the server does not have it (`/missing` lists it).

Partial files live in `attachments/partial/` as `{sha256}.{total}`; one untouched for
PARTIAL_TTL_S is abandoned and removed (swept at most every SWEEP_INTERVAL_S, on upload requests).
Appends take an exclusive file lock, so several server processes sharing a data directory never
interleave two ranges.

    PartialUploads       the partial files of one data directory: status, append, sweep
    RangeWriter          one range being appended (holds the partial's lock)

A range that cannot be taken is an ApiError (4xx) with a code: bad_content_range, body_too_large,
upload_offset_mismatch and upload_size_mismatch (both with `stored`), content_range_mismatch.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from server.errors import ApiError

PARTIAL_TTL_S = 24 * 3600
"""A partial upload untouched this long is abandoned (a phone resumes within hours, not days)."""
SWEEP_INTERVAL_S = 600
CONTENT_RANGE = re.compile(r"^bytes (\d{1,12})-(\d{1,12})/(\d{1,12})$")


@dataclass(frozen=True, kw_only=True)
class ByteRange:
    start: int
    end: int
    """Inclusive, as in Content-Range."""
    total: int

    @property
    def length(self) -> int:
        return self.end - self.start + 1


def parse_content_range(header: str, max_total: int) -> ByteRange:
    """`bytes START-END/TOTAL` → ByteRange; 400 bad_content_range, 413 body_too_large."""
    match = CONTENT_RANGE.match(header.strip())
    if match is None:
        raise ApiError(
            400, "bad_content_range", "Content-Range harus berbentuk 'bytes AWAL-AKHIR/TOTAL'", header=header
        )
    start, end, total = (int(g) for g in match.groups())
    if not start <= end < total:
        raise ApiError(400, "bad_content_range", "Rentang Content-Range tidak masuk akal", header=header)
    if total > max_total:
        raise ApiError(413, "body_too_large", "Berkas terlalu besar", limit=max_total)
    return ByteRange(start=start, end=end, total=total)


@dataclass(frozen=True, kw_only=True)
class UploadStatus:
    stored: int
    total: int | None
    """None when nothing is stored yet."""


class PartialUploads:
    def __init__(self, attachments_dir: Path, ttl_s: float = PARTIAL_TTL_S) -> None:
        self.directory = attachments_dir / "partial"
        self.ttl_s = ttl_s
        self._last_sweep = 0.0

    def _existing(self, sha256: str) -> Path | None:
        found = sorted(self.directory.glob(f"{sha256}.*"))
        return found[0] if found else None

    def status(self, sha256: str) -> UploadStatus:
        path = self._existing(sha256)
        if path is None:
            return UploadStatus(stored=0, total=None)
        try:
            return UploadStatus(stored=path.stat().st_size, total=int(path.suffix[1:]))
        except FileNotFoundError:  # swept or completed just now
            return UploadStatus(stored=0, total=None)

    def open_range(self, sha256: str, byte_range: ByteRange) -> RangeWriter:
        """A writer for this range, once it is checked to start where the stored bytes end
        (409 upload_offset_mismatch with `stored` otherwise, 409 upload_size_mismatch when an
        upload of another total is under way). The writer holds the partial's lock until closed."""
        self.directory.mkdir(parents=True, exist_ok=True)
        existing = self._existing(sha256)
        if existing is not None and existing.suffix[1:] != str(byte_range.total):
            raise ApiError(
                409,
                "upload_size_mismatch",
                "Unggahan foto ini sedang berjalan dengan ukuran lain",
                stored=existing.stat().st_size,
                total=int(existing.suffix[1:]),
            )
        path = self.directory / f"{sha256}.{byte_range.total}"
        file = open(path, "ab")  # noqa: SIM115 - closed by RangeWriter.close
        try:
            fcntl.flock(file.fileno(), fcntl.LOCK_EX)
            stored = os.fstat(file.fileno()).st_size
            if stored != byte_range.start:
                raise ApiError(
                    409,
                    "upload_offset_mismatch",
                    "Bagian foto ini tidak menyambung dengan yang sudah diterima server",
                    stored=stored,
                    total=byte_range.total,
                )
        except BaseException:
            file.close()
            raise
        return RangeWriter(path=path, file=file, byte_range=byte_range)

    def discard(self, sha256: str) -> None:
        for path in self.directory.glob(f"{sha256}.*"):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    def sweep_due(self, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        if now - self._last_sweep < SWEEP_INTERVAL_S:
            return False
        self._last_sweep = now
        return True

    def sweep(self, now: float | None = None) -> list[str]:
        """Remove partial uploads untouched for ttl_s; returns the names removed."""
        now = time.time() if now is None else now
        removed: list[str] = []
        if not self.directory.is_dir():
            return removed
        for path in self.directory.iterdir():
            try:
                if now - path.stat().st_mtime > self.ttl_s:
                    path.unlink()
                    removed.append(path.name)
            except FileNotFoundError:
                continue
        return removed


@dataclass
class RangeWriter:
    """Appends one range's bytes to the partial file, refusing more than the range declares."""

    path: Path
    file: Any
    byte_range: ByteRange
    written: int = 0

    def write(self, data: bytes) -> None:
        if self.written + len(data) > self.byte_range.length:
            raise ApiError(
                400,
                "content_range_mismatch",
                "Isi lebih panjang dari rentang Content-Range",
                stored=self.byte_range.start + self.written,
            )
        self.file.write(data)
        # Out of Python's buffer at once: the upload status (a stat of the file) then tells the
        # phone, while its range is still arriving, how far it got.
        self.file.flush()
        self.written += len(data)

    @property
    def stored(self) -> int:
        return self.byte_range.start + self.written

    @property
    def complete(self) -> bool:
        return self.stored == self.byte_range.total

    def close(self) -> None:
        """Make what arrived durable and release the lock (kept even when the range is short:
        those bytes are good, and the phone goes on from them)."""
        try:
            self.file.flush()
            os.fsync(self.file.fileno())
        finally:
            self.file.close()

    def read_whole(self) -> bytes:
        return self.path.read_bytes()
