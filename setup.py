"""The compiled core: at install, sync/ is compiled to C extension modules with mypyc when this machine
can (a C compiler, Python's headers, mypyc from the build requirements), else installed as the plain
Python it is. Everything else about the package is in pyproject.toml.

TIGAPILAR_PURE_PYTHON=1 skips the compilation. A failed type check or compilation warns and leaves pure
Python: installing never fails because of the optional compiled core.

Some modules stay Python (PURE): sync/memory.py (the tests' in-memory store) because mypyc has no
async generators, and the modules that define msgspec Structs with class options
(`class Mutation(Struct, kw_only=True, frozen=True)`): a mypyc-built class drops those keywords, so
msgspec would build a different Struct (positional, mutable) or refuse the field order. The compiled
modules use those Structs as the ordinary Python classes they are. And sync/errors.py: its
exception classes' class attributes (`status`, `code`) are not inherited by compiled subclasses.
And sync/generate.py, which writes static/js from the core: a tool, found by its own `__file__`.
"""

from __future__ import annotations

import os
import shutil
import sys
import sysconfig
from pathlib import Path
from typing import Any

from setuptools import setup
from setuptools.command.build_ext import build_ext

HERE = Path(__file__).resolve().parent
PURE = (
    "sync/__init__.py",  # the package must import before the library inside it, sync/core__mypyc
    "sync/memory.py",
    "sync/collections.py",
    "sync/domain.py",
    "sync/errors.py",
    "sync/generate.py",  # a build tool: it finds the checkout by its own __file__, which a mypyc
    # module's import does not give as the path of its file
    "sync/merge.py",
    "sync/messages.py",
    "sync/op_types.py",
    "sync/store.py",
)


def _warn(message: str) -> None:
    print(f"tigapilar: {message}; sync/ stays pure Python", file=sys.stderr)


def compiled_core() -> list[Any]:
    if os.environ.get("TIGAPILAR_PURE_PYTHON") == "1":
        return []
    if not (Path(sysconfig.get_paths()["include"]) / "Python.h").exists():
        _warn("no Python.h (apt-get install python3-dev compiles the core)")
        return []
    compiler = (sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(compiler) is None:
        _warn(f"no C compiler ({compiler})")
        return []
    try:
        from mypyc.build import mypycify
    except ImportError:
        _warn("mypyc is not installed")
        return []
    os.chdir(HERE)  # mypyc takes paths relative to the project
    modules = sorted(str(p) for p in Path("sync").glob("*.py") if str(p) not in PURE)
    # The runtime and the compiled code live in one shared library that each module's shim imports:
    # named into the sync package (sync/core__mypyc.*.so), not at the top level where an editable
    # install's other processes (a `tigapilar serve` the tests start) would not find it.
    try:
        return list(mypycify(modules, opt_level="3", group_name="sync.core"))
    except (SystemExit, Exception) as exc:  # mypyc exits on a type error: install the pure core
        _warn(f"mypyc could not prepare the core ({type(exc).__name__}: {exc})")
        return []


class BuildCore(build_ext):
    """build_ext that falls back to pure Python when the C compilation fails, instead of failing."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # a compiler error of any kind: the pure-Python core still works
            _warn(f"compiling failed ({type(exc).__name__}: {exc})")
            for built in HERE.glob("sync/*.so"):
                built.unlink()
            self.extensions = []


setup(ext_modules=compiled_core(), cmdclass={"build_ext": BuildCore})
