"""Test worlds for the benchmarks: warehouses, users with device tokens, phones that make
mutations, and bulk record writes through the storage's own write()/commit(BatchEffects).

Everything is deterministic (seeded), so the engine-only, raw-SQLite and HTTP runs of a section
push exactly the same mutations onto copies of the same starting database.
"""

from __future__ import annotations

import functools
import random
import shutil
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec

from server.auth import Passwords, new_token
from server.models import Device, User, UserInput, Warehouse, iso
from server.seed import install_reference_data
from server.storage.base import Storage
from sync import digest as digests_
from sync.clock import HybridClock, format_hlc
from sync.domain import Actor, Role
from sync.messages import PROTOCOL_VERSION, SCHEMA_VERSION, Digest, Mutation, PullRequest, PushRequest
from sync.store import BatchEffects, Record

CHEAP_PASSWORDS = Passwords(time_cost=1, memory_kib=8, parallelism=1)
EPOCH_MS = 1_764_000_000_000
"""Fixed clock origin (late 2025) so stamps and ids are reproducible."""

CATEGORIES = ("segel_rusak", "kerusakan_logistik", "akses_tidak_sah", "kebocoran_banjir", "cctv_mati")
SEVERITIES = ("rendah", "sedang", "tinggi", "kritis")
PLACES = ("pintu belakang", "rak C3", "gerbang utara", "lantai 4 ruang arsip", "pos jaga", "tangga darurat")
SENTENCES = (
    "Segel pada kotak suara nomor {n} ditemukan sobek saat pengecekan pagi.",
    "Atap bocor di atas rak {n}, beberapa kardus surat suara basah di bagian bawah.",
    "Orang tidak dikenal mencoba masuk lewat gerbang samping sekitar pukul {n}.00, sudah dicatat.",
    "CCTV kamera {n} mati sejak tadi malam, teknisi kecamatan sudah dihubungi.",
    "Jumlah bilik suara di rak {n} kurang dua dari daftar serah terima.",
)

Encoder = msgspec.json.Encoder()


def uuid7(rng: random.Random, ms: int) -> str:
    """A UUIDv7-shaped id (time-ordered like the phones' ids), from a seeded generator."""
    rand = rng.getrandbits(74)
    value = (
        (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | (rand >> 62) << 64 | 0b10 << 62 | (rand & ((1 << 62) - 1))
    )
    return str(uuid.UUID(int=value))


def incident_fields(rng: random.Random, n: int) -> dict[str, Any]:
    return {
        "category": rng.choice(CATEGORIES),
        "severity": rng.choice(SEVERITIES),
        "title": f"Temuan {n} di {rng.choice(PLACES)}",
        "description": rng.choice(SENTENCES).format(n=rng.randint(1, 99)),
        "location": rng.choice(PLACES),
        "occurred_at": iso(datetime.fromtimestamp(EPOCH_MS / 1000 + n, UTC)),
    }


def patch_fields(rng: random.Random, n: int) -> dict[str, Any]:
    return {
        "action_taken": f"Dilaporkan ke PPK, tindak lanjut {n}",
        "severity": rng.choice(SEVERITIES),
        "notes": [{"id": f"n-{n}", "text": rng.choice(SENTENCES).format(n=n % 97)}],
    }


@dataclass
class Phone:
    """A device of one user: its token, client id, clock and next mutation number."""

    user: User
    token: str
    client_id: str
    warehouses: list[str]
    seq: int = 0
    clock: HybridClock = field(init=False)
    _ms: int = EPOCH_MS

    def __post_init__(self) -> None:
        self.clock = HybridClock(self.client_id, wall=self._wall)

    def _wall(self) -> int:
        self._ms += 1
        return self._ms

    @property
    def actor(self) -> Actor:
        return Actor(
            user_id=self.user.id,
            username=self.user.username,
            role=self.user.role,
            agency=self.user.agency,
            warehouses=frozenset(self.warehouses),
            client_id=self.client_id,
        )

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}

    def mutation(self, op: str, rid: str, collection: str = "incidents", **kw: Any) -> Mutation:
        self.seq += 1
        return Mutation(seq=self.seq, id=rid, collection=collection, op=op, hlc=self.clock.now(), **kw)  # type: ignore[arg-type]

    def push(self, mutations: Sequence[Mutation]) -> PushRequest:
        return PushRequest(
            protocol=PROTOCOL_VERSION,
            client_id=self.client_id,
            schema_version=SCHEMA_VERSION,
            mutations=list(mutations),
        )

    def pull(
        self, cursors: dict[str, int] | None = None, *, limit: int = 1000, acked: int = 0
    ) -> PullRequest:
        return PullRequest(
            protocol=PROTOCOL_VERSION,
            client_id=self.client_id,
            cursors=cursors or {},
            limit=limit,
            acked_seq=acked,
        )


