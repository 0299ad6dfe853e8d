"""`tigapilar seed-demo`: four Jakarta Pusat warehouses, officers of every pillar, supervisors, an
admin, stock levels, a few days of inspections, stock counts and incidents, and a week of the guard
post's shifts, check-ins and handovers (server/seed/guard.py).

Every synced record is made by pushing mutations through sync.engine.SyncEngine, as the phones
would, under each demo user's own client id (seed-<username>) with clocks set to the past. Running
it again does nothing: each step first checks whether it already happened.

Every demo account has the same public password, so seed-demo writes only to a new, empty database
(which it then marks as a demo database) or to one it marked before; anything else is refused
(NotADemoDatabase), and `tigapilar serve` warns when it serves a demo database. Everything it
writes is in the audit log, in time order.
"""

from __future__ import annotations

import hashlib
import io
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any

import msgspec
from PIL import Image, ImageDraw

from server.auth import Passwords
from server.models import UserInput, Warehouse, iso
from server.seed import install_reference_data, load_template
from server.seed.guard import guard_week
from server.storage import AttachmentMeta, Storage
from sync.clock import HybridClock, format_hlc
from sync.domain import Actor, Role
from sync.engine import SyncEngine, stock_level_id
from sync.messages import PROTOCOL_VERSION, SCHEMA_VERSION, Mutation, MutationResult, PushRequest
from sync.store import AuditEntry

DEMO_PASSWORD = "tigapilar"
"""Public (printed, in the README): the reason seed-demo writes only to a database of its own."""
WIB = timezone(timedelta(hours=7), "WIB")

JB, CP, KM, SN = "gd-johar-baru", "gd-cempaka-putih", "gd-kemayoran", "gd-senen"

WAREHOUSES = [
    Warehouse(
        id=JB,
        code="johar_baru",
        name="Gudang Logistik KPU Kecamatan Johar Baru",
        address="Jl. Johar Baru Utara I No. 1, RW 03",
        kelurahan="Johar Baru",
        kecamatan="Johar Baru",
        kota="Jakarta Pusat",
        floor_room="Kantor Kecamatan Johar Baru lantai 4",
    ),
    Warehouse(
        id=CP,
        code="cempaka_putih",
        name="Gudang Logistik KPU Kecamatan Cempaka Putih",
        address="Jl. Cempaka Putih Tengah No. 3",
        kelurahan="Cempaka Putih Timur",
        kecamatan="Cempaka Putih",
        kota="Jakarta Pusat",
        floor_room="Aula Kantor Kecamatan Cempaka Putih lantai 3",
    ),
    Warehouse(
        id=KM,
        code="kemayoran",
        name="Gudang Logistik KPU Kecamatan Kemayoran",
        address="Jl. Serdang Baru No. 10",
        kelurahan="Serdang",
        kecamatan="Kemayoran",
        kota="Jakarta Pusat",
        floor_room="Gedung serbaguna lantai 2",
    ),
    Warehouse(
        id=SN,
        code="senen",
        name="Gudang Logistik KPU Kecamatan Senen",
        address="Jl. Kramat Raya No. 5",
        kelurahan="Kramat",
        kecamatan="Senen",
        kota="Jakarta Pusat",
        floor_room="Ruang arsip lantai dasar, Kantor Kecamatan Senen",
    ),
]

TPS = {JB: 178, CP: 141, KM: 262, SN: 133}
"""Polling stations served by each warehouse: the expected stock follows from it."""


@dataclass(frozen=True)
class DemoUser:
    username: str
    full_name: str
    agency: str
    role: Role
    rank: str
    id_number: str
    warehouses: tuple[str, ...]
    title: str = ""


