"""`GET /api/inspections/{inspection_id}/report.pdf`: the berita acara of one inspection as a PDF.

The same content as the supervisor view's printable page, made on the server (server/report_pdf.py,
fpdf2) so a supervisor can file or send it without a browser's print dialog. Guards as the
supervisor view's inspection detail: supervisors and admins only (403 forbidden), 404 not_found for
an unknown id, 403 out_of_scope for an inspection of a warehouse outside the caller's scope.

`X-Audit-Head` / `X-Audit-Head-Id` (also printed in the footer of every page) carry the audit log's
head read after the record: the revision printed is covered by the hash chain up to that entry, so
a paper copy can later be checked against a verified log. The layout runs in a worker thread: it
embeds a font and the photos' thumbnails (kept since their upload, never the originals), which
would otherwise stall every other request.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Literal

from litestar import Controller, Response, get
from litestar.datastructures import State
from litestar.openapi import ResponseSpec
from litestar.params import Parameter

from server import images, report_pdf
from server.api.attachments import stored_thumbnail
from server.api.supervisor import SUPERVISORS, settings_of
from server.auth import check_scope
from server.deps import ActorDep, StorageDep
from server.errors import ApiError
from server.images import ImageDecoder
from server.overview import templates_for
from server.storage import Storage
from sync.domain import Template
from sync.store import Record
from sync.vocabulary import Language


async def _photos(
    decoder: ImageDecoder, storage: Storage, record: Record, template: Template | None, lang: Language
) -> list[report_pdf.Photo]:
    """The inspection's photos with the file to read: the thumbnail kept since the upload (made
    once in the decoder's worker for a photo stored before), never the original, so a PDF cannot
    be made slow by a photo. A photo not uploaded yet has none; one that does not decode shows as
    unreadable."""
    photos = []
    for label, sha in report_pdf.photo_refs(record, template, lang):
        meta = await storage.attachment(sha)
        paths: tuple[Path, ...] = ()
        # Only a photo this record's warehouse may see (referenced by its uploader there): a hash
        # copied into the record from elsewhere shows as not uploaded.
        if meta is not None and record.warehouse_id in await storage.attachment_warehouses(sha):
            try:
                await stored_thumbnail(decoder, storage, meta)
            except ApiError as exc:
                if exc.status == 503:  # the decoder is busy: the PDF too, try again
                    raise
                # unreadable or gone: the annex says so
            paths = (images.thumbnail_path(storage.data_dir, sha),)
        photos.append(report_pdf.Photo(label=label, sha256=sha, paths=paths))
    return photos


class ReportPdfController(Controller):
    path = "/api/inspections"
    tags = ["supervisor"]  # noqa: RUF012
    guards = [SUPERVISORS]  # noqa: RUF012

    @get(
        "/{inspection_id:str}/report.pdf",
        media_type="application/pdf",
        responses={
            200: ResponseSpec(
                bytes,
                description="The berita acara as a PDF",
                media_type="application/pdf",
                generate_examples=False,
            )
        },
    )
    async def report_pdf(
        self,
        actor: ActorDep,
        storage: StorageDep,
        state: State,
        inspection_id: Annotated[str, Parameter(max_length=64)],
        lang: Annotated[Literal["id", "en"], Parameter(description="language of the report")] = "id",
    ) -> Response[bytes]:
        """The berita acara (official report) of an inspection as an A4 PDF, in Bahasa Indonesia
        (`lang=en`: English): its number, answers by template section, findings, stock counts,
        photo thumbnails, signature blocks of Polri, TNI, Pemda and the KPU witness, the reviewing
        supervisor's "Mengetahui", and the audit log's head at the time of printing."""
        record = (await storage.get_records([inspection_id])).get(inspection_id)
        if record is None or record.collection != "inspections":
            raise ApiError(404, "not_found", "Inspeksi tidak ditemukan", id=inspection_id)
        check_scope(actor, record.warehouse_id)
        template_id = str(record.fields.get("template_id", ""))
        template = (await templates_for(storage, [template_id])).get(template_id) if template_id else None
        counts = [
            r
            async for r in storage.iter_records([record.warehouse_id], ["stock_counts"])
            if r.fields.get("inspection_id") == inspection_id and not r.deleted
        ]
        settings = settings_of(state)
        data = report_pdf.ReportInput(
            record=record,
            template=template,
            warehouse=await storage.warehouse(record.warehouse_id),
            people={u.id: u for u in await storage.users()},
            stock_counts=counts,
            stock_items={i.code: i for i in await storage.stock_item_types()},
            photos=await _photos(state.images, storage, record, template, lang),
            audit_head=await storage.audit_head(record.warehouse_id),
            printed_at=datetime.now(UTC),
            tz=settings.tz,
            lang=lang,
        )
        pdf = await asyncio.to_thread(report_pdf.render, data)
        head = data.audit_head
        return Response(
            pdf,
            media_type="application/pdf",
            headers={
                "Content-Disposition": (
                    f'attachment; filename="{report_pdf.filename(record, data.warehouse, settings.tz)}"'
                ),
                "X-Audit-Head": head[1] if head else "",
                "X-Audit-Head-Id": str(head[0]) if head else "0",
                # The chain the head is of: this warehouse's (`tigapilar audit prove --warehouse`).
                "X-Audit-Chain": record.warehouse_id,
            },
        )
