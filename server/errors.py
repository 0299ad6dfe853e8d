"""Errors answered by the HTTP API, always as JSON `{"code": ..., "message": ..., **extra}`.

    ApiError(status, code, message, **extra)    raised by our handlers and guards
    sync.errors.SyncError                       raised by the sync engine (.status/.code/.message/.extra)
    StorageUnavailable                          503 storage_unavailable with Retry-After: disk full,
                                                read-only or unreadable database (nothing was written)
    litestar HTTPException family               mapped to stable codes below
    anything else                               500 internal_error, logged, no details

`code` is stable and meant for programs; `message` is for people (Bahasa Indonesia where the
phone shows it, msgspec's English for validation details with the path of the bad value).
"""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request, Response
from litestar.exceptions import (
    HTTPException,
    MethodNotAllowedException,
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
    SerializationException,
    ValidationException,
)
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.types import ExceptionHandlersMap
from msgspec import Struct

from server.storage.base import StorageUnavailable
from sync.errors import SyncError

log = logging.getLogger("tigapilar.errors")

STORAGE_RETRY_AFTER_S = 30
"""How long a client is asked to wait when the database cannot take writes (disk full, read-only)."""


class ErrorBody(Struct, kw_only=True):
    """Every error answer: a stable `code` for programs and a `message` for people, plus fields
    particular to the error (`errors`, `expected_seq`, `retry_after`...). Documented in the OpenAPI
    schema for every error status of every endpoint (server.app.document_errors)."""

    code: str
    message: str


ERROR_STATUSES: dict[int, str] = {
    400: "Malformed or invalid request (`malformed_json`, `invalid_request` with the path of the bad value, "
    "`invalid_text` for a string holding U+0000, `clock_ahead` for a phone whose date is wrong)",
    401: "No valid token (`unauthorized`) or bad credentials",
    403: "Role or warehouse scope does not allow it (`forbidden`, `out_of_scope`)",
    404: "Not found",
    409: "Conflicts with the current state (`sequence_gap`, `username_taken`...)",
    413: "Request body too large (`body_too_large`)",
    415: "Unsupported content (`unsupported_type`, `unreadable_image`)",
    422: "Stored content cannot be processed",
    426: "Client schema too old (`upgrade_required`)",
    429: "Too many failed logins (`too_many_attempts`, with Retry-After)",
    503: "Database cannot take writes now (`storage_unavailable`, with Retry-After)",
}


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None, **extra: Any
) -> Response[dict[str, Any]]:
    return Response(
        {"code": code, "message": message, **extra},
        status_code=status,
        headers=headers,
        media_type="application/json",
    )


def _api_error(_: Request[Any, Any, Any], exc: ApiError) -> Response[dict[str, Any]]:
    headers = {"Retry-After": str(exc.extra["retry_after"])} if "retry_after" in exc.extra else None
    if exc.status == 401:
        headers = {**(headers or {}), "WWW-Authenticate": "Bearer"}
    return error_response(exc.status, exc.code, exc.message, headers=headers, **exc.extra)


def _sync_error(_: Request[Any, Any, Any], exc: SyncError) -> Response[dict[str, Any]]:
    return error_response(exc.status, exc.code, exc.message, **exc.extra)


def _storage_unavailable(
    request: Request[Any, Any, Any], exc: StorageUnavailable
) -> Response[dict[str, Any]]:
    """The operation rolled back; the client keeps its data (a phone keeps its outbox) and retries."""
    log.error("storage unavailable on %s %s: %s", request.method, request.url.path, exc)
    return error_response(
        503,
        "storage_unavailable",
        "Penyimpanan server sedang tidak dapat menulis; data Anda aman di perangkat, coba lagi nanti",
        headers={"Retry-After": str(STORAGE_RETRY_AFTER_S)},
        retry_after=STORAGE_RETRY_AFTER_S,
    )


def _validation(_: Request[Any, Any, Any], exc: ValidationException) -> Response[dict[str, Any]]:
    """Litestar's validation errors, with msgspec's path restored: "... - at `$.mutations[3].seq`"."""
    errors: list[dict[str, Any]] = []
    if isinstance(exc.extra, list):
        errors = [e for e in exc.extra if isinstance(e, dict)]
    elif isinstance(exc.extra, dict):
        errors = [exc.extra]
    for error in errors:
        key, source = error.get("key"), error.get("source")
        if source == "body" and key == "data" and error.get("message") == "'data'":
            return error_response(400, "missing_body", "Request body is required", errors=[])
        if source == "body" and isinstance(key, str) and " - at `$" not in str(error.get("message")):
            error["message"] = f"{error.get('message')} - at `{'$' if key == 'data' else '$.' + key}`"
    message = str(errors[0].get("message")) if errors and errors[0].get("message") else str(exc.detail)
    return error_response(400, "invalid_request", message, errors=errors)


_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "body_too_large",
    415: "unsupported_media_type",
    429: "too_many_requests",
}


def _http(_: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, Any]]:
    status = exc.status_code
    if isinstance(exc.__cause__, SerializationException):
        return error_response(400, "malformed_json", str(exc.detail))
    if status >= 500:
        log.error("HTTP %s: %s", status, exc.detail, exc_info=exc)
        return error_response(
            status, "internal_error" if status == 500 else "unavailable", "Kesalahan server"
        )
    return error_response(status, _CODES.get(status, f"http_{status}"), str(exc.detail), headers=exc.headers)


def _unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal_error", "Terjadi kesalahan pada server")


def _with_code(status: int, code: str, message: str) -> Any:
    def handler(_: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, Any]]:
        return error_response(status, code, message, headers=exc.headers)

    return handler


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    ApiError: _api_error,
    SyncError: _sync_error,
    StorageUnavailable: _storage_unavailable,
    ValidationException: _validation,
    NotAuthorizedException: _with_code(401, "unauthorized", "Silakan masuk terlebih dahulu"),
    PermissionDeniedException: _with_code(403, "forbidden", "Tidak diizinkan"),
    NotFoundException: _with_code(404, "not_found", "Tidak ditemukan"),
    MethodNotAllowedException: _with_code(405, "method_not_allowed", "Metode tidak diizinkan"),
    RequestEntityTooLarge: _with_code(413, "body_too_large", "Isi permintaan terlalu besar"),
    HTTPException: _http,
    Exception: _unexpected,
}
