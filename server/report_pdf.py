"""The berita acara (official report) of one inspection as a PDF, laid out with fpdf2.

The same content as the supervisor view's printable page (static/supervisor/js/views/print.js), in
Bahasa Indonesia or English, in the words of sync/vocabulary.py: heading with the berita acara
number, opening sentence, warehouse, shift, times, inspector and co-inspectors with their agencies,
the current state and its note only, each template section with numbered items and answers (with
units), findings, summary and notes, the stock counts (expected vs counted, difference), a photo
annex of small thumbnails, the signatures of the three pillars and the KPU witness, the
"Mengetahui" block of the reviewing supervisor, and on every page a footer with the record's
revision and the audit log's head at the time of printing.

Pure and blocking: `render()` takes everything it shows (the API layer reads it from storage) and
reads only the photo files it is given; call it in a worker thread (`asyncio.to_thread`).

Fonts never come from the network: DejaVu Sans where Debian's fonts-dejavu-core has put it (every
character of Bahasa Indonesia and names with diacritics), otherwise fpdf2's built-in Helvetica, with
text transliterated to Latin-1 (— to -, … to ..., ā to a) so nothing can fail to encode.
"""

from __future__ import annotations

import io
import logging
import re
import unicodedata
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any

from fpdf import FPDF
from fpdf.enums import XPos, YPos
from fpdf.fonts import FontFace

from server.models import StockItemType, User, Warehouse
from server.reports import parse_time
from server.words import agency_label, answer_text, number_text, warehouse_address
from sync.domain import Template, answer_field, text_in
from sync.store import Record
from sync.vocabulary import Language, word
from sync.vocabulary import zone_name as vocabulary_zone

DEJAVU_DIR = Path("/usr/share/fonts/truetype/dejavu")
UNICODE_FONTS = (DEJAVU_DIR / "DejaVuSans.ttf", DEJAVU_DIR / "DejaVuSans-Bold.ttf")
"""Regular and bold; without the regular one the core Helvetica is used, without the bold one the
regular face stands in for it."""
UNICODE_FAMILY, CORE_FAMILY = "DejaVu", "Helvetica"

MAX_PHOTOS = 48
"""Thumbnails in the annex; more are counted, not shown (the annex stays a few pages)."""
THUMB_PX = 320
"""Longest edge of an embedded thumbnail (as the attachments endpoint's): ~200 dpi at the 40 mm it is
printed, some 15 KB as JPEG."""
SHA256 = re.compile(r"^[0-9a-f]{64}$")

# fpdf2 subsets the embedded font with fontTools, which logs dozens of INFO lines for every PDF.
logging.getLogger("fontTools").setLevel(logging.WARNING)

# -- words: the shared vocabulary (sync/vocabulary.py); only calendar names are the PDF's own -------
NAME_BLANK = word("report.name_blank")
DAYS = {
    "id": ("Senin", "Selasa", "Rabu", "Kamis", "Jumat", "Sabtu", "Minggu"),
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
}
MONTHS = {
    "id": ("Januari", "Februari", "Maret", "April", "Mei", "Juni", "Juli", "Agustus", "September",
           "Oktober", "November", "Desember"),
    "en": ("January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November", "December"),
}  # fmt: skip
MONTHS_SHORT = {
    "id": ("Jan", "Feb", "Mar", "Apr", "Mei", "Jun", "Jul", "Agu", "Sep", "Okt", "Nov", "Des"),
    "en": ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"),
}
STOCK_HEADS = (
    "report.stock_item",
    "report.expected",
    "report.counted",
    "report.difference",
    "report.damaged",
)
PILLARS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("report.pillar.polri", ("POLRI",)),
    ("report.pillar.tni", ("TNI",)),
    ("report.pillar.pemda", ("SATPOL_PP", "DISHUB", "FKDM")),
)

# Latin-1 stand-ins for the core font (anything else decomposes to its base letter, or becomes "?").
_ASCII = {"—": "-", "–": "-", "‒": "-", "−": "-", "…": "...", "‘": "'", "’": "'", "‚": ",", "“": '"',
          "”": '"', "„": '"', "•": "-", "↔": "<->", "→": "->", "←": "<-", "✓": "v",
          "\u00a0": " "}  # fmt: skip
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028\u2029\ufeff]")


