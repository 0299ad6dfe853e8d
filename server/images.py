"""Photos: typed, checked, decoded once and thumbnailed, in a worker process with a time limit.

A photo is untrusted bytes that Pillow decodes in C. Some decode slowly on purpose: a small
progressive JPEG whose last scan is repeated 200 times takes seconds at 36 megapixels, and a thread
cannot be stopped halfway. So decoding never runs in the server process: `ImageDecoder` sends the
bytes to a worker process of its own (at a lower CPU priority, with a memory limit), waits at most
`timeout_s`, and kills the worker when the time is up. Password hashing has its own threads
(server/auth.py), so a login never waits behind a photo. A phone sends its photo once; what the
decode found (type, dimensions) is stored with the photo and its thumbnail written beside it, so a
thumbnail or a berita acara PDF never decodes the original again.

The worker checks, in this order, and refuses with a code (server/api/attachments.py answers 415):

    structure   the container walked to its end without decoding: JPEG segments to the EOI
                marker, PNG chunks to IEND, WebP's RIFF length. Bytes after the end (an image that
                is also an HTML page or a ZIP: a polyglot) -> trailing_data; a container that ends
                early -> unreadable_image.
    dimensions  from the header, at most MAX_PIXELS -> image_too_large
    scans       a JPEG holds at most MAX_SCANS scans (a standard progressive JPEG has about ten)
                -> image_too_complex
    decode      the whole image, in time -> unreadable_image, image_too_complex (out of time),
                image_too_large (out of memory)
    thumbnail   a JPEG of at most THUMB_EDGE px, upright (EXIF orientation applied)
"""

from __future__ import annotations

import asyncio
import io
import logging
import os
import secrets
import subprocess
import sys
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

import msgspec

log = logging.getLogger("tigapilar.images")

MAX_PIXELS = 40_000_000
"""Largest image accepted (the app sends at most 1600 px on the long edge, 2.6 megapixels)."""
MAX_SCANS = 32
"""Most scans a JPEG may hold. libjpeg's standard progressive script writes 10 for a colour image;
each scan makes the decoder go over the whole image again."""
THUMB_EDGE = 320
DECODE_TIMEOUT_S = 10.0
"""A 40-megapixel baseline JPEG decodes in about a second on one core."""
WORKER_MEMORY = 1024 * 1024 * 1024
"""Address space of a worker: a 40-megapixel progressive JPEG needs some 400 MiB to decode."""
WORKER_NICE = 10
"""A worker's CPU priority below the server's, so that requests (logins above all) go first."""

MAGIC: tuple[tuple[bytes, int, str], ...] = (
    (b"\xff\xd8\xff", 0, "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", 0, "image/png"),
    (b"WEBP", 8, "image/webp"),
)
_PIL_FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP"}


def sniff(data: bytes) -> str | None:
    """The image type by magic bytes, or None for anything that is not a photo we accept."""
    for magic, offset, mime in MAGIC:
        if data[offset : offset + len(magic)] == magic:
            if mime == "image/webp" and data[:4] != b"RIFF":
                continue
            return mime
    return None


