"""The berita acara PDF, `GET /api/inspections/{id}/report.pdf` (server/api/report_pdf.py, layout in
server/report_pdf.py), over the demo data (server/seed/demo.py: hendra supervises Johar Baru and
Cempaka Putih, rina all four, slamet is a Polri officer of Johar Baru).

The PDFs are checked without fpdf2, the library that wrote them: their structure by the bytes
(header, cross-reference table, pages), their text by a small reader of the content streams below
and, where Debian's poppler-utils is installed, also by `pdftotext`.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
import zlib
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from server import report_pdf
from server.models import StockItemType, User, Warehouse
from server.seed import load_template
from server.seed.demo import seed_demo
from server.storage.sqlite import SqliteStorage
from sync.domain import text_in
from sync.store import Record
from tests.factories import FAST_PASSWORDS, Factory, bearer

JB, KM = "gd-johar-baru", "gd-kemayoran"
SIGNATURE_LABELS = ("Petugas Polri", "Petugas TNI", "Petugas Pemda", "Saksi KPU")
WIB = timezone(timedelta(hours=7))
DEJAVU = report_pdf.available_fonts() is not None
DASH = "—" if DEJAVU else "-"  # the core font has no em dash


# -- reading a PDF without fpdf2 ----------------------------------------------------------------------
def pdf_objects(pdf: bytes) -> dict[int, tuple[bytes, bytes | None]]:
    """Object number -> (dictionary text, decompressed stream or None), read in file order so
    binary stream data (fonts, images) is skipped by its /Length and never mistaken for syntax."""
    objects: dict[int, tuple[bytes, bytes | None]] = {}
    at = 0
    start = re.compile(rb"(\d+) 0 obj\b")
    while (m := start.search(pdf, at)) is not None:
        end, stream = pdf.find(b"endobj", m.end()), pdf.find(b"stream", m.end())
        if stream == -1 or end < stream:
            objects[int(m.group(1))] = (pdf[m.end() : end], None)
            at = end + 6
            continue
        head = pdf[m.end() : stream]
        length = re.search(rb"/Length (\d+)", head)
        assert length is not None, head
        begin = stream + len(b"stream") + (2 if pdf[stream + 6 : stream + 8] == b"\r\n" else 1)
        data = pdf[begin : begin + int(length.group(1))]
        objects[int(m.group(1))] = (head, zlib.decompress(data) if b"/FlateDecode" in head else data)
        at = pdf.find(b"endobj", begin + len(data)) + 6
    return objects


def _unescape(literal: bytes) -> bytes:
    out, i = bytearray(), 0
    simple = {ord("n"): 10, ord("r"): 13, ord("t"): 9, ord("b"): 8, ord("f"): 12}
    while i < len(literal):
        c = literal[i]
        if c != 0x5C:
            out.append(c)
            i += 1
            continue
        nxt = literal[i + 1]
        if nxt in simple:
            out.append(simple[nxt])
            i += 2
        elif 0x30 <= nxt <= 0x37:
            digits = re.match(rb"[0-7]{1,3}", literal[i + 1 : i + 4])
            assert digits is not None
            out.append(int(digits.group(0), 8) & 0xFF)
            i += 1 + len(digits.group(0))
        elif nxt in b"\r\n":
            i += 2
        else:
            out.append(nxt)
            i += 2
    return bytes(out)


def _cmap(data: bytes) -> dict[int, str]:
    """A ToUnicode CMap's code -> text (bfchar entries and bfrange runs)."""
    found = {}
    for block in re.findall(rb"beginbfchar(.*?)endbfchar", data, re.S):
        for src, dst in re.findall(rb"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>", block):
            found[int(src, 16)] = bytes.fromhex(dst.decode()).decode("utf-16-be")
    for block in re.findall(rb"beginbfrange(.*?)endbfrange", data, re.S):
        for lo, hi, dst in re.findall(rb"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>", block):
            for n, code in enumerate(range(int(lo, 16), int(hi, 16) + 1)):
                found[code] = chr(int(dst, 16) + n)
    return found


