"""Signed checkpoints of the audit log.

The hash chain shows that no entry before the head was changed, removed or reordered, but someone
with write access to the database could drop the newest entries, or rewrite the whole chain from
some entry on. A checkpoint pins the head: `tigapilar audit checkpoint --key KEY` signs (head id,
head hash, time, the previous checkpoint's digest) with an Ed25519 key that lives away from the
database (with the KPU secretary, say) and appends one JSON line to a checkpoints file.
`tigapilar audit verify --checkpoints FILE --public-key PUB` then checks the file and the log:

- the file: at least one checkpoint, every line complete (a file cut short fails), each checkpoint
  chained to the one before it (`prev` is the digest of the previous checkpoint's signed bytes, so
  a line removed, reordered or taken from another file fails), their ids and times never going back;
- every signature, with the public key given;
- the log: it still holds each checkpointed entry with that hash (a truncated or rewritten log
  fails at the first checkpoint it contradicts).

Formats: 1, the first checkpoints (not chained), accepted only before the first chained one; 2,
chained, of the one chain the log had (now the system chain's beginning); 3, chained, of the log
split into one chain per warehouse plus the system chain: it signs the Merkle root over every
chain's head (sync.audit.merkle_root) and how many chains it covers. The heads themselves are kept
in the database (`audit_roots`, written by `audit checkpoint`): `audit verify` recomputes the signed
root from them and checks that the log still holds every one, and `audit prove` turns them into an
inclusion proof for one warehouse's chain head (a berita acara's) that anyone can check offline
with the public key (`check_proof`).

Needs the `cryptography` package (pip install 'tigapilar[signing]').
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from sync.audit import (
    GENESIS,
    SYSTEM_CHAIN,
    PathStep,
    canonical,
    chain,
    inclusion_path,
    merkle_root,
    root_from_path,
)

DOMAIN = b"tigapilar-audit-checkpoint-v1\n"
"""Signed bytes start with this, so a checkpoint signature can never be replayed as anything else."""
DOMAIN_V2 = b"tigapilar-audit-checkpoint-v2\n"
DOMAIN_V3 = b"tigapilar-audit-checkpoint-v3\n"
FORMAT = 3
FORMATS = (1, 2, 3)


class CheckpointError(Exception):
    """A key or checkpoint file that cannot be used."""


class Checkpoint(msgspec.Struct, kw_only=True, frozen=True, omit_defaults=True):
    format: int = 1
    id: int = 0
    """Formats 1 and 2: the checkpointed entry of the (then single) chain."""
    hash: str = ""
    root: str = ""
    """Format 3: the Merkle root over every chain's head."""
    chains: int = 0
    """Format 3: how many chains the root covers."""
    at: str
    prev: str = ""
    """Digest of the previous checkpoint's signed bytes (GENESIS for the first); format 2."""
    key: str
    """Public key (hex) that made the signature, for reference; verification uses the key given."""
    signature: str

    def message(self) -> bytes:
        """The bytes the signature covers."""
        if self.format >= 3:
            return DOMAIN_V3 + canonical(
                {
                    "format": self.format,
                    "root": self.root,
                    "chains": self.chains,
                    "at": self.at,
                    "prev": self.prev,
                }
            )
        return _message(self.format, self.id, self.hash, self.at, self.prev)

    def digest(self) -> str:
        """What the next checkpoint's `prev` holds."""
        return hashlib.sha256(self.message()).hexdigest()


def _ed25519() -> Any:
    try:
        from cryptography.hazmat.primitives.asymmetric import ed25519
    except ImportError as exc:  # optional dependency
        raise CheckpointError(
            "signed checkpoints need 'cryptography': pip install 'tigapilar[signing]'"
        ) from exc
    return ed25519


def _message(format: int, entry_id: int, entry_hash: str, at: str, prev: str) -> bytes:
    if format == 1:
        return DOMAIN + canonical({"id": entry_id, "hash": entry_hash, "at": at})
    return DOMAIN_V2 + canonical(
        {"format": format, "id": entry_id, "hash": entry_hash, "at": at, "prev": prev}
    )


def generate_key(path: Path) -> str:
    """Write a new private key (raw 32 bytes, hex, mode 0600) to `path` and its public key to
    `path.pub`; returns the public key (hex). Never overwrites a key."""
    ed25519 = _ed25519()
    from cryptography.hazmat.primitives import serialization

    public_path = Path(f"{path}.pub")
    if path.exists() or public_path.exists():
        raise CheckpointError(f"{path} (or {public_path}) already exists: not overwriting a key")
    key = ed25519.Ed25519PrivateKey.generate()
    raw = key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(raw.hex() + "\n")
    public_path.write_text(public + "\n")
    return str(public)