class ImageRefused(Exception):
    """Bytes that are not a photo we keep, with the code the API answers."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class ImagesBusy(Exception):
    """More photos are waiting to be decoded than the decoder queues: try again later."""


MESSAGES = {
    "unsupported_type": "Hanya foto JPEG, PNG atau WebP yang diterima",
    "unreadable_image": "Foto rusak atau tidak lengkap",
    "trailing_data": "Berkas berisi data lain setelah akhir foto",
    "image_too_large": "Foto terlalu besar untuk dibaca",
    "image_too_complex": "Foto terlalu rumit untuk dibaca (terlalu banyak pemindaian atau terlalu lama)",
}


# -- structure, without decoding ------------------------------------------------------------------
@dataclass(frozen=True)
class Layout:
    """What the container says about the image before anything is decoded."""

    mime: str
    width: int
    height: int
    scans: int
    """Scans of a JPEG (SOS markers); 1 for PNG and WebP."""


def _refuse(code: str) -> ImageRefused:
    return ImageRefused(code, MESSAGES[code])


def _jpeg_layout(data: bytes) -> Layout:
    """Walk the JPEG's segments from SOI to EOI. A segment with a length is skipped by it; after each
    SOS the entropy-coded data runs to the next marker that is not a stuffed 0xFF00 or a restart
    marker. Each step moves forward, so the walk ends; bytes.find does the scanning in C."""
    size = len(data)
    pos, scans, width, height = 2, 0, 0, 0
    while True:
        if pos + 1 >= size:
            raise _refuse("unreadable_image")
        if data[pos] != 0xFF:
            raise _refuse("unreadable_image")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte before a marker
            pos += 1
            continue
        if marker == 0xD9:  # EOI
            if pos + 2 != size:
                raise _refuse("trailing_data")
            break
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # TEM, RSTn, a second SOI: no length
            pos += 2
            continue
        if pos + 4 > size:
            raise _refuse("unreadable_image")
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        if length < 2 or pos + 2 + length > size:
            raise _refuse("unreadable_image")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC) and length >= 7:  # SOFn
            height = int.from_bytes(data[pos + 5 : pos + 7], "big")
            width = int.from_bytes(data[pos + 7 : pos + 9], "big")
        pos += 2 + length
        if marker == 0xDA:  # SOS: entropy-coded data follows
            scans += 1
            if scans > MAX_SCANS:
                raise _refuse("image_too_complex")
            while True:
                pos = data.find(b"\xff", pos)
                if pos < 0 or pos + 1 >= size:
                    raise _refuse("unreadable_image")
                following = data[pos + 1]
                if following == 0x00 or 0xD0 <= following <= 0xD7:
                    pos += 2
                    continue
                break
    if not width or not height or not scans:
        raise _refuse("unreadable_image")
    return Layout("image/jpeg", width, height, scans)


def _png_layout(data: bytes) -> Layout:
    """Walk the PNG's chunks from the signature to IEND (length, type, data, CRC each)."""
    size, pos = len(data), 8
    width = height = 0
    while True:
        if pos + 12 > size:
            raise _refuse("unreadable_image")
        length = int.from_bytes(data[pos : pos + 4], "big")
        kind = data[pos + 4 : pos + 8]
        end = pos + 12 + length
        if end > size:
            raise _refuse("unreadable_image")
        if kind == b"IHDR" and length >= 8:
            width = int.from_bytes(data[pos + 8 : pos + 12], "big")
            height = int.from_bytes(data[pos + 12 : pos + 16], "big")
        pos = end
        if kind == b"IEND":
            break
    if pos != size:
        raise _refuse("trailing_data")
    if not width or not height:
        raise _refuse("unreadable_image")
    return Layout("image/png", width, height, 1)


def _webp_layout(data: bytes) -> Layout:
    """A WebP is one RIFF container: its length field must cover the file exactly (an odd length is
    padded to even). The dimensions come from the decoder's header read."""
    declared = int.from_bytes(data[4:8], "little")
    total = 8 + declared + (declared & 1)
    if total > len(data) or declared < 4:
        raise _refuse("unreadable_image")
    if total != len(data):
        raise _refuse("trailing_data")
    return Layout("image/webp", 0, 0, 1)


def layout(data: bytes) -> Layout:
    """The image's structure, checked (ImageRefused otherwise). Pure Python, no decoding."""
    mime = sniff(data)
    if mime == "image/jpeg":
        found = _jpeg_layout(data)
    elif mime == "image/png":
        found = _png_layout(data)
    elif mime == "image/webp":
        found = _webp_layout(data)
    else:
        raise _refuse("unsupported_type")
    if found.width * found.height > MAX_PIXELS:
        raise _refuse("image_too_large")
    return found


# -- decoding (in the worker) ---------------------------------------------------------------------
class DecodeRequest(msgspec.Struct, array_like=True, frozen=True):
    data: bytes
    thumb_edge: int = THUMB_EDGE


class DecodeAnswer(msgspec.Struct, array_like=True, frozen=True):
    """A decoded photo (`code` empty) or why it was refused."""

    code: str = ""
    mime: str = ""
    width: int = 0
    height: int = 0
    thumbnail: bytes = b""