_TEXT_OPS = re.compile(
    rb"/([^\s/\[\]()<>]+)\s+[-\d.]+\s+Tf|([-\d.]+)\s+([-\d.]+)\s+Td|\(((?:\\.|[^\\)])*)\)\s*Tj"
    rb"|\[((?:\\.|[^\\\]])*)\]\s*TJ|\bET\b",
    re.S,
)


def content_text(pdf: bytes) -> str:
    """The text shown by a PDF's content streams: per page, text objects on the same baseline
    joined left to right (a table row reads as a row), baselines from the top down."""
    objects = pdf_objects(pdf)
    maps: dict[int, dict[int, str]] = {}
    for number, (head, _) in objects.items():
        unicode = re.search(rb"/ToUnicode (\d+) 0 R", head)
        if b"/Type /Font" in head and unicode:
            stream = objects[int(unicode.group(1))][1]
            assert stream is not None
            maps[number] = _cmap(stream)
    fonts: dict[bytes, dict[int, str] | None] = {}
    for head, _ in objects.values():
        for name, number in re.findall(rb"/([A-Za-z0-9_.+-]+)\s+(\d+) 0 R", head):
            if b"/Type /Font" in objects.get(int(number), (b"", None))[0]:
                fonts[name] = maps.get(int(number))
    pages: list[str] = []
    for head, stream in objects.values():
        if stream is None or b"/Subtype" in head or b"/Length1" in head or b"BT" not in stream:
            continue  # images, embedded fonts, CMaps
        cmap: dict[int, str] | None = None
        x = y = 0.0
        shown: list[tuple[float, float, str]] = []
        current: list[str] = []
        for m in _TEXT_OPS.finditer(stream):
            if m.group(1) is not None:
                cmap = fonts.get(m.group(1))
            elif m.group(2) is not None:
                x, y = float(m.group(2)), float(m.group(3))
            elif m.group(0) == b"ET":
                if current:
                    shown.append((round(-y), x, "".join(current)))
                current = []
            else:
                literals = (
                    [m.group(4)]
                    if m.group(4) is not None
                    else re.findall(rb"\(((?:\\.|[^\\)])*)\)", m.group(5))
                )
                for literal in literals:
                    raw = _unescape(literal)
                    if cmap is None:
                        current.append(raw.decode("cp1252", errors="replace"))
                    else:
                        codes = [int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw), 2)]
                        current.append("".join(cmap.get(code, "\ufffd") for code in codes))
        lines: dict[float, list[tuple[float, str]]] = {}
        for baseline, left, text in shown:
            lines.setdefault(baseline, []).append((left, text))
        pages.append("\n".join(" ".join(t for _, t in sorted(lines[b])) for b in sorted(lines)))
    return "\n".join(pages)


def pdftotext(pdf: bytes) -> str | None:
    if shutil.which("pdftotext") is None:
        return None
    done = subprocess.run(
        ["pdftotext", "-layout", "-enc", "UTF-8", "-", "-"],
        input=pdf,
        capture_output=True,
        check=True,
        timeout=60,
    )
    return done.stdout.decode("utf-8")


def texts(pdf: bytes) -> list[str]:
    """The text as our reader sees it and, with poppler-utils installed, as pdftotext sees it;
    whitespace collapsed, so a phrase is found whatever line breaks each reader puts in."""
    found = [content_text(pdf), pdftotext(pdf)]
    return [" ".join(text.split()) for text in found if text is not None]


def assert_contains(pdf: bytes, *phrases: str) -> None:
    for text in texts(pdf):
        missing = [p for p in phrases if p not in text]
        assert not missing, f"{missing} not in {text[:2000]}"


def pages(pdf: bytes) -> int:
    return len(re.findall(rb"/Type\s*/Page(?!s)\b", pdf))


