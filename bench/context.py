"""What every section receives: where to put its files, how big to go, where to log progress."""

from __future__ import annotations

import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Context:
    workdir: Path
    quick: bool = False
    started: float = field(default_factory=time.monotonic)
    results: dict[str, Any] = field(default_factory=dict)
    """What a section leaves for a later one (the SQLite storm row for the PostgreSQL table)."""

    def log(self, message: str) -> None:
        print(f"[{time.monotonic() - self.started:6.1f}s] {message}", file=sys.stderr, flush=True)

    def dir(self, name: str) -> Path:
        """A fresh, empty directory for one section's databases and logs."""
        path = self.workdir / name
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
        return path

    def size(self, full: int, quick: int) -> int:
        return quick if self.quick else full