@dataclass(frozen=True)
class DecodedImage:
    mime: str
    width: int
    height: int
    thumbnail: bytes
    """JPEG, at most THUMB_EDGE px on its longest edge."""


def decode_image(data: bytes, thumb_edge: int = THUMB_EDGE) -> DecodedImage:
    """Check and decode fully, then thumbnail: the worker's job, callable in-process for tests and
    for trusted bytes. Raises ImageRefused."""
    from PIL import Image, ImageOps

    found = layout(data)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=[_PIL_FORMATS[found.mime]]) as image:
                if image.width * image.height > MAX_PIXELS:
                    raise _refuse("image_too_large")
                image.load()
                width, height = image.size
                upright = ImageOps.exif_transpose(image) or image
                upright.thumbnail((thumb_edge, thumb_edge))
                out = io.BytesIO()
                upright.convert("RGB").save(out, "JPEG", quality=75)
    except ImageRefused:
        raise
    except MemoryError as exc:
        raise _refuse("image_too_large") from exc
    except Exception as exc:  # PIL raises many kinds (OSError, SyntaxError, ValueError...) for a bad file
        raise _refuse("unreadable_image") from exc
    return DecodedImage(found.mime, width, height, out.getvalue())


_decode_request = msgspec.msgpack.Decoder(DecodeRequest).decode
_decode_answer = msgspec.msgpack.Decoder(DecodeAnswer).decode
_encode = msgspec.msgpack.Encoder().encode


def _worker_main(fd: int, memory: int, nice: int) -> None:
    """A decoding worker (`python -m server.images FD MEMORY NICE`): one request at a time over the
    socket `fd`, until the server closes it. Answers are msgpack, never pickle: a worker that a
    crafted image took over must not be able to make the server run code."""
    import resource
    import socket

    try:
        os.nice(nice)
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    except (OSError, ValueError) as exc:  # a limit the system refuses: decode all the same
        print(f"tigapilar image worker: limits not set: {exc}", file=sys.stderr)
    import PIL.Image  # noqa: F401  (once, before the first request waits for it)

    conn = Connection(socket.socket(fileno=fd).detach())
    while True:
        try:
            request = _decode_request(conn.recv_bytes())
        except (EOFError, OSError):
            return
        try:
            decoded = decode_image(request.data, request.thumb_edge)
            answer = DecodeAnswer(
                mime=decoded.mime, width=decoded.width, height=decoded.height, thumbnail=decoded.thumbnail
            )
        except ImageRefused as refused:
            answer = DecodeAnswer(code=refused.code)
        conn.send_bytes(_encode(answer))


# -- the decoder: worker processes behind a bounded queue -----------------------------------------
_PACKAGE_ROOT = str(Path(__file__).resolve().parent.parent)


class _Worker:
    """One worker process, a fresh interpreter (never a fork of a server that runs threads, and no
    re-import of whatever script started the server, as multiprocessing's spawn would do)."""

    def __init__(self, memory: int, nice: int) -> None:
        import socket

        ours, theirs = socket.socketpair()
        path = os.environ.get("PYTHONPATH", "")
        env = {**os.environ, "PYTHONPATH": _PACKAGE_ROOT + (os.pathsep + path if path else "")}
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "server.images", str(theirs.fileno()), str(memory), str(nice)],
                pass_fds=[theirs.fileno()],
                stdin=subprocess.DEVNULL,
                env=env,
            )
        finally:
            theirs.close()
        self.conn = Connection(ours.detach())

    def stop(self) -> None:
        self.conn.close()
        if self.process.poll() is None:
            self.process.kill()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            log.error("image worker %d did not stop", self.process.pid)


