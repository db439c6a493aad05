"""The seam between the SDK and the host.

Inside a component (built by componentize-py) this calls the contract's
imports, `ferry:connector/http` and `ferry:connector/log`. Run natively
(unit tests with CPython) there are no such imports: calls go to the fake
host `ferry_sdk.testing` installs, or fail with a clear message.
"""

from __future__ import annotations

from typing import List, Optional, Tuple

from .errors import ConnectorError

try:  # Inside a component: the bindings componentize-py generates.
    from wit_world.imports import http as _wit_http
    from wit_world.imports import log as _wit_log
    from componentize_py_types import Err as _Err

    IN_COMPONENT = True
except ImportError:  # Natively: see `ferry_sdk.testing`.
    IN_COMPONENT = False

Headers = List[Tuple[str, str]]

#: The fake host of native tests (`ferry_sdk.testing.FakeHost`), if any.
fake = None

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
LEVELS = ("trace", "debug", "info", "warn", "error")


def send(
    method: str, url: str, headers: Headers, body: Optional[bytes], idempotent: bool
) -> Tuple[int, Headers, bytes]:
    """Send one request through the host: (status, headers, body), or a
    `ConnectorError` when the host delivered no response."""
    if method not in METHODS:
        raise ValueError(f"unknown HTTP method `{method}` (one of: {', '.join(METHODS)})")
    if IN_COMPONENT:
        request = _wit_http.Request(
            method=_wit_http.Method[method],
            url=url,
            headers=list(headers),
            body=body,
            idempotent=idempotent,
        )
        try:
            response = _wit_http.send(request)
        except _Err as e:
            raise _http_error(e.value) from None
        return response.status, list(response.headers), bytes(response.body)
    if fake is None:
        raise ConnectorError.from_http(
            "denied", "no host: run inside Ferry, or install a `ferry_sdk.testing.FakeHost`"
        )
    return fake.send(method, url, headers, body, idempotent)


def _http_error(value) -> ConnectorError:
    # `HttpError_Denied` -> `denied`, `HttpError_InvalidRequest` -> `invalid-request`, ...
    name = type(value).__name__.split("_", 1)[-1]
    kind = "".join("-" + c.lower() if c.isupper() else c for c in name).lstrip("-")
    return ConnectorError.from_http(kind, value.value)


def log(level: str, message: str) -> None:
    """One line into the host's log (tagged there with plugin and connection)."""
    if level not in LEVELS:
        raise ValueError(f"unknown log level `{level}` (one of: {', '.join(LEVELS)})")
    if IN_COMPONENT:
        _wit_log.write(_wit_log.Level[level.upper()], message)
    elif fake is not None:
        fake.log(level, message)
