"""Building blocks for the sync core's tests: actors, a small template, and a phone-like client."""

from __future__ import annotations

import itertools
from typing import Any

from sync.clock import HybridClock
from sync.domain import Actor, Template, TemplateItem, TemplateSection
from sync.engine import SyncEngine, stock_level_id
from sync.messages import SCHEMA_VERSION, Mutation, PullRequest, PullResponse, PushRequest, PushResponse

WH = "wh-johar-baru"
OTHER_WH = "wh-senen"


def incident(n: int, **more: Any) -> dict[str, Any]:
    """Fields of a valid new incident, numbered."""
    return {
        "category": "segel_rusak",
        "severity": "sedang",
        "description": f"Segel rak {n} longgar",
        "occurred_at": "2026-11-28T01:00:00Z",
        **more,
    }


TEMPLATE = Template(
    id="tpl-1",
    code="gudang_logistik",
    version=1,
    title="Pemeriksaan Gudang Logistik Pemilu",
    sections=[
        TemplateSection(
            code="akses",
            title="Akses & penguncian",
            items=[
                TemplateItem(
                    code="segel_pintu",
                    label="Segel pintu utuh",
                    kind="yes_no",
                    required=True,
                    finding_if=["tidak"],
                ),
                TemplateItem(code="nomor_segel", label="Nomor segel pintu", kind="seal"),
                TemplateItem(code="foto_pintu", label="Foto pintu", kind="photo"),
            ],
        ),
        TemplateSection(
            code="logistik",
            title="Logistik",
            items=[
                TemplateItem(
                    code="kotak_suara",
                    label="Jumlah kotak suara",
                    kind="number",
                    stock_item="kotak_suara",
                    tolerance=0,
                ),
            ],
        ),
    ],
)


def actor(
    name: str, role: str = "officer", agency: str = "POLRI", warehouses: tuple[str, ...] = (WH,)
) -> Actor:
    return Actor(
        user_id=f"u-{name}",
        username=name,
        role=role,  # type: ignore[arg-type]
        agency=agency,
        warehouses=frozenset(warehouses),
        client_id=f"dev-{name}-0001",
    )


class Phone:
    """A client as the PWA behaves: a replica, an outbox, numbered mutations, an HLC."""

    def __init__(self, engine: SyncEngine, who: Actor, wall: Any = None) -> None:
        self.engine = engine
        self.actor = who
        self.client_id = who.client_id
        self.clock = HybridClock(self.client_id, wall)
        self.seq = itertools.count(1)
        self.outbox: list[Mutation] = []
        self.replica: dict[str, Any] = {}
        self.cursors: dict[str, int] = {}
        self.acked = 0

    def mutate(
        self, op: str, record_id: str, collection: str, fields: dict[str, Any] | None = None, **kw: Any
    ) -> Mutation:
        base = self.replica[record_id].revision if record_id in self.replica else 0
        m = Mutation(
            seq=next(self.seq),
            id=record_id,
            collection=collection,  # type: ignore[arg-type]
            op=op,  # type: ignore[arg-type]
            base_rev=kw.pop("base_rev", base),
            fields=fields or {},
            hlc=self.clock.now(),
            schema_version=kw.pop("schema_version", SCHEMA_VERSION),
            **kw,
        )
        self.outbox.append(m)
        return m

    def request(self, mutations: list[Mutation] | None = None) -> PushRequest:
        return PushRequest(
            protocol=1,
            client_id=self.client_id,
            schema_version=SCHEMA_VERSION,
            mutations=list(self.outbox if mutations is None else mutations),
        )

    async def push(self) -> PushResponse:
        response = await self.engine.push(self.actor, self.request())
        self.clock.receive(response.server_hlc)
        return response

    async def pull(self, limit: int = 1000) -> PullResponse:
        while True:
            response = await self.engine.pull(
                self.actor,
                PullRequest(
                    protocol=1,
                    client_id=self.client_id,
                    cursors=self.cursors,
                    limit=limit,
                    acked_seq=self.acked,
                ),
            )
            for change in response.changes:
                self.replica[change.id] = change
            for gone in response.drop + response.reset:
                self.replica = {k: v for k, v in self.replica.items() if v.warehouse_id != gone}
            self.cursors = {w: c for w, c in response.cursors.items()}
            self.acked = response.reflected_seq
            self.outbox = [m for m in self.outbox if m.seq > self.acked]
            if not response.has_more:
                return response

    async def sync(self) -> None:
        if self.outbox:
            await self.push()
        await self.pull()


PHOTO = "c" * 64


def queue_mixed_batch(phone: Phone) -> None:
    """41 mutations of the kinds a push handles, after inc-0..2 were synced: patches of those with a
    photo reference, new records inc-3..39, and a patch of a record that does not exist."""
    for n in range(3):
        phone.mutate("patch", f"inc-{n}", "incidents", {"action_taken": f"dicek {n}", "photos": [PHOTO]})
    for n in range(3, 40):
        phone.mutate("create", f"inc-{n}", "incidents", incident(n), warehouse_id=WH)
    phone.mutate("patch", "inc-missing", "incidents", {"action_taken": "?"}, base_rev=1)


def check_mixed_batch(response: PushResponse) -> None:
    """What the server answers to queue_mixed_batch()."""
    statuses = [r.status for r in response.results]
    assert statuses == ["applied"] * 40 + ["rejected"], [(r.code, r.message) for r in response.results]
    assert response.results[-1].code == "not_found"
    assert [r.pending_attachments for r in response.results[:3]] == [[PHOTO]] * 3
    assert len({r.revision for r in response.results[:40]}) == 40


async def seed_stock(engine: SyncEngine, expected: int = 40, wall: Any = None) -> None:
    admin = Phone(engine, actor("admin", role="admin", agency="KPU", warehouses=(WH, OTHER_WH)), wall)
    for wh in (WH, OTHER_WH):
        admin.mutate(
            "create",
            stock_level_id(wh, "kotak_suara"),
            "stock_levels",
            {"item_type": "kotak_suara", "expected": {"delta": expected}},
            warehouse_id=wh,
        )
    response = await admin.push()
    assert all(r.status == "applied" for r in response.results), response
