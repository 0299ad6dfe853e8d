"""Browser tests: the real server as a subprocess, Debian's Chromium driven by Playwright.

Each test gets a fresh server (temp SQLite database with the demo data, its own copy of static/
so a test can deploy a "new version") and a fresh browser. Each phone opened through `open_app`
reaches the server through its own network link (tests/browser/link.py: a loopback forwarder the
test can cut, black-hole, slow down or drop), and collects console errors and uncaught exceptions;
any of them fails the test at teardown (the browser's own network-error lines are expected once
the test has impaired the link).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

from tests.browser.link import Link

REPO = Path(__file__).resolve().parents[2]
STATIC = REPO / "static"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
"""Screenshots of the tests (git-ignored): of failures, and of the screens the docs show."""
SCREENSHOTS_ENV = "TIGAPILAR_SCREENSHOT_DIR"
"""Where the docs' screenshots go; scripts/screenshots points it at docs/screenshots."""
CHROMIUM = os.environ.get("TIGAPILAR_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = "tigapilar"
"""Password of every demo user (server/seed/demo.py DEMO_PASSWORD)."""

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _cli() -> list[str]:
    """The `tigapilar` command; `python -m server.cli` when the package is not installed."""
    script = Path(sys.executable).with_name("tigapilar")
    return [str(script)] if script.exists() else [sys.executable, "-m", "server.cli"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def screenshot_path(name: str) -> Path:
    """Where a screenshot for the docs is written: ARTIFACTS unless $TIGAPILAR_SCREENSHOT_DIR says
    otherwise, so an ordinary test run never rewrites the tracked docs/screenshots/."""
    directory = Path(os.environ.get(SCREENSHOTS_ENV) or ARTIFACTS)
    directory.mkdir(parents=True, exist_ok=True)
    return directory / name


@dataclass
class Server:
    """A running server; `api()` talks to it directly, bypassing the browser."""

    base_url: str
    database: Path
    static_dir: Path
    log_path: Path
    port: int

    def api(self, username: str, client_id: str | None = None) -> ServerApi:
        return ServerApi(self, username, client_id or f"verify-{username}-{os.urandom(4).hex()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@dataclass
class ServerApi:
    """An API client logged in as one demo user, used to check what reached the server."""

    server: Server
    username: str
    client_id: str
    client: httpx.Client = field(init=False)
    seq: int = 0

    def __post_init__(self) -> None:
        self.client = httpx.Client(base_url=self.server.base_url, timeout=30)
        response = self.client.post(
            "/api/auth/login",
            json={
                "username": self.username,
                "password": PASSWORD,
                "device_name": "pytest",
                "client_id": self.client_id,
            },
        )
        response.raise_for_status()
        self.client.headers["Authorization"] = f"Bearer {response.json()['token']}"

    def __enter__(self) -> ServerApi:
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.close()

    def get(self, path: str) -> httpx.Response:
        response = self.client.get(path)
        response.raise_for_status()
        return response

    def push(self, *mutations: dict) -> list[dict]:
        """Push mutations as this user's own device ({"collection", "op", "id", "fields", ...});
        numbering and clock stamps are filled in. Returns the results."""
        batch = []
        for m in mutations:
            self.seq += 1
            stamp = f"{int(time.time() * 1000):013d}-{self.seq:05d}-{self.client_id}"
            batch.append(
                {"base_rev": 0, "fields": {}, **m, "seq": self.seq, "hlc": stamp, "schema_version": 2}
            )
        response = self.client.post(
            "/api/sync/push",
            json={"protocol": 1, "client_id": self.client_id, "schema_version": 2, "mutations": batch},
        )
        response.raise_for_status()
        return response.json()["results"]

    def pull_all(self) -> dict[str, dict]:
        """Every record in this user's scope (latest state by id), pulled from revision 0."""
        cursors: dict[str, int] = {}
        records: dict[str, dict] = {}
        for _ in range(100):
            response = self.client.post(
                "/api/sync/pull",
                json={"protocol": 1, "client_id": self.client_id, "cursors": cursors, "limit": 1000},
            )
            response.raise_for_status()
            body = response.json()
            for change in body["changes"]:
                records[change["id"]] = change
            cursors.update(body["cursors"])
            if not body["has_more"]:
                return records
        raise AssertionError("pull never finished")


@pytest.fixture(scope="session")
def seeded_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database with the demo data (and its attachments), made once per test session; each test
    works on a copy. $TIGAPILAR_SEEDED_DIR may point to a ready one (tigapilar.db + attachments)."""
    ready = os.environ.get("TIGAPILAR_SEEDED_DIR")
    if ready:
        return Path(ready)
    directory = tmp_path_factory.mktemp("seed")
    url = f"sqlite:///{directory / 'tigapilar.db'}"
    for command in (["migrate"], ["seed-demo"]):
        done = subprocess.run(
            [*_cli(), *command, "--database", url], cwd=REPO, capture_output=True, text=True
        )
        if done.returncode:
            raise RuntimeError(f"tigapilar {command[0]} failed:\n{done.stdout}\n{done.stderr}")
    return directory


@pytest.fixture
def server(tmp_path: Path, seeded_dir: Path) -> Iterator[Server]:
    static_dir = tmp_path / "static"
    shutil.copytree(STATIC, static_dir)
    data_dir = tmp_path / "data"
    shutil.copytree(seeded_dir, data_dir)
    database = data_dir / "tigapilar.db"
    url = f"sqlite:///{database}"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    port = _free_port()
    log_path = tmp_path / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                *_cli(),
                "serve",
                "--database",
                url,
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--static-dir",
                str(static_dir),
            ],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    srv = Server(
        base_url=f"http://localhost:{port}",
        database=database,
        static_dir=static_dir,
        log_path=log_path,
        port=port,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"server exited with {process.returncode}:\n{srv.log()}")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"server did not start:\n{srv.log()}")
            time.sleep(0.1)
        yield srv
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        instance = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            await instance.close()


NETWORK_NOISE = re.compile(r"net::ERR_[A-Z_]+|Failed to fetch|Failed to load resource")
"""What Chromium itself logs for a request the network failed (not the app's own errors)."""


@dataclass
class App:
    """One phone: a browser context (its own storage), the page showing the app, and its network
    link to the server (`app.link.refuse()` takes the signal away, `app.link.restore()` brings it
    back)."""

    name: str
    context: BrowserContext
    page: Page
    link: Link
    base_url: str
    errors: list[str] = field(default_factory=list)
    http_errors: list[str] = field(default_factory=list)
    """API answers with a 4xx/5xx status, for the failure message."""
    allowed: list[re.Pattern[str]] = field(default_factory=list)

    def allow_console(self, pattern: str) -> None:
        """Console errors the test provokes on purpose (e.g. an aborted request)."""
        self.allowed.append(re.compile(pattern))

    def unexpected_errors(self) -> list[str]:
        allowed = [*self.allowed, NETWORK_NOISE] if self.link.impaired else self.allowed
        return [e for e in self.errors if not any(p.search(e) for p in allowed)]

    def watch(self, page: Page) -> Page:
        def on_console(message) -> None:
            if message.type == "error":
                self.errors.append(f"console: {message.text} @ {message.location.get('url', '')}")

        async def on_response(response) -> None:
            if response.status >= 400 and "/api/" in response.url:
                try:
                    body = (await response.text())[:300]
                except Exception:
                    body = "?"
                self.http_errors.append(f"{response.status} {response.request.method} {response.url}: {body}")

        page.on("console", on_console)
        page.on("pageerror", lambda error: self.errors.append(f"pageerror: {error}"))
        page.on("response", on_response)
        return page

    async def reopen(self) -> Page:
        """Kill the tab and open the app in a new one (same phone, same storage)."""
        await self.page.close(run_before_unload=False)
        self.page = self.watch(await self.context.new_page())
        return self.page

    async def screenshot(self, name: str) -> None:
        ARTIFACTS.mkdir(exist_ok=True)
        await self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator:
    report = yield
    if report.when == "call":
        item.stash[FAILED] = report.failed
    return report


FAILED = pytest.StashKey[bool]()


@pytest.fixture
async def open_app(browser: Browser, server: Server, request: pytest.FixtureRequest) -> AsyncIterator:
    """open_app(name) → App: a new phone (browser context, 360 × 740 like a mid-range Android)."""
    apps: list[App] = []

    async def factory(name: str = "phone") -> App:
        context = await browser.new_context(
            viewport={"width": 360, "height": 740},
            device_scale_factor=2,
            is_mobile=True,
            has_touch=True,
            locale="id-ID",
            timezone_id="Asia/Jakarta",
        )
        page = await context.new_page()
        link = Link(server.port)
        app = App(name=name, context=context, page=page, link=link, base_url=link.url)
        app.watch(page)
        apps.append(app)
        return app

    yield factory
    problems = []
    for app in apps:
        if request.node.stash.get(FAILED, False):
            with contextlib.suppress(Exception):  # best effort: the page may be gone
                await app.screenshot(f"failed-{request.node.name}-{app.name}")
        unexpected = app.unexpected_errors()
        problems += [f"[{app.name}] {e}" for e in unexpected]
        if unexpected:
            problems += [f"[{app.name}] HTTP {e}" for e in app.http_errors]
        await app.context.close()
        app.link.close()
    assert not problems, "console errors:\n" + "\n".join(problems)
