"""The package carries the app: an sdist built from the checkout, a wheel built from that sdist and
installed into a fresh venv outside the checkout serves the officer PWA, its service worker and the
supervisor pages; the build prints no warning of the project's own making."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow

# setuptools' own messages name their class: BuildBackendWarning, SetuptoolsDeprecationWarning, ...
# (its lowercase "warning: ... byte-compiling is disabled" only tells PYTHONDONTWRITEBYTECODE is set).
BUILD_WARNING = re.compile(r"\b[A-Z]\w*Warning\b|is absent from the `packages`|[Dd]eprecated")


def _run(*command: str | Path, cwd: Path) -> str:
    done = subprocess.run([str(c) for c in command], cwd=cwd, capture_output=True, text=True)
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"{' '.join(map(str, command))} failed:\n{output}"
    return output


def _project_warnings(output: str) -> list[str]:
    return [
        line
        for line in output.splitlines()
        # pip's notes about this machine's index configuration are not the project's
        if BUILD_WARNING.search(line) and "Location 'file:" not in line
    ]


def _checkout_copy(target: Path) -> Path:
    """The files git would ship (tracked, or new and not ignored), without .venv/ or build leftovers."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = REPO / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_installed_wheel_serves_the_pwa_and_the_supervisor_pages(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", venv, cwd=tmp_path)
    python = venv / "bin" / "python"
    _run(python, "-m", "pip", "install", "-q", "setuptools>=77", "wheel", cwd=tmp_path)

    source = _checkout_copy(tmp_path / "checkout")
    build = (
        "import sys; from setuptools import build_meta as b; "
        "print(b.build_sdist(sys.argv[1]) if sys.argv[2] == 'sdist' else b.build_wheel(sys.argv[1]))"
    )
    output = _run(python, "-c", build, tmp_path / "dist", "sdist", cwd=source)
    (sdist,) = (tmp_path / "dist").glob("tigapilar-*.tar.gz")
    with tarfile.open(sdist) as archive:
        archive.extractall(tmp_path / "unpacked", filter="data")
    (unpacked,) = (tmp_path / "unpacked").iterdir()
    # The wheel is built from the sdist, so the sdist must carry everything too.
    output += _run(python, "-c", build, tmp_path / "wheels", "wheel", cwd=unpacked)
    assert _project_warnings(output) == []
    (wheel,) = (tmp_path / "wheels").glob("tigapilar-*.whl")
    _run(python, "-m", "pip", "install", "-q", wheel, cwd=tmp_path)

    located = _run(python, "-c", "import server.config as c; print(c.default_static_dir())", cwd=tmp_path)
    assert Path(located.strip()).is_relative_to(venv), located
    shipped = {p.relative_to(REPO / "static") for p in (REPO / "static").rglob("*") if p.is_file()}
    installed = Path(located.strip())
    assert {p.relative_to(installed) for p in installed.rglob("*") if p.is_file()} == shipped

    # A static dir without the app is refused at start, not served as an empty site.
    empty = tmp_path / "empty"
    empty.mkdir()
    tigapilar = venv / "bin" / "tigapilar"
    database = f"sqlite:///{tmp_path / 'data' / 'tigapilar.db'}"
    refused = subprocess.run(
        [tigapilar, "serve", "--database", database, "--static-dir", empty],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode != 0
    assert "index.html" in refused.stderr

    port = _free_port()
    log = (tmp_path / "serve.log").open("wb")
    process = subprocess.Popen(
        [tigapilar, "serve", "--database", database, "--host", "127.0.0.1", "--port", str(port)],
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
            time.sleep(0.2)
        home = httpx.get(f"{base}/")
        assert home.status_code == 200 and "/js/app.js" in home.text
        worker = httpx.get(f"{base}/sw.js")
        assert worker.status_code == 200 and "const VERSION" in worker.text
        supervisor = httpx.get(f"{base}/supervisor/")
        assert supervisor.status_code == 200 and "<html" in supervisor.text.lower()
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()
