"""gzip on two cores, off the event loop, for the pull feed's big pages.

A 5,000-record pull page is ~3 MB of JSON; gzip (level 1) took 8-10 ms of it on the event loop
thread, the largest single cost of a compressed initial sync. zlib releases the GIL, so the page is
cut in parts compressed at the same time on worker threads, pigz's way: each part is a raw deflate
stream primed with the last 32 KiB of the part before (the window a single stream would have had)
and ended with a sync flush (a byte-aligned empty block), so the parts concatenate into ONE
ordinary deflate stream; the gzip header and the CRC-32/size trailer go around it. Any gzip reader
reads it; it is a few bytes larger than a one-piece stream.
"""

from __future__ import annotations

import asyncio
import struct
import zlib
from concurrent.futures import ThreadPoolExecutor

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
