"""The phone's network link in browser tests: a loopback TCP forwarder between Chromium and the server.

The page and its service worker are opened at the forwarder's port, so every request they make
(navigations, the worker's own fetches, the app's API calls) crosses it, and the test decides what
the network does, like the warehouse does to a real phone:

    link.refuse()      no network: new connections are refused, open ones are cut
    link.black_hole()  "lie-fi": connections are accepted and nothing ever comes back
    link.restore()     a working network again (shaping, if set, stays)
    link.shape(latency_ms=800, down_bps=25_000, up_bps=6_000)
                       a slow link: one-way latency and a bandwidth cap per direction, shared by
                       all connections (the phone has one radio)
    link.drop_after(up_bytes=N)
                       cut every open connection once N more bytes went up (a drop mid-upload)

`context.set_offline` does not stop a service worker's own requests and does not drive
`navigator.onLine` reliably; this does cut the network for real. `navigator.onLine` keeps saying
online throughout, as on a phone with one bar and no data.

It runs in a thread with its own event loop, so the test's blocking calls (httpx to the server)
never stall the traffic.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Literal

Mode = Literal["pass", "refuse", "black_hole"]
CHUNK = 16 * 1024
SHAPED_CHUNK = 512
"""Bytes moved at a time on a capped link, so progress and a drop happen mid-transfer."""


@dataclass
class Direction:
    """One direction of the link: its cap, latency, and what went through."""

    bps: float | None = None
    latency_s: float = 0.0
    free_at: float = 0.0
    """When the (shared) link has sent everything queued so far."""
    bytes: int = 0

    def delivery_time(self, size: int) -> float:
        now = time.monotonic()
        if self.bps:
            self.free_at = max(now, self.free_at) + size / self.bps
            return self.free_at + self.latency_s
        return now + self.latency_s


@dataclass(eq=False)
class Connection:
    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter | None = None
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)

    def cut(self) -> None:
        """Reset both sides at once (what a lost signal looks like to either end)."""
        for writer in (self.client, self.upstream):
            if writer is not None:
                with contextlib.suppress(Exception):
                    writer.transport.abort()
        for task in self.tasks:
            task.cancel()


class Link:
    def __init__(self, target_port: int, host: str = "127.0.0.1") -> None:
        self.host = host
        self.target_port = target_port
        self.mode: Mode = "pass"
        self.up = Direction()
        self.down = Direction()
        self.impaired = False
        """Whether the network was ever cut or degraded in this test (console noise is expected)."""
        self.connections: set[Connection] = set()
        self._drop_up_at: int | None = None
        self.drops = 0
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        with socket.socket() as probe:
            probe.bind((host, 0))
            self.port = int(probe.getsockname()[1])
        self._thread = threading.Thread(target=self._loop.run_forever, name="test-link", daemon=True)
        self._thread.start()
        self._call(self._listen)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # -- what the test does -------------------------------------------------------------------------
    def refuse(self) -> None:
        self.impaired = True
        self._call(self._set_mode, "refuse")

    def black_hole(self) -> None:
        self.impaired = True
        self._call(self._set_mode, "black_hole")

    def restore(self) -> None:
        self._call(self._set_mode, "pass")

    def shape(
        self, *, latency_ms: float = 0, down_bps: float | None = None, up_bps: float | None = None
    ) -> None:
        """Bandwidth in bytes per second per direction, latency one way."""
        self.impaired = True

        def apply() -> None:
            self.up.bps, self.down.bps = up_bps, down_bps
            self.up.latency_s = self.down.latency_s = latency_ms / 1000

        self._call(apply)

    def drop_after(self, *, up_bytes: int) -> None:
        self.impaired = True

        def arm() -> None:
            self._drop_up_at = self.up.bytes + up_bytes

        self._call(arm)

    def close(self) -> None:
        self._call(self._shutdown)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    # -- inside the link's loop ---------------------------------------------------------------------
    def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run fn (plain or async) in the link's loop and wait for it."""

        async def run() -> Any:
            result = fn(*args)
            if asyncio.iscoroutine(result):
                result = await result
            return result

        future: Future[Any] = asyncio.run_coroutine_threadsafe(run(), self._loop)
        return future.result(timeout=30)

    async def _listen(self) -> None:
        if self._server is None:
            self._server = await asyncio.start_server(self._accept, self.host, self.port, reuse_address=True)

    async def _set_mode(self, mode: Mode) -> None:
        previous, self.mode = self.mode, mode
        if mode == "refuse":
            if self._server is not None:
                self._server.close()
                self._server = None
            self._cut_all()
            return
        if previous == "black_hole" and mode == "pass":
            # What was swallowed is gone: those connections can never complete.
            self._cut_all()
        # Black-holed, open connections go silent too (their pumps hold everything back).
        await self._listen()

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        self._cut_all()
        # Let every connection's task end before the loop stops (none is left pending).
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)

    def _cut_all(self) -> None:
        for connection in list(self.connections):
            connection.cut()
        self.connections.clear()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection = Connection(client=writer)
        self.connections.add(connection)
        try:
            if self.mode != "pass":
                # Accepted, never answered: read and forget until the phone gives up.
                while await reader.read(CHUNK):
                    pass
                return
            try:
                up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
            except OSError:
                return
            connection.upstream = up_writer
            upstream = asyncio.ensure_future(self._pump(reader, up_writer, self.up, connection))
            downstream = asyncio.ensure_future(self._pump(up_reader, writer, self.down, connection))
            connection.tasks = [upstream, downstream]
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.gather(upstream, downstream, return_exceptions=True)
        finally:
            self.connections.discard(connection)
            connection.cut()

    async def _pump(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        direction: Direction,
        connection: Connection,
    ) -> None:
        """Read as fast as the link's bandwidth allows, deliver each piece after the latency: a
        long transfer keeps the pipe full (latency is paid once, not per piece)."""
        queue: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue()

        async def deliver() -> None:
            while (item := await queue.get()) is not None:
                at, data = item
                delay = at - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                if self.mode != "pass":
                    continue  # swallowed
                writer.write(data)
                await writer.drain()
                direction.bytes += len(data)
                armed = self._drop_up_at
                if direction is self.up and armed is not None and direction.bytes >= armed:
                    self._drop_up_at = None
                    self.drops += 1
                    self._cut_all()
                    return
            with contextlib.suppress(OSError):
                writer.write_eof()

        delivering = asyncio.ensure_future(deliver())
        connection.tasks.append(delivering)
        try:
            while True:
                ahead = direction.free_at - time.monotonic()
                if direction.bps and ahead > 0:
                    await asyncio.sleep(ahead)
                data = await reader.read(SHAPED_CHUNK if direction.bps else CHUNK)
                while data and self.mode == "black_hole":
                    await asyncio.sleep(0.05)  # swallowed: the connection hangs
                if not data:
                    queue.put_nowait(None)
                    break
                queue.put_nowait((direction.delivery_time(len(data)), data))
            await delivering
        except (ConnectionError, OSError):
            connection.cut()
