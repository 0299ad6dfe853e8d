"""Numbered forward migrations of the PostgreSQL backend: migrations/NNNN_name.sql, numbered and
named exactly like the SQLite ones (tests/server/test_postgres_storage.py checks that), each applied
in its own transaction and recorded in `schema_version`. Applying them again is a no-op. As on
SQLite, each is applied unless its own number is recorded (numbers may land out of order, with a
gap meanwhile: server/storage/sqlite/migrations.py says why).

Several server processes may start at once: each migration transaction first takes the migration
advisory lock and then re-reads the schema version, so exactly one process applies it.
"""

from __future__ import annotations

import re
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
    sql: str
    """The whole script: PostgreSQL runs several statements in one simple-protocol query."""


def load(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    migrations = []
    for path in sorted(directory.glob("*.sql")):
        match = _NAME.match(path.name)
        if not match:
            raise ValueError(f"badly named migration file: {path.name} (expected NNNN_name.sql)")
        migrations.append(
            Migration(version=int(match.group(1)), name=path.stem, sql=path.read_text(encoding="utf-8"))
        )
    versions = [m.version for m in migrations]
    if len(set(versions)) != len(versions) or 0 in versions:
        raise ValueError(f"migration numbers must be distinct and start at 1, found {versions}")
    return migrations