class ImageDecoder:
    """Decodes photos in `workers` worker processes (started when first needed), each request
    given `timeout_s`. At most `max_waiting` requests wait for a worker; more raise ImagesBusy
    (the API answers 503 with Retry-After), so a burst of uploads cannot pile up memory.

    The asyncio side only waits: each request runs in one of `workers` threads of this decoder's own
    (never the default executor's), which hands the bytes to an idle worker and blocks on its answer."""

    def __init__(
        self,
        *,
        workers: int = 1,
        timeout_s: float = DECODE_TIMEOUT_S,
        max_waiting: int = 32,
        memory: int = WORKER_MEMORY,
        nice: int = WORKER_NICE,
    ) -> None:
        self.workers = max(1, workers)
        self.timeout_s = timeout_s
        self.max_waiting = max_waiting
        self._memory, self._nice = memory, nice
        self._threads = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="tigapilar-images")
        self._idle: list[_Worker] = []
        self._all: set[_Worker] = set()
        self._lock = threading.Lock()
        self._pending = 0
        self._closed = False
        self.killed = 0
        """Workers killed because a decode ran out of time (for tests and the benchmark)."""

    async def decode(self, data: bytes, *, thumb_edge: int = THUMB_EDGE) -> DecodedImage:
        if self._pending >= self.workers + self.max_waiting:
            raise ImagesBusy()
        self._pending += 1
        try:
            loop = asyncio.get_running_loop()
            answer = await loop.run_in_executor(self._threads, self._round_trip, data, thumb_edge)
        finally:
            self._pending -= 1
        if answer.code:
            raise _refuse(answer.code)
        return DecodedImage(answer.mime, answer.width, answer.height, answer.thumbnail)

    def _round_trip(self, data: bytes, thumb_edge: int) -> DecodeAnswer:
        """In a decoder thread: one request on an idle worker (started if none is idle)."""
        with self._lock:
            if self._closed:
                raise RuntimeError("image decoder closed")
            worker = self._idle.pop() if self._idle else None
        if worker is None:
            worker = _Worker(self._memory, self._nice)
            with self._lock:
                self._all.add(worker)
        healthy = False
        try:
            worker.conn.send_bytes(_encode(DecodeRequest(data=data, thumb_edge=thumb_edge)))
            if worker.conn.poll(self.timeout_s):
                answer = _decode_answer(worker.conn.recv_bytes())
                healthy = True
                return answer
            self.killed += 1
            log.warning("a photo took over %.1f s to decode: refused, its worker stopped", self.timeout_s)
            return DecodeAnswer(code="image_too_complex")
        except (EOFError, OSError) as exc:  # the worker died (out of memory, killed by the system)
            log.warning("image worker ended while decoding: %s", exc)
            return DecodeAnswer(code="image_too_large")
        finally:
            with self._lock:
                if healthy and not self._closed:
                    self._idle.append(worker)
                else:
                    self._all.discard(worker)
                    worker.stop()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            workers, self._idle, self._all = list(self._all), [], set()
        for worker in workers:
            worker.stop()
        self._threads.shutdown(wait=False, cancel_futures=True)


# -- files of a stored photo ----------------------------------------------------------------------
def original_path(data_dir: Path, sha: str) -> Path:
    return data_dir / "attachments" / sha[:2] / sha


def thumbnail_path(data_dir: Path, sha: str) -> Path:
    return data_dir / "thumbs" / sha[:2] / f"{sha}.jpg"


def write_atomically(target: Path, data: bytes) -> None:
    """Write to a temporary file of this write's own, then rename it into place: two requests
    writing the same file at once (the same thumbnail asked for twice) each rename a whole file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f"{target.name}.{os.getpid()}.{threading.get_ident()}.{secrets.token_hex(4)}.part")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, target)


async def ensure_thumbnail(decoder: ImageDecoder, data_dir: Path, sha: str, original: Path) -> Path:
    """The photo's thumbnail file, made now (through the decoder) if the photo was stored before
    uploads kept one. Raises ImageRefused for a stored file that does not decode, FileNotFoundError
    when the original is gone."""
    thumb = thumbnail_path(data_dir, sha)
    if not await asyncio.to_thread(thumb.exists):
        data = await asyncio.to_thread(original.read_bytes)
        decoded = await decoder.decode(data)
        await asyncio.to_thread(write_atomically, thumb, decoded.thumbnail)
    return thumb


if __name__ == "__main__":
    _worker_main(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]))
