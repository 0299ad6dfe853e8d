"""Hash chain of the audit log.

Entry n stores its content (canonical JSON bytes) and hash_n = SHA-256(hash_{n-1} + "\\n" +
content_n), hash_0 = GENESIS: changing, removing, inserting or reordering an entry breaks every hash
after it. What the content holds is versioned by a `format` inside it, so entries written before a
new format still verify as they were written:

    format 1   the entry's fields (at, kind, actor_id, actor_agency, device, warehouse_id, subject,
               detail). No id: such entries can be renumbered unnoticed.
    format 2   the same fields plus "format": 2 and "id": the entry's number. Its place in the log is
               hashed, so a renumbered log breaks the chain, and a published head (id, hash) names
               exactly one entry. Written only with at >= the previous entry's at.
    format 3   format 2 plus "chain": the chain the entry belongs to. The log is one chain per
               warehouse (its id) plus the system chain ("": logins, admin actions, and every entry
               written before chains were split), so pushes to different warehouses never wait for
               one another's chain. An entry cannot be moved to another chain unnoticed.

Chains are tied together by a Merkle root over their heads (`merkle_root`), which a signed
checkpoint pins (server/checkpoints.py); `inclusion_path` and `root_from_path` prove that one
chain's head is under a published root.

`Walk` checks one chain entry by entry, in id order, by these rules: each link and hash; no format
older than the one before it; a format-2 or 3 entry's id is the one hashed and one more than the
previous entry's; a format-3 entry names the chain it is in; a format-2 or 3 entry's time is not
before the previous entry's (format-1 entries whose time went back are counted, not refused: two
writers could interleave). Backends append with `seal()`, which numbers the entry and moves its
time up to the head's if the clock went back.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any, NamedTuple

import msgspec

from sync.store import AuditEntry

GENESIS = "0" * 64
FORMAT = 3
"""The format new entries are written in."""
FORMATS = (1, 2, 3)
SYSTEM_CHAIN = ""
"""The chain of entries about no warehouse (and of every entry written before chains were split)."""


def chain_of(entry: AuditEntry) -> str:
    """The chain an entry is appended to: its warehouse's, else the system chain."""
    return entry.warehouse_id or SYSTEM_CHAIN


def canonical(content: Any) -> bytes:
    """Canonical JSON: sorted keys, no whitespace. Stable across Python and backends."""
    return msgspec.json.encode(content, order="sorted")


def chain(prev_hash: str, content_bytes: bytes) -> str:
    return hashlib.sha256(prev_hash.encode("ascii") + b"\n" + content_bytes).hexdigest()


def content_of(entry_id: int, entry: AuditEntry, format: int = FORMAT) -> bytes:
    """The hashed bytes of `entry` as entry `entry_id` of its chain, in `format`."""
    if format == 1:
        return canonical(entry)
    fields = msgspec.structs.asdict(entry)
    fields["format"], fields["id"] = format, entry_id
    if format >= 3:
        fields["chain"] = chain_of(entry)
    return canonical(fields)


class Head(NamedTuple):
    """The newest entry of a log: id, hash, time (id 0 and GENESIS for an empty log)."""

    id: int = 0
    hash: str = GENESIS
    at: str = ""


class Sealed(NamedTuple):
    entry: AuditEntry
    """As stored: its time moved up to the previous entry's if the clock went back."""
    content: bytes
    head: Head
    """This entry as the log's new head."""


def seal(head: Head, entry: AuditEntry) -> Sealed:
    """The entry that follows `head`, numbered, timed and hashed in the current format."""
    if entry.at < head.at:  # the clock went back, or another writer got the lock first
        entry = msgspec.structs.replace(entry, at=head.at)
    entry_id = head.id + 1
    content = content_of(entry_id, entry)
    return Sealed(entry, content, Head(entry_id, chain(head.hash, content), entry.at))


class _Stamp(msgspec.Struct):
    """What the chain rules read of a content."""

    at: str = ""
    format: int = 1
    id: int = 0
    chain: str = SYSTEM_CHAIN


_stamp = msgspec.json.Decoder(_Stamp).decode