# -- input -------------------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class Photo:
    label: str
    sha256: str
    paths: tuple[Path, ...] = ()
    """Files to try in order (the cached thumbnail, then the original); none: not on the server."""


@dataclass(frozen=True, kw_only=True)
class ReportInput:
    record: Record
    template: Template | None
    warehouse: Warehouse | None
    people: Mapping[str, User]
    stock_counts: Sequence[Record]
    stock_items: Mapping[str, StockItemType]
    photos: Sequence[Photo]
    audit_head: tuple[int, str] | None
    printed_at: datetime
    tz: tzinfo
    lang: Language = "id"


def photo_refs(record: Record, template: Template | None, lang: Language = "id") -> list[tuple[str, str]]:
    """(caption, sha256) of every photo of the inspection, by template order, each photo once."""
    found: dict[str, str] = {}
    for item in template.items() if template else []:
        if item.kind == "photo":
            for sha in _strings(record.fields.get(answer_field(item))):
                found.setdefault(sha, text_in(item.label, lang))
    for sha in _strings(record.fields.get("photos")):
        found.setdefault(sha, word("field.inspections.photos", lang))
    return [(label, sha) for sha, label in found.items() if SHA256.match(sha)]


def inspection_time(record: Record) -> datetime:
    """When the inspection took place: started, else submitted, else received by the server."""
    f = record.fields
    for value in (f.get("started_at"), f.get("submitted_at"), record.created_at):
        moment = parse_time(value)
        if moment is not None:
            return moment
    return datetime.now(UTC)


def filename(record: Record, warehouse: Warehouse | None, tz: tzinfo) -> str:
    code = warehouse.code if warehouse else record.warehouse_id
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", code).strip("-.") or "gudang"
    return f"berita-acara-{safe}-{inspection_time(record).astimezone(tz):%Y-%m-%d}.pdf"


