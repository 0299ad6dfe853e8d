"""Schema versions of queued mutations.

A phone may have been offline across an upgrade, so each queued mutation keeps the schema version
it was made under. The server converts mutations from the previous version and refuses anything
older with 426 "upgrade required": a converted edit is safe, a guessed one is not.

Schema history:
1 → 2  incident severity became a word (rendah/sedang/tinggi/kritis) instead of a number 1..4.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from sync.errors import UnknownSchema, UpgradeRequired
from sync.messages import SCHEMA_VERSION, Mutation

MIN_SCHEMA_VERSION = SCHEMA_VERSION - 1

_SEVERITY_V1 = {1: "rendah", 2: "sedang", 3: "tinggi", 4: "kritis"}


def _v1_to_v2(m: Mutation) -> Mutation:
    fields: dict[str, Any] = dict(m.fields)
    severity = fields.get("severity")
    if m.collection == "incidents" and isinstance(severity, int) and not isinstance(severity, bool):
        fields["severity"] = _SEVERITY_V1.get(severity, severity)
    return msgspec.structs.replace(m, fields=fields, schema_version=2)


UPGRADES: dict[int, Callable[[Mutation], Mutation]] = {1: _v1_to_v2}
"""Converter from version N to N + 1, keyed by N."""


def check_schema(version: int) -> None:
    if version > SCHEMA_VERSION:
        raise UnknownSchema(
            f"schema {version} is newer than this server's {SCHEMA_VERSION}", supported=SCHEMA_VERSION
        )
    if version < MIN_SCHEMA_VERSION:
        raise UpgradeRequired(
            f"schema {version} is too old; update the app (oldest accepted: {MIN_SCHEMA_VERSION})",
            min_schema_version=MIN_SCHEMA_VERSION,
        )


def upgrade(m: Mutation) -> Mutation:
    check_schema(m.schema_version)
    while m.schema_version < SCHEMA_VERSION:
        m = UPGRADES[m.schema_version](m)
    return m