def assert_well_formed(pdf: bytes) -> None:
    assert pdf.startswith(b"%PDF-1.")
    assert pdf.rstrip().endswith(b"%%EOF")
    startxref = re.search(rb"startxref\s+(\d+)\s+%%EOF\s*$", pdf)
    assert startxref is not None
    assert pdf[int(startxref.group(1)) :].startswith(b"xref")  # the offset it states is right
    assert pages(pdf) >= 1
    if shutil.which("pdfinfo"):
        info = subprocess.run(["pdfinfo", "-"], input=pdf, capture_output=True, check=True, timeout=60)
        assert f"Pages:           {pages(pdf)}" in info.stdout.decode(), info.stdout


# -- over HTTP --------------------------------------------------------------------------------------------
@pytest.fixture
async def demo(storage: SqliteStorage) -> dict[str, User]:
    await seed_demo(storage, passwords=FAST_PASSWORDS)
    return {u.username: u for u in await storage.users()}


async def tokens(factory: Factory, demo: dict[str, User], *names: str) -> dict[str, dict[str, str]]:
    return {name: bearer(await factory.token(demo[name])) for name in names}


async def first_reviewed(
    client: httpx.AsyncClient, auth: dict[str, str], warehouse_id: str
) -> dict[str, Any]:
    """The oldest reviewed inspection of the warehouse: the clean one with counts and photos."""
    listed = (
        await client.get(
            "/api/supervisor/inspections",
            params={"warehouse_id": warehouse_id, "status": "reviewed"},
            headers=auth,
        )
    ).json()
    detail: dict[str, Any] = (
        await client.get(f"/api/supervisor/inspections/{listed[-1]['id']}", headers=auth)
    ).json()
    return detail


def report_url(inspection_id: str) -> str:
    return f"/api/inspections/{inspection_id}/report.pdf"


async def test_the_pdf_is_the_berita_acara_of_the_inspection(
    client: httpx.AsyncClient, factory: Factory, demo: dict[str, User], storage: SqliteStorage
) -> None:
    auth = await tokens(factory, demo, "hendra")
    detail = await first_reviewed(client, auth["hendra"], JB)
    record, template = detail["record"], detail["template"]
    assert detail["stock_counts"] and any(k.startswith("p.") for k in record["fields"])

    response = await client.get(report_url(record["id"]), headers=auth["hendra"])

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    warehouse = await storage.warehouse(JB)
    assert warehouse is not None
    started = datetime.fromisoformat(record["fields"]["started_at"].replace("Z", "+00:00")).astimezone(WIB)
    assert response.headers["content-disposition"] == (
        f'attachment; filename="berita-acara-{warehouse.code}-{started:%Y-%m-%d}.pdf"'
    )
    # The head of the warehouse's own chain, which the inspection's entries are in.
    head = await storage.audit_head(JB)
    assert head is not None
    assert response.headers["x-audit-head"] == head[1] and response.headers["x-audit-head-id"] == str(head[0])
    assert response.headers["x-audit-chain"] == JB
    assert response.headers["cache-control"] == "no-store"
    pdf = response.content
    assert_well_formed(pdf)
    assert len(re.findall(rb"/Subtype /Image", pdf)) == 2  # the two photos, as thumbnails
    assert len(pdf) < 400_000

    number_item = next(
        i
        for s in template["sections"]
        for i in s["items"]
        if i["kind"] == "number" and i["unit"] and f"a.{i['code']}" in record["fields"]
    )
    inspector = demo["slamet"]
    assert_contains(
        pdf,
        "BERITA ACARA PEMERIKSAAN GUDANG LOGISTIK PEMILU",
        f"Nomor: {record['fields']['report_number']}",
        f"Pada hari ini {report_pdf.DAYS['id'][started.weekday()]}, tanggal {report_pdf.date_text(started)}",
        warehouse.name,
        "Kel./Kec. Johar Baru, Jakarta Pusat",  # the address says Johar Baru once
        "KPU-JB 004217",  # the seal number typed as an answer
        f"{record['fields']['a.' + number_item['code']]} {text_in(number_item['unit'])}",
        "A. ",
        text_in(template["sections"][0]["title"]),
        f"{inspector.rank} {inspector.full_name} (Polri)",
        "Sudah diperiksa",
        "Ringkasan: Gudang aman",
        "Penghitungan stok",
        "Kotak suara",
        "Lampiran foto",
        *SIGNATURE_LABELS,
        "Yuliani Pratiwi",  # the KPU witness
        "Mengetahui",
        "Pengawas yang memeriksa",
        f"{demo['hendra'].rank} {demo['hendra'].full_name}",
        f"revisi data {record['revision']}",
        f"#{head[0]} {head[1]}",
        "Halaman 1 dari",
    )
    assert re.fullmatch(r"BA/JOHAR-BARU/\d{4}/\d{4}", record["fields"]["report_number"])
    assert "Johar Baru, Johar Baru" not in " ".join(texts(pdf))

    english = await client.get(report_url(record["id"]), params={"lang": "en"}, headers=auth["hendra"])
    assert english.status_code == 200
    assert_contains(
        english.content,
        "OFFICIAL REPORT OF THE ELECTION LOGISTICS WAREHOUSE INSPECTION",
        f"Number: {record['fields']['report_number']}",
        "Acknowledged by",
        "Reviewed",
        text_in(template["sections"][0]["title"], "en"),
    )
    assert "Sudah diperiksa" not in " ".join(texts(english.content))