USERS = [
    DemoUser("admin", "Administrator Sistem", "KPU", "admin", "", "", (), "Admin"),
    DemoUser("hendra", "Hendra Gunawan", "POLRI", "supervisor", "Iptu", "85071234", (JB, CP),
             "Perwira Pengendali Posko, Polsek Johar Baru"),
    DemoUser("rina", "Rina Marlina, S.Sos.", "KPU", "supervisor", "", "198503122010012003", (JB, CP, KM, SN),
             "Kasubbag Logistik KPU Kota Jakarta Pusat"),
    DemoUser("slamet", "Slamet Riyadi", "POLRI", "officer", "Aipda", "79050321", (JB,), "Polsek Johar Baru"),
    DemoUser("agus", "Agus Setiawan", "POLRI", "officer", "Bripka", "84121156", (JB,), "Polsek Johar Baru"),
    DemoUser("joko", "Joko Susilo", "TNI", "officer", "Serka", "21000456789", (JB,), "Koramil 08 Johar Baru"),
    DemoUser("wahyu", "Wahyu Hidayat", "TNI", "officer", "Kopda", "31010234567", (JB,),
             "Koramil 08 Johar Baru"),
    DemoUser("dedi", "Dedi Kurniawan", "SATPOL_PP", "officer", "", "182345", (JB,),
             "Satpol PP Kec. Johar Baru"),
    DemoUser("rudi", "Rudi Hartono", "DISHUB", "officer", "", "197908142009011004", (JB,),
             "Dishub Jakarta Pusat"),
    DemoUser("siti", "Siti Aminah", "FKDM", "officer", "", "", (JB,), "FKDM Kelurahan Johar Baru"),
    DemoUser("yuli", "Yuliani Pratiwi", "KPU", "officer", "", "199107252019032011", (JB,), "PPK Johar Baru"),
    DemoUser("fajar", "Fajar Nugroho", "POLRI", "officer", "Brigpol", "93080412", (CP,),
             "Polsek Cempaka Putih"),
    DemoUser("bambang", "Bambang Purnomo", "TNI", "officer", "Sertu", "21990123456", (CP,),
             "Koramil 07 Cempaka Putih"),
    DemoUser("andi", "Andi Saputra", "POLRI", "officer", "Bripka", "85030977", (KM,), "Polsek Kemayoran"),
    DemoUser("eko", "Eko Prasetyo", "TNI", "officer", "Serda", "21120345678", (KM,), "Koramil 03 Kemayoran"),
    DemoUser("made", "I Made Suardana", "POLRI", "officer", "Aiptu", "77110245", (SN,), "Polsek Senen"),
    DemoUser("lestari", "Lestari Handayani", "SATPOL_PP", "officer", "", "184521", (SN,),
             "Satpol PP Kec. Senen"),
    # The guard post's other shifts (server/seed/guard.py).
    DemoUser("nanda", "Nanda Pratama", "SATPOL_PP", "officer", "", "183377", (CP,),
             "Satpol PP Kec. Cempaka Putih"),
    DemoUser("gilang", "Gilang Ramadhan", "POLRI", "officer", "Briptu", "96020311", (CP,),
             "Polsek Cempaka Putih"),
    DemoUser("teguh", "Teguh Wibowo", "TNI", "officer", "Serka", "21010567890", (CP,),
             "Koramil 07 Cempaka Putih"),
    DemoUser("ani", "Ani Rahmawati", "FKDM", "officer", "", "", (CP,), "FKDM Kelurahan Cempaka Putih Timur"),
    DemoUser("yoga", "Yoga Permana", "DISHUB", "officer", "", "198811022015031002", (KM,),
             "Dishub Jakarta Pusat"),
    DemoUser("hari", "Hari Santoso", "POLRI", "officer", "Bripka", "86040522", (KM,), "Polsek Kemayoran"),
    DemoUser("dimas", "Dimas Aditya", "TNI", "officer", "Sertu", "21130678901", (KM,),
             "Koramil 03 Kemayoran"),
    DemoUser("wulan", "Wulan Sari", "SATPOL_PP", "officer", "", "185633", (KM,), "Satpol PP Kec. Kemayoran"),
    DemoUser("hasan", "Hasan Basri", "TNI", "officer", "Serda", "21150456789", (SN,), "Koramil 02 Senen"),
    DemoUser("bayu", "Bayu Firmansyah", "POLRI", "officer", "Brigpol", "94110733", (SN,), "Polsek Senen"),
    DemoUser("rizki", "Rizki Maulana", "TNI", "officer", "Kopda", "31020345678", (SN,), "Koramil 02 Senen"),
    DemoUser("ratna", "Ratna Dewi", "FKDM", "officer", "", "", (SN,), "FKDM Kelurahan Kramat"),
]  # fmt: skip
DEMO_USERNAMES = frozenset(u.username for u in USERS)


