"""The Structs of sync/ops.py and the types of its table, in a module of their own: ops.py is
compiled with mypyc (setup.py), and a mypyc-built class drops msgspec's class options
(kw_only, frozen), so the Structs stay Python here."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any

import msgspec

from sync.domain import Template
from sync.messages import Mutation
from sync.store import Record

if TYPE_CHECKING:
    from sync.ops import OpContext


class Applied(msgspec.Struct, kw_only=True):
    """What an operation did: the record as it now stands, and the conflicts it kept."""

    record: Record | None
    conflicts: list[str] = []
    warehouse_id: str | None = None
    """The warehouse of an operation that names no record (a week's copy), for its outcome."""


class ConflictSide(msgspec.Struct, kw_only=True, frozen=True):
    """One value of a conflict and who wrote it (with the stamp of that write)."""

    value: Any
    by: str
    hlc: str


Operation = Callable[["OpContext", Record | None], Awaitable[Applied]]
"""An operation: the context and the record the mutation names (None when there is none yet)."""

ReadAhead = Callable[[Mutation, Record | None, Mutation | None, Template | None], Iterable[str]]
"""Ids of further records an operation will read, besides its own: given the mutation, the stored
record (if any), the same batch's create of it (if any) and its template (inspections)."""


class OpSpec(msgspec.Struct, frozen=True):
    """One row of the table: the operation, and what else it reads before the batch applies."""

    apply: Operation
    reads: ReadAhead | None = None
    names_no_record: bool = False
    """The mutation's id names no record (a week's copy): applied with None, never not_found."""