async def test_scope_roles_and_unknown_ids(
    client: httpx.AsyncClient, factory: Factory, demo: dict[str, User]
) -> None:
    auth = await tokens(factory, demo, "hendra", "rina", "slamet", "admin")
    km = (
        await client.get("/api/supervisor/inspections", params={"warehouse_id": KM}, headers=auth["rina"])
    ).json()
    url = report_url(km[0]["id"])

    anonymous = await client.get(url)
    assert (anonymous.status_code, anonymous.json()["code"]) == (401, "unauthorized")
    officer = await client.get(url, headers=auth["slamet"])
    assert (officer.status_code, officer.json()["code"]) == (403, "forbidden")
    outside = await client.get(url, headers=auth["hendra"])
    assert (outside.status_code, outside.json()["code"]) == (403, "out_of_scope")
    unknown = await client.get(report_url("nope"), headers=auth["hendra"])
    assert (unknown.status_code, unknown.json()["code"]) == (404, "not_found")
    incident = (
        await client.get("/api/supervisor/incidents", params={"warehouse_id": JB}, headers=auth["hendra"])
    ).json()
    not_an_inspection = await client.get(report_url(incident[0]["id"]), headers=auth["hendra"])
    assert (not_an_inspection.status_code, not_an_inspection.json()["code"]) == (404, "not_found")
    for name in ("rina", "admin"):
        allowed = await client.get(url, headers=auth[name])
        assert allowed.status_code == 200 and allowed.content.startswith(b"%PDF"), name


async def test_the_pdf_is_laid_out_in_a_worker_thread(
    client: httpx.AsyncClient, factory: Factory, demo: dict[str, User], monkeypatch: pytest.MonkeyPatch
) -> None:
    auth = await tokens(factory, demo, "hendra")
    detail = await first_reviewed(client, auth["hendra"], JB)
    loop_thread, seen = threading.get_ident(), []
    real = report_pdf.render

    def spy(data: report_pdf.ReportInput, **kwargs: Any) -> bytes:
        seen.append(threading.get_ident())
        return real(data, **kwargs)

    monkeypatch.setattr(report_pdf, "render", spy)
    response = await client.get(report_url(detail["record"]["id"]), headers=auth["hendra"])
    assert response.status_code == 200
    assert seen and seen[0] != loop_thread


# -- the layout on its own ------------------------------------------------------------------------------
def inspection(**fields: Any) -> Record:
    return Record(
        id="insp-uji-1",
        collection="inspections",
        warehouse_id="gd-uji",
        revision=7,
        fields=fields,
        field_revs={},
        field_hlcs={},
        created_at="2026-02-09T01:00:00.000Z",
    )