def _private_key(path: Path) -> Any:
    ed25519 = _ed25519()
    try:
        return ed25519.Ed25519PrivateKey.from_private_bytes(bytes.fromhex(path.read_text().strip()))
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"cannot read the private key {path}: {exc}") from exc


def public_key(value: str) -> Any:
    """A public key from its hex or from a file holding it (the .pub written by generate_key)."""
    ed25519 = _ed25519()
    text = value.strip()
    if not all(c in "0123456789abcdefABCDEF" for c in text) or len(text) != 64:
        try:
            text = Path(value).read_text().strip()
        except OSError as exc:
            raise CheckpointError(f"not a public key (64 hex digits) nor a readable file: {value}") from exc
    try:
        return ed25519.Ed25519PublicKey.from_public_bytes(bytes.fromhex(text))
    except ValueError as exc:
        raise CheckpointError(f"not an Ed25519 public key: {value}") from exc


def sign(key_path: Path, heads: dict[str, tuple[int, str]], at: str, prev: str = GENESIS) -> Checkpoint:
    """A checkpoint of the root over these chain heads (chain -> (id, hash)), chained after the
    checkpoint whose digest is `prev`."""
    from cryptography.hazmat.primitives import serialization

    key = _private_key(key_path)
    public = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()
    unsigned = Checkpoint(
        format=FORMAT, root=merkle_root(heads), chains=len(heads), at=at, prev=prev, key=public, signature=""
    )
    return msgspec.structs.replace(unsigned, signature=key.sign(unsigned.message()).hex())


def append(path: Path, checkpoint: Checkpoint) -> None:
    with open(path, "ab") as f:
        f.write(msgspec.json.encode(checkpoint) + b"\n")
        f.flush()
        os.fsync(f.fileno())


def load(path: Path, *, allow_empty: bool = False) -> list[Checkpoint]:
    """The file's checkpoints, checked as a file: complete lines, chained, in order (see the module
    docstring). CheckpointError otherwise; an empty file is one unless `allow_empty` (the first
    `audit checkpoint` writes to a file that does not exist yet)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        if allow_empty:
            return []
        raise CheckpointError(f"checkpoints file {path} not found") from None
    except OSError as exc:
        raise CheckpointError(f"cannot read checkpoints {path}: {exc}") from exc
    if not data.strip():
        if allow_empty:
            return []
        raise CheckpointError(f"checkpoints file {path} holds no checkpoint")
    if not data.endswith(b"\n"):
        raise CheckpointError(f"checkpoints file {path} is truncated: its last line is incomplete")
    marks: list[Checkpoint] = []
    for number, line in enumerate(data.splitlines(), 1):
        try:
            marks.append(msgspec.json.decode(line, type=Checkpoint))
        except msgspec.DecodeError as exc:
            raise CheckpointError(f"malformed checkpoints file {path}, line {number}: {exc}") from exc
    problem = chain_problem(marks)
    if problem is not None:
        raise CheckpointError(f"checkpoints file {path}: {problem}")
    return marks


def chain_problem(marks: list[Checkpoint]) -> str | None:
    """Why these checkpoints are not one chain in order, or None."""
    prev, chained = GENESIS, False
    for n, mark in enumerate(marks, 1):
        if mark.format not in FORMATS:
            return f"checkpoint {n} is of unknown format {mark.format}"
        if mark.format == 1:
            if chained:
                return f"checkpoint {n} (of entry {mark.id}) is not chained, after chained ones"
        elif mark.prev != prev:
            return f"checkpoint {n} (of entry {mark.id}) is not chained to the one before it"
        else:
            chained = True
        before = marks[n - 2] if n > 1 else None
        if before is not None and before.format >= 3 and mark.format < 3:
            return f"checkpoint {n} is of format {mark.format}, after a checkpoint of format 3"
        if before is not None and (mark.at < before.at or (mark.format < 3 and mark.id < before.id)):
            return f"checkpoint {n} (of entry {mark.id}) goes back from the one before it"
        prev = mark.digest()
    return None


@dataclass
class CheckpointProblem:
    checkpoint: Checkpoint
    reason: str


def verify_signature(checkpoint: Checkpoint, key: Any) -> bool:
    from cryptography.exceptions import InvalidSignature

    try:
        key.verify(bytes.fromhex(checkpoint.signature), checkpoint.message())
    except (InvalidSignature, ValueError):
        return False
    return True


def wanted(
    checkpoints: list[Checkpoint], roots: dict[str, dict[str, tuple[int, str]]]
) -> set[tuple[str, int]]:
    """Every (chain, entry id) the checkpoints name: what `check` needs the log's hashes of."""
    want = {(SYSTEM_CHAIN, m.id) for m in checkpoints if m.format < 3}
    for mark in checkpoints:
        want.update((chain, head[0]) for chain, head in roots.get(mark.root, {}).items())
    return want


