"""Unit tests for connectors, natively with CPython: a fake host that
answers the connector's requests and keeps its log lines.

    host = FakeHost()
    host.reply("GET", "/orders", {"orders": [{"id": "1"}], "has_more": False})
    with host:
        page = Shop.configured({"base_url": "https://shop.test"}).list("orders", None, None)
    assert page.records == [{"id": "1"}]
    assert host.requests[0].url == "/orders?page=1"
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable, List, Optional, Tuple

from . import _host
from .errors import ConnectorError

Headers = List[Tuple[str, str]]
#: What a handler returns: (status, body) or (status, body, headers);
#: a body that is not bytes or str is sent as JSON.
Reply = Tuple


@dataclass
class SentRequest:
    """A request the connector sent."""

    method: str
    url: str
    headers: Headers
    body: Optional[bytes]
    idempotent: bool

    def json(self) -> Any:
        return json.loads(self.body or b"null")


class FakeHost:
    """Answers requests by method and path (the URL without its query),
    enforcing the host's header rule, and keeps log lines as
    (level, message). Use it as a context manager."""

    def __init__(self) -> None:
        self.requests: List[SentRequest] = []
        self.logs: List[Tuple[str, str]] = []
        self._routes: List[Tuple[str, str, Callable[[SentRequest], Reply]]] = []

    def reply(self, method: str, path: str, body: Any = None, status: int = 200, headers: Headers = ()) -> "FakeHost":
        """Answer `method path` with `body` (JSON unless bytes or str)."""
        return self.route(method, path, lambda _request: (status, body, list(headers)))

    def route(self, method: str, path: str, handler: Callable[[SentRequest], Reply]) -> "FakeHost":
        """Answer `method path` with what `handler(request)` returns."""
        self._routes.append((method.upper(), path, handler))
        return self

    def send(self, method: str, url: str, headers: Headers, body: Optional[bytes], idempotent: bool):
        request = SentRequest(method, url, list(headers), body, idempotent)
        self.requests.append(request)
        for name, _ in headers:
            if name.lower() in ("authorization", "cookie"):
                raise ConnectorError.from_http(
                    "denied", f"the `{name}` header is set by the host, not by plugins"
                )
        path = url.split("?", 1)[0]
        for m, p, handler in self._routes:
            if m == method and p == path:
                reply = handler(request)
                status, payload = reply[0], reply[1]
                reply_headers = list(reply[2]) if len(reply) > 2 else []
                if not isinstance(payload, (bytes, str)):
                    payload = json.dumps(payload)
                if isinstance(payload, str):
                    payload = payload.encode()
                return status, reply_headers, payload
        raise ConnectorError.from_http("denied", f"no fake route for {method} {path}")

    def log(self, level: str, message: str) -> None:
        self.logs.append((level, message))

    def __enter__(self) -> "FakeHost":
        self._previous = _host.fake
        _host.fake = self
        return self

    def __exit__(self, *exc) -> None:
        _host.fake = self._previous