def report_input(record: Record, **overrides: Any) -> report_pdf.ReportInput:
    values: dict[str, Any] = {
        "record": record,
        "template": None,
        "warehouse": Warehouse(id="gd-uji", code="uji_satu", name="Gudang Uji — Tanah Abang", kota="Jakarta"),
        "people": {},
        "stock_counts": [],
        "stock_items": {},
        "photos": [],
        "audit_head": (12, "ab" * 32),
        "printed_at": datetime(2026, 2, 9, 3, 0, tzinfo=UTC),
        "tz": WIB,
    }
    values.update(overrides)
    return report_pdf.ReportInput(**values)


def person(user_id: str, name: str, agency: str, rank: str = "") -> User:
    return User(id=user_id, username=user_id, full_name=name, agency=agency, rank=rank)


def test_without_dejavu_the_core_font_is_used_and_text_is_transliterated(tmp_path: Path) -> None:
    broken = tmp_path / "broken.ttf"
    broken.write_bytes(b"not a font at all")
    people = {
        "u1": person("u1", "Ni Made Āryani", "POLRI", "Bripda"),
        "u2": person("u2", "Dewi 😀 中文", "TNI"),
    }
    record = inspection(
        template_id="tpl-hilang",
        inspector_id="u1",
        co_inspectors=["u2"],
        summary="Kabel—aman…\x00\x07 “baik”",
        started_at="2026-02-09T01:00:00.000Z",
        **{"a.saksi_kpu": "Budi Ŝantoso"},
    )
    for fonts in (None, (tmp_path / "missing.ttf",), (broken, broken)):
        pdf = report_pdf.render(report_input(record, people=people), fonts=fonts)
        assert_well_formed(pdf)
        assert b"/BaseFont /Helvetica" in pdf and b"/FontFile2" not in pdf, fonts
        assert_contains(
            pdf,
            "Gudang Uji - Tanah Abang",
            "Bripda Ni Made Aryani (Polri)",
            "Dewi ? ?? (TNI)",
            'Ringkasan: Kabel-aman... "baik"',
            "Budi Santoso",
            "tpl-hilang tidak ditemukan",  # no template: said so, answers not guessed
            "Pada hari ini Senin, tanggal 9 Februari 2026, pukul 08.00 WIB",
            *SIGNATURE_LABELS,
        )


@pytest.mark.skipif(not DEJAVU, reason="DejaVu Sans is not installed (fonts-dejavu-core)")
def test_with_dejavu_names_keep_their_letters_and_missing_glyphs_are_marked() -> None:
    people = {"u1": person("u1", "Ni Made Āryani", "POLRI", "Bripda")}
    record = inspection(inspector_id="u1", summary="Kabel — aman… 中")
    pdf = report_pdf.render(report_input(record, people=people))
    assert_well_formed(pdf)
    assert b"/FontFile2" in pdf and b"DejaVuSans" in pdf
    assert_contains(
        pdf, "Gudang Uji — Tanah Abang", "Bripda Ni Made Āryani (Polri)", "Ringkasan: Kabel — aman… ?"
    )


