"""Connection limits for `tigapilar serve`: how long a client may take to send its request headers,
and how many connections one server process holds at once.

uvicorn alone has neither: its keep-alive timer starts only once a response has been sent, so a
connection that sends nothing, or sends its headers a byte every few seconds, stays open for good,
and the only cap on their number is the open-file limit (2,000 slow-header connections were held
for 90 s, none dropped). `limited_httptools(header_timeout_s, max_connections)` and
`limited_h11(...)` make uvicorn's httptools and h11 protocol classes with both:

- header timeout: from the moment a connection opens, and from the first byte of each further
  request on it, the request line and headers must be complete within `header_timeout_s`, or the
  connection is closed (nginx's client_header_timeout, Apache's RequestReadTimeout header=...).
  Bodies are not timed here: a photo over a weak link may take long, and resumes (Content-Range).
- idle timeout: uvicorn's keep-alive (`--keep-alive`), which applies between requests.
- connections: past `max_connections` open connections, a new one is answered 503 with
  Retry-After and closed at once, before anything is read from it.

`http_stack(parser, loop)` picks the parser and event loop for `tigapilar serve --http/--loop`: by
default httptools (llhttp, C) and uvloop (libuv) when installed, else uvicorn's pure-Python h11 and
asyncio's own loop (docs/benchmarks.md, "HTTP path", has the figures behind the choice).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger("tigapilar.connections")

HEADER_TIMEOUT_S = 10
"""Request line and headers: a few hundred bytes, one or two packets even on a weak link."""
MAX_CONNECTIONS = 1000
"""Per server process. Phones make short requests; each open supervisor page holds one live stream."""
BUSY_RETRY_S = 5

_BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n"
    b"retry-after: %d\r\nconnection: close\r\ncontent-length: %d\r\n\r\n%s"
)
_BUSY_BODY = b'{"code":"too_many_connections","message":"Server sedang penuh, coba lagi sebentar lagi"}'


class _Limits:
    """The header timer and the connection cap, mixed into one of uvicorn's protocol classes (which
    provides transport, loop, connections and the super() methods)."""

    header_timeout_s: float
    max_connections: int
    _header_timer: asyncio.TimerHandle | None = None
    transport: Any
    loop: Any
    connections: Any

    def connection_made(self, transport: Any) -> None:
        if len(self.connections) >= self.max_connections:
            self.transport = transport  # connection_lost() reads it
            log.warning("%d connections open: refusing another", len(self.connections))
            transport.write(_BUSY % (BUSY_RETRY_S, len(_BUSY_BODY), _BUSY_BODY))
            transport.close()
            return
        super().connection_made(transport)  # type: ignore[misc]
        self._await_headers()

    def connection_lost(self, exc: Exception | None) -> None:
        self._headers_in()
        super().connection_lost(exc)  # type: ignore[misc]

    def _await_headers(self) -> None:
        if self._header_timer is None and not self.transport.is_closing():
            self._header_timer = self.loop.call_later(self.header_timeout_s, self._headers_too_slow)

    def _headers_in(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _awaiting_headers(self) -> bool:
        return True  # the timer is cancelled once the headers are in

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if self._awaiting_headers() and not self.transport.is_closing():
            self.transport.close()


def limited_h11(header_timeout_s: float, max_connections: int) -> type[H11Protocol]:
    """uvicorn's h11 protocol (pure Python) with a header timeout and a cap on open connections."""

    class LimitedH11Protocol(_Limits, H11Protocol):
        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self._awaiting_headers():  # the headers of the next request are not all in
                self._await_headers()
            else:
                self._headers_in()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            # Between requests the keep-alive timer runs; the header timer starts again with the
            # first byte of the next request (data_received).
            self._headers_in()

        def _awaiting_headers(self) -> bool:
            return self.conn.their_state is h11.IDLE

    LimitedH11Protocol.header_timeout_s = header_timeout_s
    LimitedH11Protocol.max_connections = max_connections
    return LimitedH11Protocol


def limited_httptools(header_timeout_s: float, max_connections: int) -> type[Any]:
    """uvicorn's httptools protocol (llhttp, in C) with the same header timeout and connection cap.
    The parser says when a request begins and when its headers are complete: the timer runs from
    the connection's start and from each request's first byte until then. Raises ImportError when
    httptools is not installed."""
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    class LimitedHttpToolsProtocol(_Limits, HttpToolsProtocol):
        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._await_headers()

        def on_headers_complete(self) -> None:
            self._headers_in()
            super().on_headers_complete()

    LimitedHttpToolsProtocol.header_timeout_s = header_timeout_s
    LimitedHttpToolsProtocol.max_connections = max_connections
    return LimitedHttpToolsProtocol


PARSERS = ("auto", "httptools", "h11")
LOOPS = ("auto", "uvloop", "asyncio")


class MissingHttpExtra(Exception):
    """--http httptools or --loop uvloop asked for, but that package is not installed."""


def _installed(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def http_stack(
    parser: str, loop: str, *, header_timeout_s: float, max_connections: int
) -> tuple[type[Any], str, str]:
    """(uvicorn protocol class, uvicorn loop name, "uvloop + httptools" for the start-up line).
    "auto" takes the fast one when its package is installed (they are dependencies, but wheels
    may be missing on an unusual platform) and falls back to the pure-Python one otherwise."""
    if parser == "auto":
        parser = "httptools" if _installed("httptools") else "h11"
    if loop == "auto":
        loop = "uvloop" if _installed("uvloop") else "asyncio"
    for name in (parser, loop):
        if name in ("httptools", "uvloop") and not _installed(name):
            raise MissingHttpExtra(f"{name} is not installed (pip install {name}, or leave the default auto)")
    make = limited_httptools if parser == "httptools" else limited_h11
    return make(header_timeout_s, max_connections), loop, f"{loop} + {parser}"
