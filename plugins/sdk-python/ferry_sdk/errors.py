"""Errors: the contract's `connector-error` variant as one exception type.

Raise a `ConnectorError` from any operation and the host receives the
matching variant; the engine acts on its kind (retry a transient error,
wait out a rate limit, report an invalid field, ...).
"""

from __future__ import annotations

from typing import Optional

#: The kinds of `connector-error`, as the contract names them.
KINDS = (
    "not-found",
    "invalid",
    "unauthorized",
    "rate-limited",
    "conflict",
    "transient",
    "unsupported",
    "vendor",
)


class ConnectorError(Exception):
    """Why an operation failed, in terms the engine can act on.

    Build one with the constructors (`ConnectorError.not_found(...)`,
    `.invalid(field, message)`, `.rate_limited(retry_after_ms, message)`,
    `.vendor(code, message, http_status)`, `.from_status(status, message)`,
    ...) and raise it.
    """

    def __init__(
        self,
        kind: str,
        message: str,
        *,
        field: str = "",
        retry_after_ms: Optional[int] = None,
        code: str = "",
        http_status: int = 0,
    ) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown connector error kind `{kind}` (one of: {', '.join(KINDS)})")
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.field = field
        self.retry_after_ms = retry_after_ms
        self.code = code
        self.http_status = http_status

    def __repr__(self) -> str:
        extra = ""
        if self.kind == "invalid":
            extra = f", field={self.field!r}"
        elif self.kind == "rate-limited":
            extra = f", retry_after_ms={self.retry_after_ms!r}"
        elif self.kind == "vendor":
            extra = f", code={self.code!r}, http_status={self.http_status!r}"
        return f"ConnectorError({self.kind!r}, {self.message!r}{extra})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ConnectorError) and repr(self) == repr(other)

    __hash__ = Exception.__hash__

    @staticmethod
    def not_found(message: str) -> "ConnectorError":
        """The record (or module) does not exist."""
        return ConnectorError("not-found", message)

    @staticmethod
    def invalid(field: str, message: str) -> "ConnectorError":
        """The input was refused; names the field (empty when unknown)."""
        return ConnectorError("invalid", message, field=field)

    @staticmethod
    def unauthorized(message: str) -> "ConnectorError":
        """Credentials are missing, expired, revoked or lack a scope."""
        return ConnectorError("unauthorized", message)

    @staticmethod
    def rate_limited(retry_after_ms: Optional[int], message: str) -> "ConnectorError":
        """Too many requests; `retry_after_ms` when the vendor said."""
        return ConnectorError("rate-limited", message, retry_after_ms=retry_after_ms)

    @staticmethod
    def conflict(message: str) -> "ConnectorError":
        """The write conflicts with existing data (a duplicate name, say)."""
        return ConnectorError("conflict", message)

    @staticmethod
    def transient(message: str) -> "ConnectorError":
        """A passing failure: the same call may succeed later."""
        return ConnectorError("transient", message)

    @staticmethod
    def unsupported(what: str) -> "ConnectorError":
        """The module or operation is not supported."""
        return ConnectorError("unsupported", what)

    @staticmethod
    def vendor(code: object, message: str, http_status: int = 0) -> "ConnectorError":
        """Anything else the vendor said."""
        return ConnectorError("vendor", message, code=str(code), http_status=http_status)

    @staticmethod
    def from_status(status: int, message: str) -> "ConnectorError":
        """A generic mapping from an HTTP status, for vendors without a
        richer error body: 401/403 unauthorized, 404 not found, 409
        conflict, 429 rate limited, 5xx transient, other 4xx vendor."""
        if status in (401, 403):
            return ConnectorError.unauthorized(message)
        if status == 404:
            return ConnectorError.not_found(message)
        if status == 409:
            return ConnectorError.conflict(message)
        if status == 429:
            return ConnectorError.rate_limited(None, message)
        if 500 <= status <= 599:
            return ConnectorError.transient(message)
        return ConnectorError.vendor(status, message, status)

    @staticmethod
    def from_http(kind: str, detail: object) -> "ConnectorError":
        """The host did not deliver a response (`http-error`). Timeouts and
        dropped connections are worth retrying later; refusals by the
        host's policy are not."""
        if kind == "timeout":
            return ConnectorError.transient(f"timed out: {detail}")
        if kind == "connection":
            return ConnectorError.transient(f"connection failed: {detail}")
        if kind == "unauthorized":
            return ConnectorError.unauthorized(str(detail))
        if kind == "denied":
            return ConnectorError.vendor("denied", f"request denied by the host: {detail}", 0)
        if kind == "invalid-request":
            return ConnectorError.vendor("invalid-request", str(detail), 0)
        if kind == "too-large":
            return ConnectorError.vendor("too-large", f"response larger than {detail} bytes", 0)
        return ConnectorError.vendor(kind, str(detail), 0)