@dataclass
class SeedResult:
    created: list[str] = field(default_factory=list)
    already: bool = False

    def describe(self) -> str:
        lines = []
        if self.already:
            lines.append("Demo data already present: nothing to do.")
        else:
            lines.append("Demo data added: " + ", ".join(self.created) + ".")
        lines.append(f"Demo logins (password for all: {DEMO_PASSWORD}):")
        for u in USERS:
            where = ", ".join(w.removeprefix("gd-") for w in u.warehouses) or "semua gudang"
            rank = f"{u.rank} " if u.rank else ""
            lines.append(f"  {u.username:<8} {u.role:<10} {u.agency:<9} {rank}{u.full_name} ({where})")
        return "\n".join(lines)


def expected_stock(warehouse_id: str) -> dict[str, int]:
    tps = TPS[warehouse_id]
    voters = tps * 270
    return {
        "kotak_suara": 2 * tps,
        "bilik_suara": 4 * tps,
        "surat_suara_gubernur": voters + voters * 2 // 100,
        "surat_suara_dprd": voters + voters * 2 // 100,
        "tinta": 2 * tps,
        "segel": 20 * tps,
        "formulir_c_hasil": tps,
        "sampul": 8 * tps,
    }


def photo(label: str, color: tuple[int, int, int]) -> bytes:
    """A small JPEG standing in for a phone photo."""
    image = Image.new("RGB", (320, 240), color)
    draw = ImageDraw.Draw(image)
    draw.rectangle((16, 16, 304, 224), outline=(255, 255, 255), width=4)
    draw.text((28, 110), label, fill=(255, 255, 255))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=70)
    return out.getvalue()


