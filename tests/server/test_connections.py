"""server/connections.py against a real `tigapilar serve`, with each HTTP parser (httptools, the
default, and h11, the fallback): a connection that sends nothing, or its headers a byte at a time, is
closed after --header-timeout; an idle one after --keep-alive; past --max-connections a new one gets
503 at once. Ordinary requests are unaffected."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.server.test_faults import ServerProcess, seed

pytestmark = [pytest.mark.slow, pytest.mark.sqlite_only]

HEADER_TIMEOUT, KEEP_ALIVE, MAX_CONNECTIONS = 1, 2, 4
WAIT = 15
"""How long a test waits for the server to close a connection: a bound, not a measurement."""


@pytest.fixture(scope="module", params=["httptools", "h11"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("connections")
    asyncio.run(seed(root / "db.sqlite", devices=0))
    process = ServerProcess(
        root / "db.sqlite",
        root / "server.log",
        "--header-timeout", str(HEADER_TIMEOUT), "--keep-alive", str(KEEP_ALIVE),
        "--max-connections", str(MAX_CONNECTIONS), "--http", request.param,
    )  # fmt: skip
    process.start()
    try:
        assert f"+ {request.param})" in process.log()  # the start-up line names the stack it runs
        yield process
    finally:
        process.stop()


def connect(server: ServerProcess) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=WAIT)
    sock.settimeout(WAIT)
    return sock


def closed_by_server(sock: socket.socket) -> bytes:
    """Read until the server closes the connection (socket.timeout if it never does); what it sent."""
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


def read_response(sock: socket.socket) -> bytes:
    """One whole HTTP response (headers and a Content-Length body) from the socket."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1]) for line in head.lower().split(b"\r\n") if line.startswith(b"content-length")
    )
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


def test_a_connection_that_sends_nothing_is_closed_after_the_header_timeout(server: ServerProcess) -> None:
    with connect(server) as sock:
        started = time.monotonic()
        assert closed_by_server(sock) == b""
        assert time.monotonic() - started < WAIT


def test_headers_sent_a_byte_at_a_time_are_cut_off(server: ServerProcess) -> None:
    request = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 200 + b"\r\n\r\n"
    with connect(server) as sock:
        sent = 0
        try:
            for byte in request:  # 200 bytes at 20 a second: far past the 1 s allowed for headers
                sock.send(bytes([byte]))
                sent += 1
                time.sleep(0.05)
            answer = closed_by_server(sock)
        except (BrokenPipeError, ConnectionResetError):
            answer = b""
    assert sent < len(request) and b"200 OK" not in answer


def test_an_idle_keep_alive_connection_is_closed_and_requests_on_time_are_served(
    server: ServerProcess,
) -> None:
    with connect(server) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_response(sock).startswith(b"HTTP/1.1 200")
        time.sleep(HEADER_TIMEOUT + 0.5)  # idle past the header timeout: the keep-alive one applies
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_response(sock).startswith(b"HTTP/1.1 200")
        assert closed_by_server(sock) == b""  # then, idle for KEEP_ALIVE, closed


def test_past_max_connections_a_new_connection_gets_503_at_once(server: ServerProcess) -> None:
    held = [connect(server) for _ in range(MAX_CONNECTIONS)]
    try:
        time.sleep(0.2)
        with connect(server) as extra:
            answer = closed_by_server(extra)
        assert answer.startswith(b"HTTP/1.1 503") and b"too_many_connections" in answer
        assert b"retry-after: 5" in answer.lower()
    finally:
        for sock in held:
            sock.close()
    deadline = time.monotonic() + WAIT  # the held ones are gone: room again
    while True:
        try:
            assert httpx.get(server.url + "/healthz", timeout=WAIT).status_code == 200
            break
        except (httpx.HTTPError, AssertionError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_the_limits_are_flags_of_serve_with_documented_defaults() -> None:
    from server.cli import build_parser
    from server.connections import HEADER_TIMEOUT_S, MAX_CONNECTIONS

    args = build_parser().parse_args(["serve"])
    assert (args.header_timeout, args.max_connections, args.keep_alive) == (
        HEADER_TIMEOUT_S,
        MAX_CONNECTIONS,
        75,
    )
    assert (args.http, args.loop, args.access_log) == ("auto", "auto", False)
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert "--header-timeout" in readme and "--max-connections" in readme


def test_the_fast_stack_is_the_default_and_the_pure_python_one_its_fallback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from server import connections
    from server.connections import MissingHttpExtra, http_stack

    limits = {"header_timeout_s": 1.0, "max_connections": 4}
    protocol, loop, stack = http_stack("auto", "auto", **limits)
    assert (loop, stack) == ("uvloop", "uvloop + httptools")  # both are dependencies
    assert protocol.__name__ == "LimitedHttpToolsProtocol" and protocol.max_connections == 4
    monkeypatch.setattr(connections, "_installed", lambda module: False)  # a platform without wheels
    protocol, loop, stack = http_stack("auto", "auto", **limits)
    assert (protocol.__name__, loop, stack) == ("LimitedH11Protocol", "asyncio", "asyncio + h11")
    with pytest.raises(MissingHttpExtra, match="httptools is not installed"):
        http_stack("httptools", "auto", **limits)
