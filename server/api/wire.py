"""Sync messages decoded straight from the request bytes; no NUL and no deep nesting in any JSON body.

Litestar's default for `data: PushRequest` decodes the JSON body into dicts and lists, then converts
those into the Struct: two passes over a body that holds up to 2,000 mutations, about a tenth of the
server's CPU on a 1,000-mutation push. `WireBody[PushRequest]` (a handler's `dto=`) decodes once,
with a msgspec Decoder made per type, and documents the body in OpenAPI exactly as the Struct.
Errors read as Litestar's own: a malformed body is 400 `malformed_json`, a wrong value 400
`invalid_request` with the path (server.errors).

No text may hold U+0000 (NUL): PostgreSQL refuses it in `text` columns (a 500 there) and on SQLite
it cuts strings short in many tools. `refuse_nul` answers 400 `invalid_text` for a JSON body that
escapes one, before the body is decoded: for push and pull in `WireBody`, for every other JSON body
in `JsonRequest` (the app's `request_class`). Raw uploads (photos) are bytes and not checked.

Nesting is limited to MAX_DEPTH (64) levels, also before decoding (`nesting_deeper_than`, a scan
of the raw bytes, not a recursive parse): decoders recurse, and a body nested a thousand deep made
them run out of stack (a 500). Deeper bodies are 400 `invalid_request`, in the same two places.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any, Generic, TypeVar

import msgspec
from litestar import Request
from litestar.dto import AbstractDTO
from litestar.dto._backend import DTOBackend
from litestar.dto.data_structures import DTOFieldDefinition
from litestar.exceptions import ClientException, SerializationException, ValidationException
from litestar.openapi.spec import Reference, Schema
from litestar.typing import FieldDefinition

from server.errors import ApiError

T = TypeVar("T")

_NUL = b"\\u0000"
_ESCAPED_BACKSLASH = b"\\\\"


def has_nul(body: bytes) -> bool:
    """Whether JSON text `body` holds a U+0000, without decoding it. JSON can only spell NUL
    `\\u0000` (a raw control character is not JSON), but those six bytes may also be an escaped
    backslash followed by the text "u0000" (`\\\\u0000`). Escapes are read left to right, so
    dropping every `\\\\` pair (bytes.replace pairs a run of backslashes from its left, as a JSON
    reader does) leaves `\\u0000` only where it is a NUL. C-speed scans only, whatever the body
    holds (no per-character Python loop on a 1 MB push); a single one for the usual body."""
    return _NUL in body and _NUL in body.replace(_ESCAPED_BACKSLASH, b"")


def refuse_nul(body: bytes) -> None:
    if has_nul(body):
        raise ApiError(400, "invalid_text", "Teks tidak boleh berisi karakter NUL (U+0000)")


MAX_DEPTH = 64
"""Deepest nesting of arrays and objects a JSON body may have (the deepest the API uses is 5)."""
_BRACKETS = bytes.maketrans(b"[{]}", b"(())")
_NOT_QUOTES_OR_BRACKETS = bytes(b for b in range(256) if b not in b'"[]{}')


def _brackets_outside_strings(body: bytes) -> bytes:
    """The brackets of JSON text that are not inside its strings, as `(` and `)`. With every escaped
    backslash and then every escaped quote dropped (escapes read left to right, as in has_nul), the
    quotes left are exactly the strings' delimiters; of the quotes and brackets alone, every other
    piece between quotes is outside a string."""
    unescaped = body.replace(_ESCAPED_BACKSLASH, b"").replace(b'\\"', b"")
    pieces = unescaped.translate(None, _NOT_QUOTES_OR_BRACKETS).split(b'"')
    return b"".join(pieces[::2]).translate(_BRACKETS)


def nesting_deeper_than(body: bytes, limit: int = MAX_DEPTH) -> bool:
    """Whether JSON text `body` nests arrays and objects more than `limit` deep, found from the raw
    bytes before any decoder recurses into them (msgspec and PyYAML run out of stack near 1,000).

    Strings are cut out (a bracket inside one is text), every other byte but brackets dropped, and
    brackets made one kind: `(` and `)`. Then, at most `limit` times, every innermost pair `()` is
    removed: a pass removes the leaves of every nesting, so whatever is left after `limit` passes
    was nested deeper than `limit`; a run of more than `limit` openers says so at once. Every step
    is a C-speed bytes operation (no per-character Python loop); a body with at most `limit`
    openers in all is not scanned. Unbalanced brackets are left to the decoder (malformed, not
    deep)."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    brackets = _brackets_outside_strings(body)
    if brackets.count(b"(") != brackets.count(b")"):
        return False
    too_deep = b"(" * (limit + 1)
    for _ in range(limit):
        if not brackets:
            return False
        if too_deep in brackets:
            return True
        brackets = brackets.replace(b"()", b"")
    return bool(brackets)


