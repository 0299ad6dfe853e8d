"""Which build of sync/ this process runs: the compiled core or its pure-Python source.

setup.py compiles sync/ with mypyc at install when it can: each module then exists twice, as
`sync/X.py` and as the extension module `sync/X.cpython-*.so` beside it, which Python imports first.
`TIGAPILAR_PURE_PYTHON=1` makes a process import the `.py` files instead (the test command runs
the sync tests so, and `python -m bench` compares both builds); `server/__init__.py` calls
`use_pure_python_if_asked()` before anything imports sync.

An editable install (`pip install -e .`, what scripts/test makes) keeps the extension modules
beside the sources: once a `.py` is edited, its compiled module is stale. `stale_modules()` names
them; the tests then run on pure Python (tests/__init__.py), and `scripts/build-core` compiles again.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

PURE_ENV = "TIGAPILAR_PURE_PYTHON"


def source_dir() -> Path:
    """sync/'s directory, found without importing sync."""
    spec = importlib.util.find_spec("sync")
    assert spec is not None and spec.submodule_search_locations is not None
    return Path(next(iter(spec.submodule_search_locations)))


def compiled_modules() -> list[Path]:
    """The extension modules of sync/ (none where it was installed as pure Python)."""
    directory = source_dir()
    return sorted({p for s in importlib.machinery.EXTENSION_SUFFIXES for p in directory.glob(f"*{s}")})


def stale_modules() -> list[str]:
    """sync/ modules whose source changed after they were compiled."""
    stale = []
    for built in compiled_modules():
        source = built.with_name(built.name.split(".", 1)[0] + ".py")
        if source.exists() and source.stat().st_mtime > built.stat().st_mtime:
            stale.append(source.name)
    return stale


def build(modules: Sequence[ModuleType] | None = None) -> str:
    """What sync (or the given modules) runs as now: "compiled (mypyc)" or "pure Python"."""
    import sync.engine

    loaded = modules if modules is not None else [sync.engine]
    compiled = all((m.__file__ or "").endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES)) for m in loaded)
    return "compiled (mypyc)" if compiled else "pure Python"


class _PureSync(importlib.abc.MetaPathFinder):
    """Finds sync and sync.X as their .py sources, ahead of the extension modules beside them."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname == "sync":
            init = self.directory / "__init__.py"
            return importlib.util.spec_from_file_location(
                fullname, init, submodule_search_locations=[str(self.directory)]
            )
        if fullname.startswith("sync.") and fullname.count(".") == 1:
            source = self.directory / (fullname.split(".", 1)[1] + ".py")
            if source.exists():
                return importlib.util.spec_from_file_location(fullname, source)
        return None


def use_pure_python() -> None:
    """From now on this process imports sync/ from its .py files. Before the first import of sync."""
    if "sync" in sys.modules:
        raise RuntimeError("sync is imported already: choose its build before importing it")
    if not any(isinstance(f, _PureSync) for f in sys.meta_path):
        sys.meta_path.insert(0, _PureSync(source_dir()))


def use_pure_python_if_asked() -> None:
    if os.environ.get(PURE_ENV) == "1" and "sync" not in sys.modules:
        use_pure_python()


def never_stale() -> None:
    """In a checkout (the tests, the benchmarks): when a sync/*.py changed after it was compiled, run
    pure Python, in this process and (through the environment) in the servers it starts, rather than
    the old compiled code. Not for installed packages, whose files' times say nothing."""
    stale = stale_modules() if os.environ.get(PURE_ENV) != "1" else []
    if stale:
        print(
            f"note: sync/ changed since it was compiled ({', '.join(stale[:3])}): running it as pure"
            " Python; scripts/build-core compiles it again",
            file=sys.stderr,
        )
        os.environ[PURE_ENV] = "1"
        use_pure_python()
