"""Errors of the sync protocol, raised at the edge of the rule they protect.

    SyncError                 (code, message, HTTP status)
    ├── ProtocolMismatch      400 protocol_mismatch   unknown protocol version
    ├── UpgradeRequired       426 upgrade_required    schema too old to convert
    ├── UnknownSchema         400 unknown_schema      schema newer than this server
    ├── BatchInvalid          400 batch_invalid       numbering inside a batch is not 1, 2, 3...
    ├── ClockAhead            400 clock_ahead         a stamp is far ahead of the server's clock
    ├── SequenceGap           409 sequence_gap        the batch skips mutation numbers
    └── ClientMismatch        403 client_mismatch     client id belongs to another user

A `Rejection` is not an HTTP error: it refuses one mutation, which is answered "rejected" while the
rest of the batch goes on.
"""

from __future__ import annotations

from typing import Any


class SyncError(Exception):
    status = 400
    code = "sync_error"

    def __init__(self, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra


class ProtocolMismatch(SyncError):
    code = "protocol_mismatch"


class UpgradeRequired(SyncError):
    status = 426
    code = "upgrade_required"


class UnknownSchema(SyncError):
    code = "unknown_schema"


class BatchInvalid(SyncError):
    code = "batch_invalid"


class ClockAhead(SyncError):
    """A mutation's clock stamp is further ahead of the server's clock than MAX_CLOCK_AHEAD_MS:
    the phone's date is wrong. Accepting it would let that phone's edits win every last-writer-wins
    field until real time caught up, and pull the server's clock (and every phone's) forward."""

    code = "clock_ahead"


class SequenceGap(SyncError):
    status = 409
    code = "sequence_gap"


class ClientMismatch(SyncError):
    status = 403
    code = "client_mismatch"


class Rejection(Exception):
    """A domain rule refuses one mutation."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