async def make_world(
    storage: Storage,
    *,
    warehouses: int,
    phones_per_warehouse: int,
    agencies: Sequence[str] = ("POLRI", "TNI", "SATPOL_PP", "KPU"),
    role: Role = "officer",
    prefix: str = "b",
    offline_for: timedelta = timedelta(0),
) -> tuple[list[str], list[Phone]]:
    """Warehouses gd-<prefix>-N and phones assigned to one warehouse each, with live tokens; each
    device was last seen `offline_for` ago (the server then records its return on the first call)."""
    await install_reference_data(storage)
    wids = []
    for w in range(warehouses):
        wid = f"gd-{prefix}-{w}"
        await storage.put_warehouse(
            Warehouse(
                id=wid,
                code=f"gudang_{prefix}_{w}",
                name=f"Gudang Logistik KPU Bench {w}",
                kota="Jakarta Pusat",
            )
        )
        wids.append(wid)
    phones = [
        await person(storage, f"{prefix}{i}", agencies[i % len(agencies)], role, [wids[i % warehouses]],
                     client_id=f"dev-{prefix}-{i:05d}", offline_for=offline_for)
        for i in range(warehouses * phones_per_warehouse)
    ]  # fmt: skip
    return wids, phones


async def person(
    storage: Storage,
    username: str,
    agency: str,
    role: Role,
    warehouses: list[str],
    *,
    client_id: str,
    offline_for: timedelta = timedelta(0),
) -> Phone:
    """A user assigned to `warehouses` with one device and a live token."""
    user = await storage.create_user(
        str(uuid.UUID(int=random.Random(f"user-{username}").getrandbits(128))),
        UserInput(
            username=username,
            full_name=f"Petugas Bench {username}",
            agency=agency,
            role=role,
            warehouses=warehouses,
        ),
        _password_hash(),
    )
    token, digest = new_token()
    now = datetime.now(UTC)
    await storage.create_device(
        Device(
            id=str(uuid.uuid4()),
            user_id=user.id,
            name=f"HP bench {username}",
            client_id=client_id,
            created_at=iso(now),
            last_seen=iso(now - offline_for),
            expires_at=iso(now + timedelta(days=30)),
        ),
        digest,
    )
    return Phone(user=user, token=token, client_id=client_id, warehouses=warehouses)


@functools.cache
def _password_hash() -> str:
    return CHEAP_PASSWORDS.hash_sync("kata-sandi-bench")


# ----------------------------------------------------------------------------- bulk records


_BULK_VARIANTS = 512


def _variants() -> list[dict[str, Any]]:
    rng = random.Random(99)
    return [incident_fields(rng, n) for n in range(_BULK_VARIANTS)]


_VARIANTS: list[dict[str, Any]] = []


def incident_record(rid: str, warehouse_id: str, revision: int, user_id: str, agency: str, n: int) -> Record:
    """A record exactly as the engine's create of an incident leaves it (fields from a pool of
    variants, so building a million of them is cheap)."""
    if not _VARIANTS:
        _VARIANTS.extend(_variants())
    fields = dict(_VARIANTS[n % _BULK_VARIANTS])
    fields["title"] = f"Temuan {n} di {fields['location']}"
    fields.update(status="open", reported_by=user_id, reporter_agency=agency)
    at = fields["occurred_at"]
    hlc = format_hlc(EPOCH_MS + n, 0, "dev-bulk")
    return Record(
        id=rid,
        collection="incidents",
        warehouse_id=warehouse_id,
        revision=revision,
        fields=fields,
        field_revs=dict.fromkeys(fields, revision),
        field_hlcs=dict.fromkeys(fields, hlc),
        field_by=dict.fromkeys(fields, user_id),
        created_by=user_id,
        updated_by=user_id,
        created_at=at,
        updated_at=at,
    )


