"""Connection limits for `tigapilar serve`: how long a client may take to send its request headers,
and how many connections one server process holds at once.

uvicorn alone has neither: its keep-alive timer starts only once a response has been sent, so a
connection that sends nothing, or sends its headers a byte every few seconds, stays open for good,
and the only cap on their number is the open-file limit (2,000 slow-header connections were held
for 90 s, none dropped). `limited_h11(header_timeout_s, max_connections)` makes uvicorn's h11
protocol class with both:

- header timeout: from the moment a connection opens, and from the first byte of each further
  request on it, the request line and headers must be complete within `header_timeout_s`, or the
  connection is closed (nginx's client_header_timeout, Apache's RequestReadTimeout header=...).
  Bodies are not timed here: a photo over a weak link may take long, and resumes (Content-Range).
- idle timeout: uvicorn's keep-alive (`--keep-alive`), which applies between requests.
- connections: past `max_connections` open connections, a new one is answered 503 with
  Retry-After and closed at once, before anything is read from it.
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


def limited_h11(header_timeout_s: float, max_connections: int) -> type[H11Protocol]:
    """uvicorn's h11 protocol with a header timeout and a cap on open connections (see above)."""

    class LimitedH11Protocol(H11Protocol):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._header_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            if len(self.connections) >= max_connections:
                self.transport = transport  # connection_lost() reads it
                log.warning("%d connections open: refusing another", len(self.connections))
                transport.write(_BUSY % (BUSY_RETRY_S, len(_BUSY_BODY), _BUSY_BODY))
                transport.close()
                return
            super().connection_made(transport)
            self._await_headers()

        def connection_lost(self, exc: Exception | None) -> None:
            self._headers_in()
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self.conn.their_state is h11.IDLE:  # the headers of the next request are not all in
                self._await_headers()
            else:
                self._headers_in()

        def _await_headers(self) -> None:
            if self._header_timer is None and not self.transport.is_closing():
                self._header_timer = self.loop.call_later(header_timeout_s, self._headers_too_slow)

        def _headers_in(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def on_response_complete(self) -> None:
            super().on_response_complete()
            # Between requests the keep-alive timer runs; the header timer starts again with the
            # first byte of the next request (data_received).
            self._headers_in()

        def _headers_too_slow(self) -> None:
            self._header_timer = None
            if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
                self.transport.close()

    return LimitedH11Protocol
