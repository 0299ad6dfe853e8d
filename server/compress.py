"""gzip on two cores, off the event loop, for the pull feed's big pages.

A 5,000-record pull page is ~3 MB of JSON; gzip (level 1) took 8-10 ms of it on the event loop
thread, the largest single cost of a compressed initial sync. zlib releases the GIL, so the page is
cut in parts compressed at the same time on worker threads, pigz's way: each part is a raw deflate
stream primed with the last 32 KiB of the part before (the window a single stream would have had)
and ended with a sync flush (a byte-aligned empty block), so the parts concatenate into ONE
ordinary deflate stream; the gzip header and the CRC-32/size trailer go around it. Any gzip reader
reads it; it is a few bytes larger than a one-piece stream.

`LazyCompression` is Litestar's compression middleware for every other answer, except that a
compressor is made only for an answer that will be compressed: Litestar's sets up a gzip stream
(~20 µs, a 256 KiB zlib state) for every request that accepts gzip, then drops it unused when the
answer is below the threshold, as most API answers are (a one-mutation push's is ~200 bytes).
"""

from __future__ import annotations

import asyncio
import struct
import zlib
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from litestar.middleware.compression import CompressionMiddleware
from litestar.types import Message, Scope, Send

WINDOW = 32 * 1024
"""deflate's window: what a part's compressor is primed with from the part before."""
PART = 512 * 1024
"""Bodies up to this size are compressed in one piece (still off the event loop)."""
_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
"""gzip member header: deflate, no flags, no mtime, unknown OS."""

_pool = ThreadPoolExecutor(max_workers=3, thread_name_prefix="gzip")


def _deflate(part: memoryview, primer: bytes, last: bool, level: int) -> bytes:
    compressor = (
        zlib.compressobj(level, zlib.DEFLATED, -15, 8, zlib.Z_DEFAULT_STRATEGY, primer)
        if primer
        else zlib.compressobj(level, zlib.DEFLATED, -15)
    )
    return compressor.compress(part) + compressor.flush(zlib.Z_FINISH if last else zlib.Z_SYNC_FLUSH)


def _crc32(data: bytes) -> int:
    return zlib.crc32(data)


def gzip_parts(data: bytes, *, level: int = 1, parts: int = 2, part_min: int = PART) -> list[tuple[int, int]]:
    """The (start, end) slices `data` is compressed in: one for small bodies, else `parts`."""
    if len(data) <= part_min or parts <= 1:
        return [(0, len(data))]
    size = -(-len(data) // parts)
    return [(start, min(start + size, len(data))) for start in range(0, len(data), size)]


async def gzip_bytes(data: bytes, *, level: int = 1, parts: int = 2, part_min: int = PART) -> bytes:
    """`data` as a gzip member, compressed on worker threads (in `parts` pieces when big)."""
    loop = asyncio.get_running_loop()
    view = memoryview(data)
    slices = gzip_parts(data, level=level, parts=parts, part_min=part_min)
    crc = loop.run_in_executor(_pool, _crc32, data)
    deflated = [
        loop.run_in_executor(
            _pool,
            _deflate,
            view[start:end],
            bytes(view[max(0, start - WINDOW) : start]),
            end == len(data),
            level,
        )
        for start, end in slices
    ]
    blocks = await asyncio.gather(*deflated)
    trailer = struct.pack("<II", await crc, len(data) & 0xFFFFFFFF)
    return b"".join([_HEADER, *blocks, trailer])


class LazyCompression(CompressionMiddleware):
    """CompressionMiddleware that leaves an answer sent whole below `minimum_size` alone without
    making a compressor for it; anything else goes through Litestar's own wrapper unchanged."""

    def create_compression_send_wrapper(self, send: Send, compression_encoding: Any, scope: Scope) -> Send:
        start: Message | None = None
        compressing: Send | None = None

        async def send_wrapper(message: Message) -> None:
            nonlocal start, compressing
            if compressing is not None:
                await compressing(message)
            elif message["type"] == "http.response.start":
                start = message
            elif (
                start is not None
                and message["type"] == "http.response.body"
                and not message.get("more_body")
                and len(message.get("body", b"")) < self.config.minimum_size
            ):
                await send(start)
                await send(message)
            else:
                compressing = super(LazyCompression, self).create_compression_send_wrapper(
                    send, compression_encoding, scope
                )
                if start is not None:
                    await compressing(start)
                await compressing(message)

        return send_wrapper
