"""A real `tigapilar serve` (uvicorn) subprocess on a free loopback port."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import httpx

from bench.env import REPO, rss_bytes


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _command() -> list[str]:
    script = Path(sys.executable).parent / "tigapilar"
    return [str(script)] if script.exists() else [sys.executable, "-m", "server.cli"]


class Server:
    """`tigapilar serve --database sqlite:///<db>` (or a postgresql:// URL given as a string) on
    127.0.0.1; stdout/stderr go to a log file. `data_dir` becomes $TIGAPILAR_DATA_DIR (attachments);
    `env` adds to the server's environment; `args` go to `tigapilar serve`; `command(port)`, when
    given, is the whole command line instead (another ASGI server, for the HTTP-path comparison)."""

    def __init__(
        self,
        database: Path | str,
        *,
        log: Path,
        static_dir: Path | None = None,
        data_dir: Path | None = None,
        env: dict[str, str] | None = None,
        args: Sequence[str] = (),
        command: Callable[[int], list[str]] | None = None,
    ) -> None:
        self.args = list(args)
        self.command = command
        self.database = database
        self.data_dir = data_dir
        self.env = env or {}
        self.log_path = log
        self.static_dir = static_dir or REPO / "static"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Server:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def rss(self) -> int:
        return rss_bytes(self.pid)

    def cpu_seconds(self) -> float:
        """User + system CPU time the server process, and any worker process it started (granian's
        worker, the photo decoders), have used so far."""
        return sum(_cpu_seconds(pid) for pid in _tree(self.pid))

    def start(self, timeout: float = 30.0, attempts: int = 3) -> None:
        """Start and wait for /healthz. The port was free when chosen but another program on this
        shared machine may take it first: then try again on a new port."""
        for attempt in range(attempts):
            if self._start_once(timeout):
                return
            tail = self.log_path.read_text(errors="replace")[-2000:]
            if "address already in use" not in tail.lower() or attempt == attempts - 1:
                raise RuntimeError(f"server exited; see {self.log_path}:\n{tail[-800:]}")
            self.port = free_port()
            self.url = f"http://127.0.0.1:{self.port}"

    def _start_once(self, timeout: float) -> bool:
        cmd = [
            *_command(),
            "serve",
            "--database",
            self.database if isinstance(self.database, str) else f"sqlite:///{self.database}",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--static-dir",
            str(self.static_dir),
            *self.args,
        ]
        if self.command is not None:
            cmd = self.command(self.port)
        # PYTHONPATH: the server runs this checkout's code even when the venv's editable install
        # points at another one (e.g. a copy of an older commit, for a before/after comparison).
        env = {**os.environ, **self.env, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(REPO)}
        if self.data_dir is not None:
            env["TIGAPILAR_DATA_DIR"] = str(self.data_dir)
        self._log = self.log_path.open("ab")
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, cwd=REPO, env=env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self._log.close()
                self.proc = None
                return False
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1.0).status_code == 200:
                    return True
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"server did not answer /healthz within {timeout}s; see {self.log_path}")

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: uvicorn shuts down gracefully, the storage closes
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        self.proc = None


def _tree(pid: int) -> list[int]:
    """The process and its descendants, alive now."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        for task in Path(f"/proc/{p}/task").glob("*/children"):
            with contextlib.suppress(OSError):
                todo += [int(c) for c in task.read_text().split()]
    return out


def _cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:  # ended meanwhile
        return 0.0
    # utime, stime, and those of its children that ended and were waited for
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")
