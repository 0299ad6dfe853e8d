"""Numbered forward migrations: migrations/NNNN_name.sql, applied in number order, each in its own
transaction, recorded in `schema_version`. Applying them again is a no-op.

Each migration is applied unless `schema_version` records its own number, not only when it is
above the highest recorded: numbers are handed out ahead (one per change being written) and
the changes land in any order, so a database may get 0008 before 0007 exists, and 0007 when
it arrives. A gap in the numbers is therefore allowed; two files with one number are not."""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

SCHEMA_VERSION_TABLE = """
CREATE TABLE IF NOT EXISTS schema_version (
    version     INTEGER PRIMARY KEY,
    name        TEXT NOT NULL,
    applied_at  TEXT NOT NULL
)"""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    statements: list[str]


def split_statements(script: str) -> list[str]:
    """Split a SQL script into statements (trigger bodies included) with sqlite3.complete_statement.

    Statements are executed one by one inside our own transaction: sqlite3's executescript()
    would commit a pending transaction first.
    """
    statements: list[str] = []
    buffer = ""
    for line in script.splitlines(keepends=True):
        if not buffer and (not line.strip() or line.lstrip().startswith("--")):
            continue
        buffer += line
        if sqlite3.complete_statement(buffer):
            statements.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        raise ValueError(f"incomplete SQL statement at the end of the script: {buffer.strip()[:80]!r}")
    return statements


def load(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    migrations = []
    for path in sorted(directory.glob("*.sql")):
        match = _NAME.match(path.name)
        if not match:
            raise ValueError(f"badly named migration file: {path.name} (expected NNNN_name.sql)")
        migrations.append(
            Migration(
                version=int(match.group(1)),
                name=path.stem,
                statements=split_statements(path.read_text(encoding="utf-8")),
            )
        )
    versions = [m.version for m in migrations]
    if len(set(versions)) != len(versions) or 0 in versions:
        raise ValueError(f"migration numbers must be distinct and start at 1, found {versions}")
    return migrations
