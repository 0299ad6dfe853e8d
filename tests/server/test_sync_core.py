"""server/sync_core.py: which build of sync/ a process runs. TIGAPILAR_PURE_PYTHON=1 makes a fresh
process import sync/'s .py sources even beside compiled modules; without it a compiled module, where
the install built one, is what Python imports; a source edited after its module was compiled is
named stale (and the tests then run pure Python, tests/__init__.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from server import sync_core

REPO = Path(__file__).resolve().parents[2]
PROBE = (
    "import server, sync.engine, sync.audit, sync.messages; from server.sync_core import build;"
    " print(sync.engine.__file__); print(build())"
)


def _probe(pure: bool) -> list[str]:
    env = {k: v for k, v in os.environ.items() if k != sync_core.PURE_ENV}
    if pure:
        env[sync_core.PURE_ENV] = "1"
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=REPO, env=env, capture_output=True, text=True, check=True
    )
    return done.stdout.split()


def test_the_pure_python_switch_imports_the_sources_even_beside_compiled_modules() -> None:
    path, *build = _probe(pure=True)
    assert path.endswith("sync/engine.py") and " ".join(build) == "pure Python"


def test_without_the_switch_a_compiled_core_is_what_runs() -> None:
    if not sync_core.compiled_modules():
        pytest.skip("sync/ is not compiled here (no C compiler at install)")
    path, *build = _probe(pure=False)
    assert path.endswith(".so") and " ".join(build) == "compiled (mypyc)"


def test_a_source_edited_after_its_module_was_compiled_is_stale(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    suffix = ".cpython-311-x86_64-linux-gnu.so"
    for name, source_time, built_time in (("engine", 100, 200), ("ops", 300, 200)):
        (tmp_path / f"{name}.py").write_text("")
        (tmp_path / f"{name}{suffix}").write_bytes(b"")
        os.utime(tmp_path / f"{name}.py", (source_time, source_time))
        os.utime(tmp_path / f"{name}{suffix}", (built_time, built_time))
    monkeypatch.setattr(sync_core, "source_dir", lambda: tmp_path)
    monkeypatch.setattr(sync_core.importlib.machinery, "EXTENSION_SUFFIXES", [suffix, ".so"])
    assert [p.name for p in sync_core.compiled_modules()] == [f"engine{suffix}", f"ops{suffix}"]
    assert sync_core.stale_modules() == ["ops.py"]


def test_choosing_the_build_after_sync_was_imported_is_refused() -> None:
    assert "sync" in sys.modules
    with pytest.raises(RuntimeError, match="imported already"):
        sync_core.use_pure_python()
