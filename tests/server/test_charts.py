"""The findings chart folds the findings the sync core recorded at submission per checklist
section, one bar per section across the checklist's versions."""

from __future__ import annotations

from datetime import date, timedelta, timezone

from server import reports
from server.seed import load_templates
from sync.store import Record

WIB = timezone(timedelta(hours=7))


def inspection(n: int, template_id: str, findings: list[str], status: str = "submitted") -> Record:
    return Record(
        id=f"insp-{n}",
        collection="inspections",
        warehouse_id="gd-johar-baru",
        revision=2,
        fields={
            "template_id": template_id,
            "status": status,
            "submitted_at": "2026-12-05T03:00:00Z",
            "inspector_agency": "POLRI",
            "findings": findings,
        },
        field_revs={},
        field_hlcs={},
    )


def test_findings_per_section_across_checklist_versions() -> None:
    templates = {t.id: t for t in load_templates()}
    v1, v2 = sorted(templates.values(), key=lambda t: t.version)[:2]
    assert v1.code == v2.code and v1.version < v2.version
    first_v1 = v1.sections[0]
    first_v2 = next(s for s in v2.sections if s.code == first_v1.code)
    last_v2 = v2.sections[-1]
    records = [
        inspection(1, v1.id, [first_v1.items[0].code]),
        inspection(2, v2.id, [first_v2.items[0].code, last_v2.items[0].code], status="reviewed"),
        inspection(3, v2.id, [last_v2.items[0].code], status="draft"),  # not submitted: not counted
    ]
    chart = reports.charts(records, templates, start=date(2026, 12, 1), end=date(2026, 12, 7), tz=WIB)
    bars = [(s.template_id, s.section, s.title, s.count) for s in chart.findings_by_section]
    assert bars == [
        (v2.id, first_v2.code, first_v2.title, 2),
        (v2.id, last_v2.code, last_v2.title, 1),
    ]
