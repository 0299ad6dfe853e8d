"""Sync messages decoded straight from the request bytes, and no NUL in any JSON body.

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


class JsonRequest(Request[Any, Any, Any]):
    """The app's request class: JSON bodies decoded by Litestar (`data: JSONBody[...]`) go through
    `json()`, which refuses NUL first. `body()` (photos, template uploads) is left as it is."""

    async def json(self) -> Any:
        refuse_nul(await self.body())
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
        refuse_nul(value)
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
