"""Signed checkpoints of the audit log.

The hash chain shows that no entry before the head was changed, removed or reordered, but someone
with write access to the database could drop the newest entries, or rewrite the whole chain from
some entry on. A checkpoint pins the head: `tigapilar audit checkpoint --key KEY` signs (head id,
head hash, time) with an Ed25519 key that lives away from the database (with the KPU secretary, say)
and appends one JSON line to a checkpoints file. `tigapilar audit verify --checkpoints FILE
--public-key PUB` then checks every line's signature and that the log still holds that entry with
that hash: a truncated or rewritten log fails at the first checkpoint it contradicts.

Needs the `cryptography` package (pip install 'tigapilar[signing]').
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from sync.audit import canonical

DOMAIN = b"tigapilar-audit-checkpoint-v1\n"
"""Signed bytes start with this, so a checkpoint signature can never be replayed as anything else."""


class CheckpointError(Exception):
    """A key or checkpoint file that cannot be used."""


class Checkpoint(msgspec.Struct, kw_only=True, frozen=True):
    id: int
    hash: str
    at: str
    key: str
    """Public key (hex) that made the signature, for reference; verification uses the key given."""
    signature: str


def _ed25519() -> Any:
    try:
        from cryptography.hazmat.primitives.asymmetric import ed25519
    except ImportError as exc:  # optional dependency
        raise CheckpointError(
            "signed checkpoints need 'cryptography': pip install 'tigapilar[signing]'"
        ) from exc
    return ed25519


def _message(entry_id: int, entry_hash: str, at: str) -> bytes:
    return DOMAIN + canonical({"id": entry_id, "hash": entry_hash, "at": at})


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


def sign(key_path: Path, entry_id: int, entry_hash: str, at: str) -> Checkpoint:
    from cryptography.hazmat.primitives import serialization

    key = _private_key(key_path)
    public = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()
    signature = key.sign(_message(entry_id, entry_hash, at)).hex()
    return Checkpoint(id=entry_id, hash=entry_hash, at=at, key=public, signature=signature)


def append(path: Path, checkpoint: Checkpoint) -> None:
    with open(path, "ab") as f:
        f.write(msgspec.json.encode(checkpoint) + b"\n")
        f.flush()
        os.fsync(f.fileno())


def load(path: Path) -> list[Checkpoint]:
    try:
        lines = path.read_bytes().splitlines()
    except OSError as exc:
        raise CheckpointError(f"cannot read checkpoints {path}: {exc}") from exc
    try:
        return [msgspec.json.decode(line, type=Checkpoint) for line in lines if line.strip()]
    except msgspec.DecodeError as exc:
        raise CheckpointError(f"malformed checkpoints file {path}: {exc}") from exc


@dataclass
class CheckpointProblem:
    checkpoint: Checkpoint
    reason: str


def check(checkpoints: list[Checkpoint], key: Any, hashes: dict[int, str]) -> CheckpointProblem | None:
    """The first checkpoint that is not signed by `key` or that the log contradicts (`hashes`: the
    verified log's hash of each checkpointed id it holds), or None."""
    from cryptography.exceptions import InvalidSignature

    for checkpoint in checkpoints:
        try:
            key.verify(
                bytes.fromhex(checkpoint.signature), _message(checkpoint.id, checkpoint.hash, checkpoint.at)
            )
        except (InvalidSignature, ValueError):
            return CheckpointProblem(checkpoint, "signature does not verify with the given public key")
        found = hashes.get(checkpoint.id)
        if found is None:
            return CheckpointProblem(checkpoint, f"the log no longer has entry {checkpoint.id} (truncated?)")
        if found != checkpoint.hash:
            return CheckpointProblem(checkpoint, f"entry {checkpoint.id} has another hash now (rewritten?)")
    return None
