"""Field-level three-way merge.

For every field of a patch the engine knows three things: the client's base revision (what the
phone had seen), the server revision of the field's last change, and both values. A field that has
not changed on the server since the base applies cleanly; otherwise the field's policy decides
(see sync.collections), and whatever loses is returned so the engine can keep it in a conflict
record.
"""

from __future__ import annotations

import re
from typing import Any

from msgspec import Struct

from sync.collections import FieldSpec
from sync.errors import Rejection

MAX_LIST = 200
SHA256_PATTERN = r"^[0-9a-f]{64}$"
"""A photo reference: the lowercase hex SHA-256 of the file's bytes."""
_SHA256 = re.compile(SHA256_PATTERN)
MAX_ENTRY_KEYS = 20


class FieldMerge(Struct, frozen=True, kw_only=True):
    value: Any
    changed: bool
    """The stored value or its bookkeeping changes."""
    loser: Any = None
    """The value that lost, when there was a real conflict."""
    conflict: str | None = None
    """None, "open" (kept and flagged for review) or "auto" (decided by a rule, kept for history)."""
    server_lost: bool = False
    """For "auto" conflicts: True when the server's value lost (the client's is now current)."""


def validate(name: str, spec: FieldSpec, value: Any) -> None:
    """Refuse a value of the wrong shape before it can reach a record."""

    def bad(why: str) -> Rejection:
        return Rejection("invalid_value", f"{name}: {why}")

    kind = spec.type
    if spec.policy == "counter":
        if not (isinstance(value, dict) and set(value) == {"delta"} and _is_int(value["delta"])):
            raise bad('expected {"delta": <integer>}')
        if abs(value["delta"]) > spec.maximum:
            raise bad(f"a movement is at most {spec.maximum}")
        return
    if kind == "str":
        if not isinstance(value, str):
            raise bad("expected text")
        if len(value) > spec.max_len:
            raise bad(f"longer than {spec.max_len} characters")
        if spec.choices and value not in spec.choices:
            raise bad(f"must be one of {', '.join(spec.choices)}")
    elif kind == "int":
        if not _is_int(value):
            raise bad("expected a whole number")
        if not spec.minimum <= value <= spec.maximum:
            raise bad(f"must be between {spec.minimum} and {spec.maximum}")
    elif kind == "number":
        if not (_is_int(value) or isinstance(value, float)):
            raise bad("expected a number")
    elif kind == "bool":
        if not isinstance(value, bool):
            raise bad("expected true or false")
    elif kind == "str_list":
        if not isinstance(value, list) or len(value) > MAX_LIST:
            raise bad(f"expected a list of at most {MAX_LIST} texts")
        if not all(isinstance(v, str) and 0 < len(v) <= 200 for v in value):
            raise bad("expected a list of non-empty texts")
    elif kind == "photo_list":
        if not isinstance(value, list) or len(value) > MAX_LIST:
            raise bad(f"expected a list of at most {MAX_LIST} photo hashes")
        if not all(isinstance(v, str) and _SHA256.match(v) for v in value):
            raise bad("each photo is the 64 lowercase hex digits of its SHA-256")
    elif kind == "entries":
        if not isinstance(value, list) or len(value) > MAX_LIST:
            raise bad(f"expected a list of at most {MAX_LIST} entries")
        for entry in value:
            if not (
                isinstance(entry, dict)
                and isinstance(entry.get("id"), str)
                and 0 < len(entry["id"]) <= 64
                and len(entry) <= MAX_ENTRY_KEYS
                and all(isinstance(v, str | int | float | bool) or v is None for v in entry.values())
                and all(len(v) <= spec.max_len for v in entry.values() if isinstance(v, str))
            ):
                raise bad("each entry needs a text id and plain values")
    elif kind == "people_by_agency":
        if not (
            isinstance(value, dict)
            and len(value) <= MAX_ENTRY_KEYS
            and all(isinstance(v, list) and len(v) <= MAX_LIST for v in value.values())
            and all(isinstance(p, str) and 0 < len(p) <= 64 for v in value.values() for p in v)
        ):
            raise bad("expected {agency: [user id, ...]}")
    elif kind == "any":
        if not (value is None or isinstance(value, str | int | float | bool)):
            raise bad("expected a plain value")
        if isinstance(value, str) and len(value) > spec.max_len:
            raise bad(f"longer than {spec.max_len} characters")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def merge_field(
    spec: FieldSpec,
    *,
    current: Any,
    current_hlc: str,
    incoming: Any,
    hlc: str,
    concurrent: bool,
) -> FieldMerge:
    """Merge one incoming field value into the stored one.

    `concurrent` says the field changed on the server after the client's base revision, by
    somebody else. `incoming` must already be validated; counter values are {"delta": n} and
    append values are lists of new entries (already stamped by the engine).
    """
    policy = spec.policy
    if policy == "counter":
        value = (current or 0) + incoming["delta"]
        if not spec.minimum <= value <= spec.maximum:
            raise Rejection(
                "invalid_value",
                f"a movement of {incoming['delta']} takes the level from {current or 0} "
                f"outside {spec.minimum}..{spec.maximum}",
            )
        return FieldMerge(value=value, changed=incoming["delta"] != 0)
    if policy == "append":
        existing = list(current or [])
        seen = {entry["id"] for entry in existing}
        added = [entry for entry in incoming if entry["id"] not in seen]
        return FieldMerge(value=existing + added, changed=bool(added))

    if not concurrent or current == incoming:
        return FieldMerge(value=incoming, changed=current != incoming)
    if policy == "union":
        merged = list(current or [])
        merged += [item for item in incoming if item not in merged]
        return FieldMerge(value=merged, changed=merged != current)
    if policy == "lww":
        if hlc > current_hlc:
            return FieldMerge(value=incoming, changed=True, loser=current, conflict="auto", server_lost=True)
        return FieldMerge(value=current, changed=False, loser=incoming, conflict="auto")
    # "flag": the first value to reach the server stays until a supervisor decides.
    return FieldMerge(value=current, changed=False, loser=incoming, conflict="open")