# -- text --------------------------------------------------------------------------------------------
def _strings(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


def zone_name(tz: tzinfo) -> str:
    offset = (tz.utcoffset(None) or timedelta()).total_seconds() / 3600
    return vocabulary_zone(int(offset)) if offset.is_integer() else f"UTC{offset:+g}"


def local(value: Any, tz: tzinfo) -> datetime | None:
    moment = value if isinstance(value, datetime) else parse_time(value)
    return moment.astimezone(tz) if moment else None


def date_text(moment: datetime, lang: Language = "id") -> str:
    return f"{moment.day} {MONTHS[lang][moment.month - 1]} {moment.year}"


def datetime_text(value: Any, tz: tzinfo, lang: Language = "id") -> str:
    moment = local(value, tz)
    if moment is None:
        return str(value or "")
    month = MONTHS_SHORT[lang][moment.month - 1]
    return f"{moment.day} {month} {moment.year} {moment:%H.%M} {zone_name(tz)}"


def person_name(people: Mapping[str, User], user_id: Any) -> str:
    if not user_id:
        return "—"
    person = people.get(str(user_id))
    if person is None:
        return word("person.unknown")
    return f"{person.rank} {person.full_name}" if person.rank else person.full_name


def person_with_agency(
    people: Mapping[str, User], user_id: Any, agency: Any = None, lang: Language = "id"
) -> str:
    person = people.get(str(user_id)) if user_id else None
    named = agency_label(agency or (person.agency if person else ""), lang)
    return f"{person_name(people, user_id)} ({named})"


def to_latin1(text: str) -> str:
    """What the core fonts can show: Latin-1, with look-alikes for punctuation and base letters."""
    out = []
    for char in text:
        if ord(char) < 256:
            out.append(char)
        elif char in _ASCII:
            out.append(_ASCII[char])
        else:
            base = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
            out.append(base if base and all(ord(c) < 256 for c in base) else "?")
    return "".join(out)


# -- the document ------------------------------------------------------------------------------------
def _is_truetype(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(4) in (b"\x00\x01\x00\x00", b"true")
    except OSError:
        return False


def available_fonts(candidates: Sequence[Path] | None = UNICODE_FONTS) -> tuple[Path, Path] | None:
    """(regular, bold) TrueType files that exist, or None: use the core Helvetica."""
    if not candidates or not _is_truetype(candidates[0]):
        return None
    regular = candidates[0]
    bold = candidates[1] if len(candidates) > 1 and _is_truetype(candidates[1]) else regular
    return regular, bold


class _Document(FPDF):
    def __init__(
        self, fonts: tuple[Path, Path] | None, footer_lines: Sequence[str], lang: Language = "id"
    ) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        self._footer_lines = list(footer_lines)
        self.lang: Language = lang
        self._glyphs: frozenset[int] | None = None
        self.face = CORE_FAMILY
        if fonts is not None:
            try:
                self.add_font(UNICODE_FAMILY, "", str(fonts[0]))
                self.add_font(UNICODE_FAMILY, "B", str(fonts[1]))
            except Exception:  # an unreadable or odd font file: the core font always works
                self.fonts.pop(UNICODE_FAMILY.lower(), None)
                self.fonts.pop(UNICODE_FAMILY.lower() + "B", None)
            else:
                self.face = UNICODE_FAMILY
                cmap = getattr(self.fonts[UNICODE_FAMILY.lower()], "cmap", None)
                self._glyphs = frozenset(cmap) if cmap else None
        self.set_margins(18, 15, 18)
        self.set_auto_page_break(True, margin=20)
        self.set_font(self.face, "", 9.5)

    @property
    def unicode(self) -> bool:
        return self.face == UNICODE_FAMILY

    def normalize_text(self, text: str) -> str:
        """Every text passes here: control characters out; what the font lacks replaced."""
        text = _CONTROL.sub("", text)
        if not self.unicode:
            text = to_latin1(text)
        elif self._glyphs is not None:
            text = "".join(c if ord(c) in self._glyphs or c in "\n\t" else "?" for c in text)
        return super().normalize_text(text)

    def footer(self) -> None:
        self.set_y(-16)
        self.set_font(self.face, "", 7)
        self.set_text_color(90)
        self.set_draw_color(160)
        self.line(self.l_margin, self.get_y() - 1, self.w - self.r_margin, self.get_y() - 1)
        for line in self._footer_lines:
            self.cell(0, 3.4, line, align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.cell(0, 3.4, word("report.page", self.lang, n=self.page_no(), total="{nb}"), align="C")
        self.set_text_color(0)
        self.set_draw_color(0)

    # -- building blocks
    @property
    def body_width(self) -> float:
        return float(self.w - self.l_margin - self.r_margin)

    def paragraph(
        self, text: str, *, size: float = 9.5, style: str = "", align: str = "J", h: float = 4.8
    ) -> None:
        self.set_font(self.face, style, size)
        self.multi_cell(0, h, text, align=align, new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def labelled(self, label: str, text: str) -> None:
        """ "Label: text" with the label bold, wrapped as one paragraph."""
        self.set_font(self.face, "B", 9.5)
        self.write(4.8, f"{label}: ")
        self.set_font(self.face, "", 9.5)
        self.write(4.8, text)
        self.ln(6)

    def heading(self, text: str, *, room: float = 30) -> None:
        """A section title, kept with at least `room` mm of what follows it."""
        if self.will_page_break(room):
            self.add_page()
        self.ln(2)
        self.set_font(self.face, "B", 10.5)
        self.multi_cell(0, 6, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.ln(0.5)


HEAD_STYLE = FontFace(emphasis="BOLD", fill_color=(230, 230, 230))
FINDING_STYLE = FontFace(emphasis="BOLD", fill_color=(253, 228, 228))
LABEL_STYLE = FontFace(emphasis="BOLD")


def render(data: ReportInput, *, fonts: Sequence[Path] | None = UNICODE_FONTS) -> bytes:
    """The PDF of one inspection. `fonts`: (regular, bold) TrueType files to prefer; None or missing
    files give the core Helvetica."""
    record, tz, lang = data.record, data.tz, data.lang
    head = data.audit_head
    printed = datetime_text(data.printed_at, tz, lang)
    footer = [
        word("report.footer", lang, at=printed, revision=record.revision),
        word("report.audit_head", lang, id=head[0], hash=head[1])
        if head
        else word("report.audit_empty", lang),
    ]
    pdf = _Document(available_fonts(fonts), footer, lang)
    warehouse_name = data.warehouse.name if data.warehouse else record.warehouse_id
    pdf.set_title(word("report.pdf_title", lang, warehouse=warehouse_name))
    pdf.set_author("Tiga Pilar")
    pdf.set_creator("Tiga Pilar")
    pdf.set_creation_date(data.printed_at)
    pdf.add_page()

    _header(pdf, record, lang)
    _intro(pdf, data, warehouse_name)
    _details(pdf, data, warehouse_name)
    findings = _sections(pdf, data)
    _findings(pdf, data, findings)
    _stock(pdf, data)
    _photos(pdf, data.photos, lang)
    pdf.ln(4)
    if pdf.will_page_break(50):  # the closing sentence stays with the first row of signatures
        pdf.add_page()
    pdf.paragraph(word("report.closing", lang))
    _signatures(pdf, data)
    _acknowledged(pdf, data)
    return bytes(pdf.output())


def _header(pdf: _Document, record: Record, lang: Language) -> None:
    pdf.paragraph(word("report.org", lang), size=8.5, style="B", align="C", h=4.5)
    pdf.ln(1)
    pdf.paragraph(word("report.title", lang), size=13, style="B", align="C", h=6.5)
    number = record.fields.get("report_number")
    pdf.paragraph(
        word("report.number", lang, number=number) if number else word("report.number_none", lang),
        size=9, style="B", align="C", h=4.8,
    )  # fmt: skip
    y = pdf.get_y() + 2
    pdf.set_line_width(0.6)
    pdf.line(pdf.l_margin, y, pdf.w - pdf.r_margin, y)
    pdf.set_line_width(0.2)
    pdf.set_y(y + 4)
    if record.deleted:
        pdf.set_text_color(170, 0, 0)
        pdf.paragraph(word("report.deleted", lang), style="B")
        pdf.set_text_color(0)


def _intro(pdf: _Document, data: ReportInput, warehouse_name: str) -> None:
    lang = data.lang
    when = inspection_time(data.record).astimezone(data.tz)
    address = warehouse_address(data.warehouse, lang) if data.warehouse else ""
    pdf.paragraph(
        word(
            "report.intro",
            lang,
            day=DAYS[lang][when.weekday()],
            date=date_text(when, lang),
            time=f"{when:%H.%M} {zone_name(data.tz)}",
            warehouse=warehouse_name,
            address=address,
        ).replace(", ,", ",")
    )
    pdf.ln(3)


def _details(pdf: _Document, data: ReportInput, warehouse_name: str) -> None:
    f, people, tz, lang = data.record.fields, data.people, data.tz, data.lang
    state = str(f.get("status") or "draft")
    status = word(f"status.inspections.{state}", lang)
    # The current state only: a note or reviewer of an earlier round ("perlu perbaikan", then
    # resubmitted) is not this report's; it stays in the audit trail.
    if state in ("reviewed", "needs_fix") and f.get("reviewed_by"):
        when = datetime_text(f.get("reviewed_at"), tz, lang) if state == "reviewed" else ""
        status += f" — {person_name(people, f['reviewed_by'])} {when}".rstrip()
    inspector = f.get("inspector_id")
    co_inspectors = [
        f"{person_with_agency(people, p, lang=lang)} — {confirmation_text(f, p, tz, lang)}"
        for p in _strings(f.get("co_inspectors"))
    ]
    shift = str(f.get("shift") or "")
    rows = [
        (word("report.warehouse", lang), warehouse_name),
        (word("report.shift", lang), word(f"shift.{shift}", lang) if shift else ""),
        (word("report.started", lang), datetime_text(f.get("started_at"), tz, lang)),
        (word("report.sent", lang), datetime_text(f.get("submitted_at"), tz, lang)),
        (
            word("field.inspections.inspector_id", lang),
            person_with_agency(people, inspector, f.get("inspector_agency"), lang) if inspector else "",
        ),
        (word("field.inspections.co_inspectors", lang), ", ".join(co_inspectors)),
        (word("report.state", lang), status),
    ]
    if state in ("reviewed", "needs_fix") and f.get("review_comment"):
        rows.append((word("report.review_note", lang), str(f["review_comment"])))
    pdf.set_font(pdf.face, "", 9)
    with pdf.table(
        col_widths=(42, pdf.body_width - 42), first_row_as_headings=False, text_align="LEFT", line_height=4.8
    ) as table:
        for label, value in rows:
            row = table.row()
            row.cell(label, style=LABEL_STYLE)
            row.cell(value or "—")


def _sections(pdf: _Document, data: ReportInput) -> list[str]:
    """One table per template section; returns the codes of the findings in template order."""
    f, lang = data.record.fields, data.lang
    findings = set(_strings(f.get("findings")))
    ordered: list[str] = []
    if data.template is None:
        pdf.heading(word("report.results", lang))
        pdf.paragraph(word("report.template_missing", lang, id=f.get("template_id") or ""))
        return sorted(findings)
    widths = (10.0, 94.0, 46.0, pdf.body_width - 150.0)
    for n, section in enumerate(data.template.sections):
        pdf.heading(f"{_letter(n)}. {text_in(section.title, lang)}")
        pdf.set_font(pdf.face, "", 9)
        with pdf.table(
            col_widths=widths,
            text_align=("CENTER", "LEFT", "LEFT", "CENTER"),
            headings_style=HEAD_STYLE,
            line_height=4.6,
        ) as table:
            heads = table.row()
            for key in ("report.no", "report.item", "report.result", "report.remark"):
                heads.cell(word(key, lang))
            for i, item in enumerate(section.items, 1):
                finding = item.code in findings
                if finding:
                    ordered.append(item.code)
                style = FINDING_STYLE if finding else None
                row = table.row()
                row.cell(str(i), style=style)
                row.cell(text_in(item.label, lang), style=style)
                row.cell(answer_text(item, f.get(answer_field(item)), lang), style=style)
                row.cell(word("report.finding", lang) if finding else "", style=style)
    return ordered + sorted(findings - set(ordered))


def _letter(n: int) -> str:
    """A, B, ... Z, AA, AB, ..."""
    text = ""
    n += 1
    while n:
        n, rest = divmod(n - 1, 26)
        text = chr(65 + rest) + text
    return text


def _findings(pdf: _Document, data: ReportInput, codes: Sequence[str]) -> None:
    f, people, lang = data.record.fields, data.people, data.lang
    labels = {item.code: text_in(item.label, lang) for item in data.template.items()} if data.template else {}
    pdf.heading(word("report.findings", lang), room=20)
    pdf.set_font(pdf.face, "", 9.5)
    if codes:
        for n, code in enumerate(codes, 1):
            pdf.set_x(pdf.l_margin)
            pdf.cell(8, 4.8, f"{n}.")
            pdf.multi_cell(0, 4.8, labels.get(code, code), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    else:
        pdf.paragraph(word("value.no_findings", lang))
    pdf.ln(1.5)
    if f.get("summary"):
        pdf.labelled(word("field.inspections.summary", lang), str(f["summary"]))
    notes = [n for n in f.get("notes") or [] if isinstance(n, dict) and n.get("text")]
    if notes:
        pdf.set_font(pdf.face, "B", 9.5)
        pdf.cell(0, 5, word("field.inspections.notes", lang), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        for note in notes:
            who = person_name(people, note.get("by")) if note.get("by") else "—"
            pdf.set_font(pdf.face, "", 9.5)
            pdf.cell(5, 4.8, "•")
            pdf.multi_cell(0, 4.8, f"{who}: {note['text']}", new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def _stock(pdf: _Document, data: ReportInput) -> None:
    if not data.stock_counts:
        return
    items = data.stock_items

    def order(r: Record) -> tuple[int, str]:
        code = str(r.fields.get("item_type", ""))
        return (items[code].sort_order if code in items else 1 << 30, code)

    lang = data.lang
    pdf.heading(word("report.stock", lang))
    pdf.set_font(pdf.face, "", 9)
    widths = (pdf.body_width - 99.0, 25.0, 22.0, 20.0, 32.0)
    with pdf.table(
        col_widths=widths,
        text_align=("LEFT", "RIGHT", "RIGHT", "RIGHT", "CENTER"),
        headings_style=HEAD_STYLE,
        line_height=4.6,
    ) as table:
        heads = table.row()
        for key in STOCK_HEADS:
            heads.cell(word(key, lang))
        for count in sorted(data.stock_counts, key=order):
            c = count.fields
            code = str(c.get("item_type", ""))
            item = items.get(code)
            expected, counted = c.get("expected"), c.get("counted")
            difference = _difference(expected, counted)
            style = FINDING_STYLE if difference not in ("0", "—") else None
            row = table.row()
            row.cell(f"{item.name} ({item.unit})" if item else code or "—", style=style)
            row.cell(number_text(expected) if expected is not None else "—", style=style)
            row.cell(number_text(counted) if counted is not None else "—", style=style)
            row.cell(difference, style=style)
            row.cell(f"{c.get('damaged_light') or 0} / {c.get('damaged_heavy') or 0}", style=style)


def _difference(expected: Any, counted: Any) -> str:
    numbers = (int, float)
    if not all(isinstance(v, numbers) and not isinstance(v, bool) for v in (expected, counted)):
        return "—"
    diff = counted - expected
    return f"+{number_text(diff)}" if diff > 0 else number_text(diff)


def _photos(pdf: _Document, photos: Sequence[Photo], lang: Language) -> None:
    if not photos:
        return
    pdf.heading(word("report.photo_annex", lang), room=50)
    per_row, gap = 4, 3.0
    cell_w = (pdf.body_width - gap * (per_row - 1)) / per_row
    box_h, caption_h = cell_w * 0.75, 7.0
    shown = photos[:MAX_PHOTOS]
    for start in range(0, len(shown), per_row):
        if pdf.will_page_break(box_h + caption_h + gap):
            pdf.add_page()
        top = pdf.get_y()
        for i, photo in enumerate(shown[start : start + per_row]):
            x = pdf.l_margin + i * (cell_w + gap)
            image = _thumbnail(photo.paths)
            if image is None:
                pdf.set_draw_color(170)
                pdf.rect(x, top, cell_w, box_h)
                pdf.set_xy(x, top + box_h / 2 - 2.5)
                pdf.set_font(pdf.face, "", 7.5)
                pdf.cell(
                    cell_w,
                    5,
                    word("report.photo_unreadable" if photo.paths else "report.photo_missing", lang),
                    align="C",
                )
                pdf.set_draw_color(0)
            else:
                data, width, height = image
                scale = min(cell_w / width, box_h / height)
                w, h = width * scale, height * scale
                pdf.image(io.BytesIO(data), x=x + (cell_w - w) / 2, y=top + (box_h - h) / 2, w=w, h=h)
            pdf.set_xy(x, top + box_h + 0.8)
            pdf.set_font(pdf.face, "", 7)
            caption = photo.label if len(photo.label) <= 70 else photo.label[:67] + "..."
            pdf.multi_cell(cell_w, 3, caption, align="C", max_line_height=3)
        pdf.set_xy(pdf.l_margin, top + box_h + caption_h + gap)
    if len(photos) > len(shown):
        pdf.paragraph(word("report.more_photos", lang, count=len(photos) - len(shown)), size=8.5)


def _thumbnail(paths: Iterable[Path]) -> tuple[bytes, int, int] | None:
    """A small JPEG of the first readable file (bytes, width, height), or None."""
    from PIL import Image, ImageOps

    for path in paths:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                with Image.open(path) as opened:
                    opened.draft("RGB", (THUMB_PX, THUMB_PX))
                    image = ImageOps.exif_transpose(opened) or opened
                    image.thumbnail((THUMB_PX, THUMB_PX))
                    out = io.BytesIO()
                    image.convert("RGB").save(out, "JPEG", quality=70)
                    return out.getvalue(), image.width, image.height
        except Exception:  # missing, truncated or not an image: Pillow raises many kinds
            continue
    return None


def confirmation_text(fields: dict[str, Any], user_id: str, tz: tzinfo, lang: Language = "id") -> str:
    """Whether and when a co-inspector confirmed taking part, from their own account and phone."""
    confirmations = fields.get("confirmations")
    entry = confirmations.get(user_id) if isinstance(confirmations, dict) else None
    if not isinstance(entry, dict):
        return word("report.not_confirmed", lang)
    return word("report.confirmed", lang, at=datetime_text(entry.get("at"), tz, lang)).rstrip()


def _signatures(pdf: _Document, data: ReportInput) -> None:
    f, people, lang = data.record.fields, data.people, data.lang
    inspector = str(f.get("inspector_id") or "")
    officers = [p for p in [inspector, *_strings(f.get("co_inspectors"))] if p]
    officers = list(dict.fromkeys(officers))

    def note_of(user_id: str) -> str:
        # Only a co-inspector who confirmed signs; one who did not is named as not confirmed.
        return "" if user_id == inspector else confirmation_text(f, user_id, data.tz, lang)

    def agency_of(user_id: str) -> str:
        person = people.get(user_id)
        if person is not None:
            return person.agency
        return str(f.get("inspector_agency", "")) if user_id == f.get("inspector_id") else ""

    columns: list[tuple[str, list[tuple[str, str, str]]]] = []
    for role, agencies in PILLARS:
        signers = [
            (person_name(people, p), agency_label(agency_of(p), lang), note_of(p))
            for p in officers
            if agency_of(p) in agencies
        ]
        blank = [(NAME_BLANK, " / ".join(agency_label(a, lang) for a in agencies), "")]
        columns.append((word(role, lang), signers or blank))
    witness = str(f.get("a.saksi_kpu") or "").strip() or NAME_BLANK
    columns.append((word("report.kpu_witness", lang), [(witness, agency_label("KPU", lang), "")]))

    pdf.ln(3)
    gap, sign_space, person_h = 4.0, 16.0, 25.0
    col_w = (pdf.body_width - gap * (len(columns) - 1)) / len(columns)
    rows = max(len(signers) for _, signers in columns)
    for r in range(rows):
        # Row by row, so a long list of co-inspectors goes on over pages with the roles repeated.
        first = r == 0 or pdf.will_page_break(person_h)
        if pdf.will_page_break(person_h + (10 if first else 0)):
            pdf.add_page()
        top = pdf.get_y()
        if first:
            for i, (role, _) in enumerate(columns):
                pdf.set_xy(pdf.l_margin + i * (col_w + gap), top)
                pdf.set_font(pdf.face, "B", 9)
                pdf.multi_cell(col_w, 4.5, role, align="C")
            top += 6
        bottom = top
        for i, (_, signers) in enumerate(columns):
            if r >= len(signers):
                continue
            name, agency, note = signers[r]
            x = pdf.l_margin + i * (col_w + gap)
            y = top + sign_space
            pdf.line(x + 3, y, x + col_w - 3, y)
            pdf.set_xy(x, y + 1)
            pdf.set_font(pdf.face, "", 8.5)
            pdf.multi_cell(col_w, 4, name, align="C", new_x=XPos.LEFT, new_y=YPos.NEXT)
            pdf.set_font(pdf.face, "", 7.5)
            pdf.multi_cell(col_w, 3.6, agency, align="C", new_x=XPos.LEFT, new_y=YPos.NEXT)
            if note:
                pdf.set_font(pdf.face, "", 7)
                pdf.multi_cell(col_w, 3.4, f"({note})", align="C", new_x=XPos.LEFT, new_y=YPos.NEXT)
            bottom = max(bottom, pdf.get_y())
        pdf.set_xy(pdf.l_margin, bottom + 2)


def _acknowledged(pdf: _Document, data: ReportInput) -> None:
    """ "Mengetahui": the supervisor who reviewed the inspection signs below the inspectors."""
    f, lang = data.record.fields, data.lang
    reviewed = f.get("status") == "reviewed" and f.get("reviewed_by")
    if pdf.will_page_break(34):
        pdf.add_page()
    pdf.ln(2)
    width = 70.0
    x = pdf.w - pdf.r_margin - width
    pdf.set_x(x)
    pdf.set_font(pdf.face, "B", 9)
    pdf.multi_cell(width, 4.5, word("report.acknowledged", lang), align="C", new_x=XPos.LEFT, new_y=YPos.NEXT)
    pdf.set_font(pdf.face, "", 8)
    pdf.multi_cell(width, 4, word("report.reviewer", lang), align="C", new_x=XPos.LEFT, new_y=YPos.NEXT)
    y = pdf.get_y() + 14
    pdf.line(x + 3, y, x + width - 3, y)
    pdf.set_xy(x, y + 1)
    pdf.set_font(pdf.face, "", 8.5)
    if reviewed:
        who = person_with_agency(data.people, f["reviewed_by"], lang=lang)
        pdf.multi_cell(width, 4, who, align="C", new_x=XPos.LEFT, new_y=YPos.NEXT)
        pdf.set_font(pdf.face, "", 7.5)
        when = datetime_text(f.get("reviewed_at"), data.tz, lang)
        pdf.multi_cell(width, 3.6, when, align="C", new_x=XPos.LEFT, new_y=YPos.NEXT)
    else:
        pdf.multi_cell(
            width, 4, word("report.not_reviewed", lang), align="C", new_x=XPos.LEFT, new_y=YPos.NEXT
        )