def changed_again(record: Record, revision: int, n: int, rng: random.Random, *, delete: bool) -> Record:
    """The record after a later edit (a patch of three fields) or a delete (tombstone)."""
    hlc = format_hlc(EPOCH_MS + 10_000_000 + n, 0, "dev-bulk2")
    if delete:
        return msgspec.structs.replace(
            record, revision=revision, deleted=True, field_hlcs={**record.field_hlcs, "_deleted": hlc}
        )
    patch = patch_fields(rng, n)
    patch["notes"] = [
        {**patch["notes"][0], "by": record.created_by, "agency": "POLRI", "at": record.updated_at}
    ]
    return msgspec.structs.replace(
        record,
        revision=revision,
        fields={**record.fields, **patch},
        field_revs={**record.field_revs, **dict.fromkeys(patch, revision)},
        field_hlcs={**record.field_hlcs, **dict.fromkeys(patch, hlc)},
    )


async def bulk_write(
    storage: Storage,
    records: Iterable[Record],
    *,
    batch: int = 5000,
    previous: dict[str, int] | None = None,
) -> int:
    """Write records through write()/commit(BatchEffects) in big transactions, keeping digests right.

    Records must come with revision 0; each gets the next revision of its warehouse, in order.
    `previous` maps the id of a record being rewritten to its current revision (for the digest).
    Returns the highest revision handed out (in any warehouse).
    """
    previous = previous or {}
    it = iter(records)
    last = 0
    while True:
        chunk = [r for _, r in zip(range(batch), it, strict=False)]
        if not chunk:
            return last
        async with storage.write() as tx:
            touched = sorted({r.warehouse_id for r in chunk})
            revisions = await tx.revisions(touched)
            digests: dict[str, Digest] = await tx.digests(touched)
            for record in chunk:
                revision = revisions[record.warehouse_id] + 1
                revisions[record.warehouse_id] = revision
                _set_revision(record, revision)
                old = previous.pop(record.id, None)
                digests[record.warehouse_id] = digests_.update(
                    digests.get(record.warehouse_id, digests_.EMPTY),
                    removed=(record.id, old) if old is not None else None,
                    added=(record.id, revision),
                )
            await tx.commit(
                BatchEffects(
                    client_id="",
                    user_id="",
                    last_seq=0,
                    revisions=revisions,
                    records=chunk,
                    outcomes=[],
                    digests=digests,
                    audit=[],
                    attachment_refs=[],
                )
            )
            last = max(last, *revisions.values())


def _set_revision(record: Record, revision: int) -> None:
    old = record.revision
    record.revision = revision
    for name, rev in record.field_revs.items():
        if rev == old:
            record.field_revs[name] = revision


def incidents(
    warehouse_ids: Sequence[str],
    count: int,
    *,
    user_id: str,
    seed: int,
    start: int = 0,
    agency: str = "POLRI",
) -> Iterator[Record]:
    """`count` new incidents spread round-robin over the warehouses (revision 0: bulk_write sets it)."""
    rng = random.Random(seed)
    for n in range(start, start + count):
        rid = uuid7(rng, EPOCH_MS + n)
        yield incident_record(rid, warehouse_ids[n % len(warehouse_ids)], 0, user_id, agency, n)


def copy_db(source: Path, target: Path) -> Path:
    """Copy a closed database file (no -wal left after a clean close)."""
    for suffix in ("-wal", "-shm"):
        if Path(str(source) + suffix).exists():
            raise RuntimeError(f"{source} was not closed cleanly ({suffix} present)")
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    return target