class Walk:
    """The log's rules, applied entry by entry in id order (see the module docstring)."""

    def __init__(self, chain: str = SYSTEM_CHAIN) -> None:
        self.chain = chain
        self.head = Head()
        self.format = 1
        self.count = 0
        self.legacy_time_steps_back = 0
        """Format-1 entries whose time is before the previous entry's (written before times were
        kept in order: reported, not refused)."""

    def step(self, entry_id: int, content: bytes, prev_hash: str, entry_hash: str) -> str | None:
        """Why this entry breaks the log, or None (and it becomes the head)."""
        if prev_hash != self.head.hash or chain(prev_hash, content) != entry_hash:
            return "hash chain broken"
        try:
            stamp = _stamp(content)
        except msgspec.DecodeError:
            return "content is not an audit entry"
        if stamp.format not in FORMATS:
            return f"unknown hash format {stamp.format}"
        if stamp.format < self.format:
            return f"hash format {stamp.format} after format {self.format}"
        if stamp.format >= 2:
            if stamp.id != entry_id or entry_id != self.head.id + 1:
                return f"entry {entry_id} is hashed as entry {stamp.id}, after entry {self.head.id}"
            if stamp.at < self.head.at:
                return f"time goes backwards ({stamp.at} after {self.head.at})"
        if stamp.format >= 3 and stamp.chain != self.chain:
            return f"entry of chain {stamp.chain!r} found in chain {self.chain!r}"
        elif stamp.at < self.head.at:
            self.legacy_time_steps_back += 1
        self.format = stamp.format
        self.count += 1
        self.head = Head(entry_id, entry_hash, stamp.at)
        return None


def verify(entries: Iterable[tuple[int, bytes, str, str]], chain: str = SYSTEM_CHAIN) -> int | None:
    """Walk (id, content_bytes, prev_hash, hash) of one chain in id order; return the id of the
    first entry that breaks the log's rules, or None when the whole chain holds."""
    walk = Walk(chain)
    for entry_id, content_bytes, prev_hash, entry_hash in entries:
        if walk.step(entry_id, content_bytes, prev_hash, entry_hash) is not None:
            return entry_id
    return None


# ----------------------------------------------------------------- the root over all chains

LEAF = b"\x00"
NODE = b"\x01"
"""Domain bytes of a leaf and of an inner node (RFC 6962), so a node can never pass as a leaf."""


def leaf_hash(chain: str, head_id: int, head_hash: str) -> str:
    """The Merkle leaf of one chain's head."""
    return hashlib.sha256(LEAF + canonical({"chain": chain, "id": head_id, "hash": head_hash})).hexdigest()


def _node(left: str, right: str) -> str:
    return hashlib.sha256(NODE + bytes.fromhex(left) + bytes.fromhex(right)).hexdigest()


def _levels(leaves: list[str]) -> list[list[str]]:
    levels = [leaves]
    while len(levels[-1]) > 1:
        level = levels[-1]
        # An odd node out is carried up unchanged (it is paired at a higher level).
        levels.append([_node(level[i], level[i + 1]) if i + 1 < len(level) else level[i]
                       for i in range(0, len(level), 2)])  # fmt: skip
    return levels


def merkle_root(heads: dict[str, tuple[int, str]]) -> str:
    """The root over every chain's head (chain -> (id, hash)), leaves in chain order; GENESIS for
    a log without entries."""
    if not heads:
        return GENESIS
    return _levels([leaf_hash(c, *heads[c]) for c in sorted(heads)])[-1][0]


class PathStep(msgspec.Struct, array_like=True, frozen=True):
    side: str
    """"L" when the sibling is on the left of the running hash, "R" when on its right."""
    hash: str


def inclusion_path(heads: dict[str, tuple[int, str]], chain: str) -> list[PathStep]:
    """The siblings that lead from `chain`'s leaf to merkle_root(heads)."""
    chains = sorted(heads)
    index = chains.index(chain)
    path: list[PathStep] = []
    for level in _levels([leaf_hash(c, *heads[c]) for c in chains])[:-1]:
        sibling = index ^ 1
        if sibling < len(level):
            path.append(PathStep("L" if sibling < index else "R", level[sibling]))
        index //= 2
    return path


def root_from_path(chain: str, head_id: int, head_hash: str, path: Iterable[PathStep]) -> str:
    """The root that `path` leads to from this chain head's leaf."""
    running = leaf_hash(chain, head_id, head_hash)
    for step in path:
        running = _node(step.hash, running) if step.side == "L" else _node(running, step.hash)
    return running