def test_sections_findings_counts_and_a_long_list_of_signers(tmp_path: Path) -> None:
    template = load_template()
    items = {i.code: i for i in template.items()}
    photo = tmp_path / "segel.jpg"
    Image.new("RGB", (1600, 1200), (120, 40, 40)).save(photo, "JPEG")
    not_an_image = tmp_path / "rusak.jpg"
    not_an_image.write_bytes(b"\xff\xd8\xff garbage")
    officers = {f"p{n}": person(f"p{n}", f"Polisi Nomor {n}", "POLRI", "Bripda") for n in range(14)}
    officers["kasat"] = person("kasat", "Kepala Satpol", "SATPOL_PP")
    answers = {
        "a.segel_pintu_utuh": "tidak",
        "a.jumlah_kotak_suara": 350.0,
        "a.kondisi_listrik": "padam_sebagian",
        "p.foto_segel_pintu": ["1" * 64, "2" * 64, "3" * 64],
    }
    record = inspection(
        template_id=template.id,
        inspector_id="p0",
        co_inspectors=[*officers][1:],
        findings=["segel_pintu_utuh"],
        status="reviewed",
        reviewed_by="kasat",
        reviewed_at="2026-02-09T03:00:00.000Z",
        **answers,
    )
    counts = [
        Record(
            id="sc1",
            collection="stock_counts",
            warehouse_id="gd-uji",
            revision=3,
            fields={"item_type": "kotak_suara", "expected": 356, "counted": 350, "damaged_light": 2},
            field_revs={},
            field_hlcs={},
        )
    ]
    photos = [
        report_pdf.Photo(label="Foto segel", sha256="1" * 64, paths=(tmp_path / "thumb-missing.jpg", photo)),
        report_pdf.Photo(label="Foto rusak", sha256="2" * 64, paths=(not_an_image,)),
        report_pdf.Photo(label="Belum diunggah", sha256="3" * 64),
    ]
    pdf = report_pdf.render(
        report_input(
            record,
            template=template,
            people=officers,
            stock_counts=counts,
            photos=photos,
            stock_items={"kotak_suara": StockItemType(code="kotak_suara", name="Kotak suara", unit="buah")},
        )
    )
    assert_well_formed(pdf)
    assert pages(pdf) >= 3
    assert len(re.findall(rb"/Subtype /Image", pdf)) == 1
    assert_contains(
        pdf,
        text_in(items["segel_pintu_utuh"].label),
        "TEMUAN",
        f"350 {text_in(items['jumlah_kotak_suara'].unit)}",
        "padam sebagian",
        "3 foto (lampiran)",
        f"Sudah diperiksa {DASH} Kepala Satpol 9 Feb 2026 10.00 WIB",
        "Kotak suara (buah) 356 350 -6",
        "Foto tidak dapat dibaca",
        "Foto belum diunggah",
        *(f"Bripda Polisi Nomor {n}" for n in range(14)),
        report_pdf.NAME_BLANK if DEJAVU else report_pdf.to_latin1(report_pdf.NAME_BLANK),  # no TNI officer
    )
    image = next(s for h, s in pdf_objects(pdf).values() if b"/Subtype /Image" in h)
    assert image is not None and len(image) < 60_000  # a thumbnail, not the 1600 px original


def test_helpers() -> None:
    assert report_pdf.to_latin1("Ārya — “ok” …") == 'Arya - "ok" ...'
    assert report_pdf._letter(0) == "A" and report_pdf._letter(25) == "Z" and report_pdf._letter(26) == "AA"
    record = inspection(started_at="2026-02-09T20:00:00.000Z")  # 03.00 WIB the next day
    odd = Warehouse(id="gd-x", code="a_b", name="X")
    assert report_pdf.filename(record, odd, WIB) == "berita-acara-a_b-2026-02-10.pdf"
    assert report_pdf.filename(record, None, WIB) == "berita-acara-gd-uji-2026-02-10.pdf"
    assert report_pdf.photo_refs(inspection(photos=["../../etc/passwd", "a" * 64, "a" * 64]), None) == [
        ("Foto umum", "a" * 64)
    ]


def test_a_resubmitted_inspection_shows_its_current_state_only() -> None:
    """Sent back with a note, fixed and sent again: the berita acara says "Menunggu diperiksa",
    without the old note or the supervisor who wrote it, and "Mengetahui" is still open."""
    people = {"sup": person("sup", "Hendra Gunawan", "POLRI", "Iptu")}
    record = inspection(
        status="submitted",
        review_comment="Foto segel kurang jelas",
        reviewed_by="sup",
        report_number="BA/UJI/2026/0007",
    )
    pdf = report_pdf.render(report_input(record, people=people))
    assert_contains(
        pdf, "Nomor: BA/UJI/2026/0007", "Menunggu diperiksa", "Mengetahui", "(belum diperiksa pengawas)"
    )
    text = " ".join(texts(pdf))
    assert "Foto segel kurang jelas" not in text and "Hendra" not in text
