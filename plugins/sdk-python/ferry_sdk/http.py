"""A small request builder over the host's `http` capability.

URLs starting with `/` are resolved by the host against the connection's
base URL (built from the manifest's data centre), so a connector never
hard-codes a vendor host. The host adds credentials: setting
`Authorization` or `Cookie` yourself makes it refuse the request.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, List, Optional, Tuple, Union

from . import _host
from .errors import ConnectorError
from .json import dumps, parse_body

Method = str  # "GET", "POST", "PUT", "PATCH", "DELETE"
_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~")


def encode(text: str) -> str:
    """Percent-encode a query component (RFC 3986 unreserved kept)."""
    return "".join(chr(b) if b in _UNRESERVED else f"%{b:02X}" for b in text.encode())


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class Request:
    """A request being built: `Request.get("/items").query("page", 2).send()`.

    `idempotent` defaults to true for GET, PUT and DELETE: the host repeats
    only those after an uncertain failure (timeout, dropped connection, 5xx).
    """

    def __init__(self, method: Method, url: str) -> None:
        self.method = method.upper()
        self.url = url
        self.params: List[Tuple[str, str]] = []
        self.headers: List[Tuple[str, str]] = []
        self.body: Optional[bytes] = None
        self.is_idempotent = self.method in ("GET", "PUT", "DELETE")

    @staticmethod
    def get(url: str) -> "Request":
        return Request("GET", url)

    @staticmethod
    def post(url: str) -> "Request":
        return Request("POST", url)

    @staticmethod
    def put(url: str) -> "Request":
        return Request("PUT", url)

    @staticmethod
    def patch(url: str) -> "Request":
        return Request("PATCH", url)

    @staticmethod
    def delete(url: str) -> "Request":
        return Request("DELETE", url)

    def query(self, name: str, value: Any) -> "Request":
        """Add a query parameter (percent-encoded); None leaves it out."""
        if value is not None:
            self.params.append((name, _text(value)))
        return self

    def header(self, name: str, value: Any) -> "Request":
        """Add a header."""
        self.headers.append((name, _text(value)))
        return self

    def json(self, body: Any) -> "Request":
        """A JSON body (sets `Content-Type`)."""
        self.body = dumps(body).encode()
        return self.header("Content-Type", "application/json")

    def data(self, body: Union[bytes, str]) -> "Request":
        """A raw body."""
        self.body = body.encode() if isinstance(body, str) else bytes(body)
        return self

    def idempotent(self, yes: bool) -> "Request":
        """Declare whether repeating the request after an uncertain failure
        is safe."""
        self.is_idempotent = yes
        return self

    def full_url(self) -> str:
        """The URL with its query string."""
        if not self.params:
            return self.url
        query = "&".join(f"{encode(k)}={encode(v)}" for k, v in self.params)
        return f"{self.url}{'&' if '?' in self.url else '?'}{query}"

    def send(self) -> "Response":
        """Send through the host. A response of any status comes back; a
        request the host could not deliver raises `ConnectorError`
        (timeouts and dropped connections are transient)."""
        status, headers, body = _host.send(
            self.method, self.full_url(), self.headers, self.body, self.is_idempotent
        )
        return Response(status, headers, body)


@dataclass
class Response:
    """A vendor's response, after the host's retries."""

    status: int
    headers: List[Tuple[str, str]]
    body: bytes

    def is_success(self) -> bool:
        """2xx."""
        return 200 <= self.status < 300

    def header(self, name: str) -> Optional[str]:
        """A header's value (case-insensitive name)."""
        lower = name.lower()
        return next((v for n, v in self.headers if n.lower() == lower), None)

    def text(self) -> str:
        """The body as text (invalid UTF-8 replaced)."""
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body as JSON; malformed JSON is a transient error."""
        return parse_body(self.body)

    def raise_for_status(self) -> "Response":
        """This response when 2xx, else the error `from_status` maps its
        status to, with the body as message."""
        if not self.is_success():
            raise ConnectorError.from_status(self.status, self.text())
        return self


def get(url: str, **query: Any) -> Response:
    """`GET url?query...`, sent."""
    request = Request.get(url)
    for name, value in query.items():
        request.query(name, value)
    return request.send()