class _Seeder:
    def __init__(self, storage: Storage, today: date, users: dict[str, tuple[str, DemoUser]]) -> None:
        self.storage = storage
        self.today = today
        self.moment = datetime.combine(today, time(8), WIB)
        self.engine = SyncEngine(storage, HybridClock("server", wall=self._ms), now=lambda: iso(self.moment))
        self.users = users
        self.seq: dict[str, int] = {}
        self.revs: dict[str, int] = {}
        self.counter = 0
        self.template_id = load_template().id
        self.records = 0
        self.photos: list[str] = []
        """Hashes of the photos written (files and metadata; the records reference them)."""

    def _ms(self) -> int:
        return int(self.moment.timestamp() * 1000)

    def at(self, days_ago: int, hour: int, minute: int = 0) -> str:
        """Move the seeding clock to a past moment (never later than now: no future records)."""
        wanted = datetime.combine(self.today - timedelta(days=days_ago), time(hour, minute), WIB)
        self.moment = min(wanted, datetime.now(WIB) - timedelta(minutes=1))
        return iso(self.moment)

    def when(self, moment: datetime) -> bool:
        """Move the seeding clock to `moment` if it is past; whether it is."""
        if moment > datetime.now(WIB) - timedelta(minutes=1):
            return False
        self.moment = moment
        return True

    def uid(self, username: str) -> str:
        return self.users[username][0]

    async def push(self, username: str, *ops: dict[str, Any]) -> list[MutationResult]:
        user_id, demo = self.users[username]
        client_id = f"seed-{username}"
        scope = frozenset(demo.warehouses) if demo.warehouses else frozenset(w.id for w in WAREHOUSES)
        actor = Actor(
            user_id=user_id,
            username=username,
            role=demo.role,
            agency=demo.agency,
            warehouses=scope,
            client_id=client_id,
        )
        mutations = []
        for op in ops:
            seq = self.seq.get(client_id, 0) + 1
            self.seq[client_id] = seq
            self.counter += 1
            mutations.append(
                Mutation(
                    seq=seq,
                    id=op["id"],
                    collection=op["collection"],
                    op=op.get("op", "create"),
                    base_rev=self.revs.get(op["id"], 0),
                    warehouse_id=op.get("warehouse_id"),
                    fields=op.get("fields", {}),
                    hlc=format_hlc(self._ms(), self.counter % 100_000, client_id),
                )
            )
        response = await self.engine.push(
            actor,
            PushRequest(
                protocol=PROTOCOL_VERSION,
                client_id=client_id,
                schema_version=SCHEMA_VERSION,
                mutations=mutations,
            ),
        )
        for result in response.results:
            if result.status != "applied":
                raise RuntimeError(
                    f"demo mutation {result.id} was {result.status}: {result.code} {result.message}"
                )
            if result.revision is not None:
                self.revs[result.id] = result.revision
        self.records += sum(1 for op in ops if op.get("op", "create") == "create")
        return response.results

    async def photo(self, username: str, label: str, color: tuple[int, int, int]) -> str:
        data = photo(label, color)
        sha = hashlib.sha256(data).hexdigest()
        relative = f"attachments/{sha[:2]}/{sha}"
        path = self.storage.data_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        await self.storage.put_attachment(
            AttachmentMeta(
                sha256=sha,
                size=len(data),
                mime="image/jpeg",
                path=relative,
                uploaded_by=self.uid(username),
                created_at=iso(self.moment),
            )
        )
        self.photos.append(sha)
        return sha

    # -- the demo story ------------------------------------------------------------------------------
    async def stock_levels(self) -> None:
        self.at(6, 9)
        for warehouse in WAREHOUSES:
            ops: list[dict[str, Any]] = []
            for item, quantity in expected_stock(warehouse.id).items():
                ops.append(
                    {
                        "id": stock_level_id(warehouse.id, item),
                        "collection": "stock_levels",
                        "warehouse_id": warehouse.id,
                        "fields": {
                            "item_type": item,
                            "expected": {"delta": quantity},
                            "movements": [
                                {
                                    "id": str(uuid.uuid4()),
                                    "delta": quantity,
                                    "note": "Penerimaan dari KPU Kota Jakarta Pusat",
                                    "document": f"Surat jalan No. {100 + len(ops)}/PL.02.1-SJ/3171/2024",
                                }
                            ],
                        },
                    }
                )
            await self.push("rina", *ops)

    def answers(
        self, warehouse_id: str, seal: str, photos: dict[str, list[str]], **overrides: Any
    ) -> dict[str, Any]:
        stock = expected_stock(warehouse_id)
        base: dict[str, Any] = {
            "personel_hadir": 6,
            "personel_sesuai_jadwal": "ya",
            "serah_terima_jaga": "ya",
            "pagar_gerbang_terkunci": "ya",
            "pintu_gudang_terkunci": "ya",
            "gembok_utuh": "ya",
            "segel_pintu_utuh": "ya",
            "nomor_segel_pintu": seal,
            "nomor_segel_sesuai": "ya",
            "buku_tamu_terisi": "ya",
            "hanya_petugas_berwenang": "ya",
            "pemegang_kunci": "Yuliani Pratiwi (PPK)",
            "cctv_terpasang": 8,
            "cctv_berfungsi": 8,
            "rekaman_tersimpan": "ya",
            "penerangan_cukup": "ya",
            "kondisi_listrik": "normal",
            "atap_tidak_bocor": "ya",
            "lantai_kering": "ya",
            "ruangan_kering": "ya",
            "logistik_di_atas_palet": "ya",
            "bebas_rayap_hama": "ya",
            "apar_tersedia": "ya",
            "apar_masa_berlaku": "ya",
            "instalasi_listrik_aman": "ya",
            "jumlah_kotak_suara": stock["kotak_suara"],
            "jumlah_bilik_suara": stock["bilik_suara"],
            "jumlah_surat_suara_gubernur": stock["surat_suara_gubernur"],
            "jumlah_surat_suara_dprd": stock["surat_suara_dprd"],
            "kerusakan_logistik": "tidak_ada",
            "jumlah_rusak": 0,
            "segel_kotak_suara_utuh": "ya",
            "nomor_seri_segel_sesuai": "ya",
            "pihak_diberitahu": "tidak_perlu",
            "personel_polri": 2,
            "personel_tni": 2,
            "personel_satpol_pp": 1,
            "personel_dishub": 0,
            "personel_fkdm": 1,
            "perlengkapan_pos_lengkap": "ya",
            "saksi_kpu": "Yuliani Pratiwi",
        }
        base.update(overrides)
        fields = {f"a.{code}": value for code, value in base.items()}
        fields.update({f"p.{code}": hashes for code, hashes in photos.items()})
        return fields

    async def inspection(
        self,
        username: str,
        warehouse_id: str,
        *,
        days_ago: int,
        hour: int,
        shift: str,
        co: tuple[str, ...] = (),
        seal: str,
        submit: bool = True,
        confirmed: bool = True,
        note: str = "",
        summary: str = "",
        **overrides: Any,
    ) -> str:
        started = self.at(days_ago, hour)
        photos = {
            "foto_segel_pintu": [await self.photo(username, f"Segel pintu {seal}", (90, 60, 40))],
            "foto_logistik": [await self.photo(username, "Tumpukan logistik", (40, 70, 110))],
        }
        record_id = str(uuid.uuid4())
        fields: dict[str, Any] = {
            "template_id": self.template_id,
            "shift": shift,
            "started_at": started,
            "co_inspectors": [self.uid(c) for c in co],
            **self.answers(warehouse_id, seal, photos, **overrides),
        }
        if summary:
            fields["summary"] = summary
        if note:
            fields["notes"] = [{"id": str(uuid.uuid4()), "text": note}]
        await self.push(
            username,
            {"id": record_id, "collection": "inspections", "warehouse_id": warehouse_id, "fields": fields},
        )
        # Each co-inspector signs only by confirming from their own account and phone.
        for co_inspector in co if confirmed else ():
            self.at(days_ago, hour, 30)
            await self.push(co_inspector, {"id": record_id, "collection": "inspections", "op": "confirm"})
        if submit:
            self.at(days_ago, hour, 40)
            await self.push(username, {"id": record_id, "collection": "inspections", "op": "submit"})
        return record_id

    async def stock_count(
        self, username: str, warehouse_id: str, inspection_id: str, item: str, counted: int, **extra: Any
    ) -> None:
        await self.push(
            username,
            {
                "id": str(uuid.uuid4()),
                "collection": "stock_counts",
                "warehouse_id": warehouse_id,
                "fields": {
                    "item_type": item,
                    "inspection_id": inspection_id,
                    "counted": counted,
                    "counted_at": iso(self.moment),
                    **extra,
                },
            },
        )

    async def incident(
        self, username: str, warehouse_id: str, *, days_ago: int, hour: int, **fields: Any
    ) -> str:
        occurred = self.at(days_ago, hour)
        record_id = str(uuid.uuid4())
        await self.push(
            username,
            {
                "id": record_id,
                "collection": "incidents",
                "warehouse_id": warehouse_id,
                "fields": {"occurred_at": occurred, **fields},
            },
        )
        return record_id

    async def story(self) -> None:
        await self.stock_levels()
        jb = expected_stock(JB)

        # Johar Baru, four days ago: a clean morning inspection, reviewed by the Polsek's control officer.
        first = await self.inspection(
            "slamet",
            JB,
            days_ago=4,
            hour=8,
            shift="pagi",
            co=("joko", "dedi"),
            seal="KPU-JB 004217",
            summary="Gudang aman, segel dan gembok utuh, logistik lengkap.",
        )
        await self.stock_count("slamet", JB, first, "kotak_suara", jb["kotak_suara"])
        await self.stock_count("slamet", JB, first, "bilik_suara", jb["bilik_suara"])
        self.at(4, 10)
        await self.push(
            "hendra",
            {
                "id": first,
                "collection": "inspections",
                "op": "review",
                "fields": {"comment": "Sesuai. Lanjutkan pengamanan."},
            },
        )

        # Three days ago, night shift: two cameras down, poor lighting -> an incident for KPU.
        second = await self.inspection(
            "joko",
            JB,
            days_ago=3,
            hour=21,
            shift="malam",
            co=("agus",),
            seal="KPU-JB 004217",
            cctv_berfungsi=6,
            penerangan_cukup="tidak",
            titik_buta="Sisi tangga darurat tidak terpantau",
            pihak_diberitahu="kpu",
            uraian_temuan="Kamera 3 dan 7 mati, lampu koridor lantai 4 padam.",
            penanggung_jawab_tindak_lanjut="PPK Johar Baru",
        )
        cctv = await self.incident(
            "joko",
            JB,
            days_ago=3,
            hour=21,
            category="cctv_mati",
            severity="sedang",
            title="Dua kamera CCTV mati",
            description="Kamera 3 (tangga darurat) dan kamera 7 (pintu belakang) tidak tampil di DVR.",
            location="Lantai 4, tangga darurat dan pintu belakang",
            assigned_agency="KPU",
            notified=["KPU", "BAWASLU"],
            action_taken="Penjagaan pintu belakang diperketat.",
        )
        self.at(2, 8, 30)
        await self.push("yuli", {"id": cctv, "collection": "incidents", "op": "acknowledge"})
        self.at(2, 9)
        await self.push(
            "rina",
            {
                "id": second,
                "collection": "inspections",
                "op": "review",
                "fields": {"comment": "Perbaikan CCTV sudah diajukan ke KPU Kota."},
            },
        )

        # Two days ago: three damaged ballot boxes and a count short by two -> changes requested.
        third = await self.inspection(
            "agus",
            JB,
            days_ago=2,
            hour=13,
            shift="siang",
            co=("wahyu", "rudi"),
            seal="KPU-JB 004217",
            jumlah_kotak_suara=jb["kotak_suara"] - 2,
            kerusakan_logistik="rusak_ringan",
            jumlah_rusak=3,
            uraian_temuan="3 kotak suara penyok di tumpukan bawah; selisih 2 kotak suara.",
            pihak_diberitahu="kpu_dan_bawaslu",
            penanggung_jawab_tindak_lanjut="PPK Johar Baru",
            note="Tumpukan kotak suara terlalu tinggi (12 lapis).",
        )
        await self.stock_count(
            "agus",
            JB,
            third,
            "kotak_suara",
            jb["kotak_suara"] - 2,
            damaged_light=3,
            damaged_heavy=0,
            note="Selisih 2; kemungkinan terhitung di rak cadangan.",
        )
        damage = await self.incident(
            "agus",
            JB,
            days_ago=2,
            hour=13,
            category="kerusakan_logistik",
            severity="rendah",
            title="3 kotak suara penyok",
            description="Tiga kotak suara karton penyok di tumpukan paling bawah, segel masih utuh.",
            location="Rak B, lantai 4",
            assigned_agency="KPU",
            notified=["KPU"],
        )
        self.at(2, 16)
        await self.push(
            "hendra",
            {
                "id": third,
                "collection": "inspections",
                "op": "request_changes",
                "fields": {"comment": "Lampirkan foto kerusakan dan nomor berita acara pembukaan."},
            },
        )
        self.at(1, 10)
        await self.push(
            "rina",
            {
                "id": damage,
                "collection": "incidents",
                "op": "resolve",
                "fields": {"resolution": "Diganti dari cadangan; berita acara No. 12/BA/PPK-JB/2024."},
            },
        )

        # Yesterday: submitted, waiting for review. Today: a draft in progress.
        await self.inspection(
            "dedi",
            JB,
            days_ago=1,
            hour=8,
            shift="pagi",
            co=("siti",),
            seal="KPU-JB 004217",
            confirmed=False,  # Siti has not confirmed from her phone yet: "belum konfirmasi"
        )
        await self.inspection(
            "wahyu",
            JB,
            days_ago=0,
            hour=7,
            shift="pagi",
            seal="KPU-JB 004217",
            submit=False,
        )

        # The other warehouses.
        cp = await self.inspection(
            "fajar",
            CP,
            days_ago=3,
            hour=9,
            shift="pagi",
            co=("bambang",),
            seal="KPU-CP 001530",
            pemegang_kunci="Ahmad Fauzi (PPK)",
            saksi_kpu="Ahmad Fauzi",
        )
        self.at(3, 11)
        await self.push("hendra", {"id": cp, "collection": "inspections", "op": "review", "fields": {}})
        await self.inspection(
            "andi",
            KM,
            days_ago=2,
            hour=15,
            shift="siang",
            co=("eko",),
            seal="KPU-KM 007781",
            atap_tidak_bocor="tidak",
            lantai_kering="tidak",
            ruangan_kering="tidak",
            pihak_diberitahu="kpu",
            uraian_temuan="Atap bocor di atas rak surat suara setelah hujan deras.",
            pemegang_kunci="Dewi Lestari (PPK)",
            saksi_kpu="Dewi Lestari",
        )
        await self.incident(
            "andi",
            KM,
            days_ago=2,
            hour=15,
            category="kebocoran_banjir",
            severity="tinggi",
            title="Atap bocor di atas surat suara",
            description="Air menetes dari plafon di atas rak surat suara DPRD; dus dipindahkan ke rak lain.",
            location="Gedung serbaguna lantai 2, rak C",
            assigned_agency="KPU",
            notified=["KPU", "BAWASLU"],
            action_taken="Dus dipindahkan dan ditutup terpal.",
        )
        await self.inspection(
            "made",
            SN,
            days_ago=1,
            hour=20,
            shift="malam",
            co=("lestari",),
            seal="KPU-SN 000912",
            segel_pintu_utuh="tidak",
            nomor_segel_sesuai="tidak",
            pihak_diberitahu="semua",
            uraian_temuan="Segel pintu sobek; nomor segel tidak terbaca.",
            pemegang_kunci="Rahmat Hidayat (PPK)",
            saksi_kpu="Rahmat Hidayat",
        )
        await self.incident(
            "made", SN, days_ago=1, hour=20, category="segel_rusak", severity="kritis",
            title="Segel pintu gudang sobek",
            description="Segel pintu utama ditemukan sobek saat pemeriksaan malam; gembok utuh.",
            location="Pintu utama ruang arsip", assigned_agency="POLRI",
            notified=["KPU", "BAWASLU", "POLRES"],
            action_taken="Pintu dijaga dua personel sampai KPU membuat berita acara pembukaan.",
        )  # fmt: skip

        # A week of the guard post in every warehouse: rosters, check-ins, handovers.
        await guard_week(self.push, self.when, self.today, self.uid, WIB)