def refuse_deep_nesting(body: bytes) -> None:
    if nesting_deeper_than(body):
        raise ApiError(
            400,
            "invalid_request",
            f"JSON bersarang lebih dari {MAX_DEPTH} tingkat",
            max_depth=MAX_DEPTH,
        )


def check_json_body(body: bytes) -> None:
    """What every JSON body must pass before it is decoded: no NUL, nesting at most MAX_DEPTH."""
    refuse_nul(body)
    refuse_deep_nesting(body)


class JsonRequest(Request[Any, Any, Any]):
    """The app's request class: JSON bodies decoded by Litestar (`data: JSONBody[...]`) go through
    `json()`, which refuses NUL first. `body()` (photos, template uploads) is left as it is."""

    async def json(self) -> Any:
        check_json_body(await self.body())
        return await super().json()


_decoders: dict[Any, msgspec.json.Decoder[Any]] = {}


def _decoder(model_type: Any) -> msgspec.json.Decoder[Any]:
    decoder = _decoders.get(model_type)
    if decoder is None:
        decoder = _decoders[model_type] = msgspec.json.Decoder(model_type)
    return decoder


class WireBody(AbstractDTO[T], Generic[T]):
    """A request-body DTO that is only a msgspec Decoder: no transfer model, no field renaming."""

    def decode_bytes(self, value: bytes) -> Any:
        check_json_body(value)
        try:
            return _decoder(self.model_type).decode(value)
        except msgspec.ValidationError as exc:
            raise ValidationException(
                detail=str(exc), extra=[{"message": str(exc), "key": "data", "source": "body"}]
            ) from exc
        except msgspec.DecodeError as exc:
            # The shape Litestar raises for a body that is not JSON (server.errors answers it).
            raise ClientException(str(exc)) from SerializationException(str(exc))

    def decode_builtins(self, value: dict[str, Any]) -> Any:
        try:
            return msgspec.convert(value, self.model_type)
        except msgspec.ValidationError as exc:
            raise ValidationException(
                detail=str(exc), extra=[{"message": str(exc), "key": "data", "source": "body"}]
            ) from exc

    @classmethod
    def create_for_field_definition(
        cls,
        field_definition: FieldDefinition,
        handler_id: str,
        backend_cls: type[DTOBackend] | None = None,
    ) -> None:
        if not field_definition.is_subclass_of(cls.model_type):
            raise TypeError(f"WireBody[{cls.model_type.__name__}] used for {field_definition.annotation}")

    @classmethod
    def create_openapi_schema(
        cls, field_definition: FieldDefinition, handler_id: str, schema_creator: Any
    ) -> Reference | Schema:
        schema: Reference | Schema = schema_creator.for_field_definition(field_definition)
        return schema

    @classmethod
    def generate_field_definitions(cls, model_type: type[Any]) -> Generator[DTOFieldDefinition, None, None]:
        yield from ()  # no transfer model: the Struct is the wire format

    @classmethod
    def detect_nested_field(cls, field_definition: FieldDefinition) -> bool:
        return False