def check(
    checkpoints: list[Checkpoint],
    key: Any,
    hashes: dict[tuple[str, int], str],
    roots: dict[str, dict[str, tuple[int, str]]] | None = None,
) -> CheckpointProblem | None:
    """The first checkpoint that is not signed by `key` or that the log contradicts (`hashes`: the
    verified log's hash of each (chain, id) of `wanted()` it holds; `roots`: the heads kept for each
    format-3 root), or None."""
    for checkpoint in checkpoints:
        if not verify_signature(checkpoint, key):
            return CheckpointProblem(checkpoint, "signature does not verify with the given public key")
        if checkpoint.format >= 3:
            problem = _root_problem(checkpoint, (roots or {}).get(checkpoint.root), hashes)
            if problem is not None:
                return CheckpointProblem(checkpoint, problem)
            continue
        found = hashes.get((SYSTEM_CHAIN, checkpoint.id))
        if found is None:
            return CheckpointProblem(checkpoint, f"the log no longer has entry {checkpoint.id} (truncated?)")
        if found != checkpoint.hash:
            return CheckpointProblem(checkpoint, f"entry {checkpoint.id} has another hash now (rewritten?)")
    return None


def _root_problem(
    checkpoint: Checkpoint, heads: dict[str, tuple[int, str]] | None, hashes: dict[tuple[str, int], str]
) -> str | None:
    if heads is None:
        return f"the database keeps no heads for root {checkpoint.root} (audit_roots row removed?)"
    if len(heads) != checkpoint.chains or merkle_root(heads) != checkpoint.root:
        return "the heads kept for it do not make the signed root (rewritten?)"
    for name, (entry_id, entry_hash) in sorted(heads.items()):
        found = hashes.get((name, entry_id))
        label = "the system chain" if name == SYSTEM_CHAIN else f"chain {name}"
        if found is None:
            return f"the log no longer has entry {entry_id} of {label} (truncated?)"
        if found != entry_hash:
            return f"entry {entry_id} of {label} has another hash now (rewritten?)"
    return None


# ----------------------------------------------------------------- inclusion proofs


class Link(msgspec.Struct, array_like=True, frozen=True):
    """One entry of a chain, as a proof carries it: its id and hashed content (base64)."""

    id: int
    content: bytes


class Proof(msgspec.Struct, kw_only=True, frozen=True):
    """That an entry of one warehouse's chain (a berita acara's head) is under a signed root: the
    entries that lead from it to the head the checkpoint covers, then the Merkle path from that
    head's leaf to the root."""

    format: int = 1
    chain: str
    entry_id: int
    entry_hash: str
    links: list[Link]
    """Entries entry_id + 1 ... head_id of the chain (empty when the entry is the head)."""
    head_id: int
    head_hash: str
    path: list[PathStep]
    checkpoint: Checkpoint


def prove(
    checkpoint: Checkpoint,
    heads: dict[str, tuple[int, str]],
    name: str,
    entry: tuple[int, str],
    links: list[Link],
) -> Proof:
    head_id, head_hash = heads[name]
    return Proof(
        chain=name,
        entry_id=entry[0],
        entry_hash=entry[1],
        links=links,
        head_id=head_id,
        head_hash=head_hash,
        path=inclusion_path(heads, name),
        checkpoint=checkpoint,
    )


def check_proof(proof: Proof, key: Any) -> str | None:
    """Why the proof fails, or None: the checkpoint is signed by `key`, the links chain the entry's
    hash to the head's, and the path leads from the head's leaf to the signed root."""
    if proof.checkpoint.format < 3:
        return "the checkpoint is not of a root over chains (format 3)"
    if not verify_signature(proof.checkpoint, key):
        return "the checkpoint's signature does not verify with the given public key"
    running, at = proof.entry_hash, proof.entry_id
    for link in proof.links:
        if link.id != at + 1:
            return f"link {link.id} does not follow entry {at}"
        running, at = chain(running, link.content), link.id
    if (at, running) != (proof.head_id, proof.head_hash):
        return "the links do not lead from the entry to the checkpointed head"
    if root_from_path(proof.chain, proof.head_id, proof.head_hash, proof.path) != proof.checkpoint.root:
        return "the path does not lead from the head to the signed root"
    return None