DEMO_MARK = "demo"
"""The database mark (server/storage, database_marks) of a database seed-demo made."""
SEED_ACTOR = "seed-demo"


class NotADemoDatabase(Exception):
    """seed-demo was pointed at a database it did not make: it adds nothing there."""


async def check_demo_database(storage: Storage) -> bool:
    """Whether seed-demo may write here: True for a demo database (marked by an earlier seed-demo),
    False for an empty one (nothing in it yet). NotADemoDatabase for anything else: accounts it did
    not make would sit beside demo accounts whose password is public."""
    users = await storage.users()
    marked = await storage.database_mark(DEMO_MARK) is not None
    if marked:
        foreign = sorted(u.username for u in users if u.username not in DEMO_USERNAMES)
        if foreign:
            raise NotADemoDatabase(
                f"this demo database also holds accounts seed-demo did not make ({', '.join(foreign[:5])}"
                f"{', ...' if len(foreign) > 5 else ''}): not adding demo data to it"
            )
        return True
    if users or await storage.latest_revision() > 0:
        raise NotADemoDatabase(
            f"this database holds {len(users)} account(s) and records that seed-demo did not make, and is"
            " not a demo database: seed-demo adds demo accounts (with the public password"
            f" {DEMO_PASSWORD!r}) only to a new, empty database. A demo database made by an earlier"
            " version is not marked as one: delete it and run seed-demo again"
        )
    return False


def _audit(kind: str, subject: str, **detail: Any) -> AuditEntry:
    return AuditEntry(
        at=iso(datetime.now(UTC)),
        kind=kind,
        actor_id=SEED_ACTOR,
        actor_agency="",
        device="",
        warehouse_id=detail.pop("warehouse_id", None),
        subject=subject,
        detail=detail,
    )


async def seed_demo(
    storage: Storage, *, today: date | None = None, passwords: Passwords | None = None
) -> SeedResult:
    """Add the demo data to an empty database (marking it as a demo database) or complete it in a
    demo one; NotADemoDatabase for any other. Everything it writes is in the audit log: the mark,
    each warehouse and account, each synced record (the engine's mutation entries), a summary with
    the photos; the log's times stay in order although the records are dated in the past (an entry
    is stamped no earlier than the one before it, sync.audit.seal)."""
    result = SeedResult()
    if not await check_demo_database(storage):
        await storage.set_database_mark(DEMO_MARK, iso(datetime.now(UTC)))
        await storage.append_audit(_audit("demo.marked", DEMO_MARK, reason="seed-demo on an empty database"))
    added = await install_reference_data(storage)
    if added:
        await storage.append_audit(_audit("reference_data.installed", DEMO_MARK, added=added))
        result.created.append("template and stock item types")

    for warehouse in WAREHOUSES:
        if await storage.warehouse(warehouse.id) is None:
            await storage.put_warehouse(warehouse)
            await storage.append_audit(
                _audit("warehouse.created", warehouse.id, warehouse=msgspec.structs.asdict(warehouse))
            )
            result.created.append(f"warehouse {warehouse.code}")

    passwords = passwords or Passwords()
    users: dict[str, tuple[str, DemoUser]] = {}
    for demo in USERS:
        found = await storage.user_by_username(demo.username)
        if found is None:
            user = await storage.create_user(
                str(uuid.uuid4()),
                UserInput(
                    username=demo.username,
                    full_name=demo.full_name,
                    agency=demo.agency,
                    role=demo.role,
                    rank=demo.rank,
                    id_number=demo.id_number,
                    warehouses=list(demo.warehouses),
                ),
                await passwords.hash(DEMO_PASSWORD),
            )
            await storage.append_audit(
                _audit("user.created", user.id, username=user.username, role=user.role, agency=user.agency,
                       warehouses=user.warehouses, demo=True)
            )  # fmt: skip
            result.created.append(f"user {demo.username}")
        else:
            user = found[0]
        users[demo.username] = (user.id, demo)

    async with storage.write() as tx:  # read only: no commit, so it rolls back
        seeded = await tx.client_last_seq("seed-rina") > 0
    if not seeded:
        seeder = _Seeder(storage, today or datetime.now(UTC).astimezone(WIB).date(), users)
        await seeder.story()
        await storage.append_audit(
            _audit("demo.seeded", DEMO_MARK, records=seeder.records, photos=seeder.photos)
        )
        result.created.append(f"{seeder.records} synced records")
    result.already = not result.created
    return result
