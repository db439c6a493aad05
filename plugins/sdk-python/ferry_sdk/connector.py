"""The class connectors extend, and its bridge to the component's export.

Every call runs in a fresh instance of the component: `configure` first,
then the operation. One object of your class serves both, so what
`configure` keeps on `self` is there for the operation, and gone after.
"""

from __future__ import annotations

import sys
from typing import Callable, Iterable, List, Optional, Union

from . import _host
from .errors import ConnectorError
from .json import dumps, parse_object
from .log import HostStream
from .page import DeletedPage, Page
from .settings import Settings
from .types import ConnectorInfo

WriteResult = Union[dict, ConnectorError]


class Connector:
    """A Ferry connector. Override `describe` and what your vendor
    supports; every other operation answers "unsupported".

    `self.settings` holds the connection's settings (the workspace's
    `settings` plus `base_url` and `data_center`) in every operation.
    """

    settings: Settings = Settings()

    @classmethod
    def configured(cls, settings: Optional[dict] = None) -> "Connector":
        """An instance after `configure(settings)`, as the host makes one
        for each call (for tests)."""
        instance = cls()
        instance.settings = Settings(settings)
        instance.configure(instance.settings)
        return instance

    def describe(self, settings: Settings) -> ConnectorInfo:
        """Modules, fields, operations and actions. `settings` may be empty
        (the host is only inspecting): answer without network then."""
        raise ConnectorError.unsupported("describe")

    def configure(self, settings: Settings) -> None:
        """Validate settings before any other call; the default accepts all."""

    def check(self) -> None:
        """Check credentials and settings against the vendor."""

    def list(self, module: str, since: Optional[str], cursor: Optional[str]) -> Page:
        """One page of `module`, changed at or after `since` (RFC 3339)
        when the module supports `incremental`."""
        raise _unsupported("list", module)

    def get(self, module: str, id: str) -> dict:
        raise _unsupported("get", module)

    def find(self, module: str, criteria: dict) -> List[dict]:
        """Records whose fields equal every value in `criteria`."""
        raise _unsupported("find", module)

    def deleted(self, module: str, since: Optional[str], cursor: Optional[str]) -> DeletedPage:
        raise _unsupported("deleted", module)

    def create(self, module: str, records: List[dict]) -> List[WriteResult]:
        """One result per input, in order: the record as created, or the
        `ConnectorError` that input met (see `each`)."""
        raise _unsupported("create", module)

    def update(self, module: str, records: List[dict]) -> List[WriteResult]:
        """One result per input, in order (each record carries its id)."""
        raise _unsupported("update", module)

    def delete(self, module: str, ids: List[str]) -> List[WriteResult]:
        """One result per input, in order (`{"id": ...}` on success)."""
        raise _unsupported("delete", module)

    def act(self, module: str, id: str, action: str, args: dict) -> dict:
        """Perform a named action on one record; the record afterwards."""
        raise ConnectorError.unsupported(f"action `{action}` on `{module}`")


def _unsupported(op: str, module: str) -> ConnectorError:
    return ConnectorError.unsupported(f"`{op}` on module `{module}`")


def each(items: Iterable, write: Callable[..., dict]) -> List[WriteResult]:
    """Results of a batch write, one per input: `write(item)`, or the
    `ConnectorError` it raised (other exceptions are bugs and propagate)."""
    results: List[WriteResult] = []
    for item in items:
        try:
            results.append(write(item))
        except ConnectorError as e:
            results.append(e)
    return results


def export(cls: type) -> type:
    """Export `cls` (a `Connector` subclass) as the component's
    `ferry:connector/connector` interface. componentize-py looks for a class
    named `Connector` in the app module, so write, once per connector:

        Connector = ferry_sdk.export(MyConnector)
    """
    if not (isinstance(cls, type) and issubclass(cls, Connector)):
        raise TypeError(f"export() takes a subclass of ferry_sdk.Connector, not {cls!r}")
    if not _host.IN_COMPONENT:
        return cls  # natively there is nothing to export to
    from . import _wit

    if not isinstance(sys.stdout, HostStream):
        # `print()` goes to the host's log; stderr stays the component's own,
        # so an uncaught exception's traceback reaches the host's error.
        sys.stdout = HostStream("info")
    return _wit.exported(cls)


def record_text(record: object) -> str:
    """A record as the JSON object text the contract carries."""
    if not isinstance(record, dict):
        raise TypeError(f"records are dicts, not {type(record).__name__}: {record!r:.80}")
    return dumps(record)


def parse_records(texts: List[str]) -> List[dict]:
    return [parse_object(t) for t in texts]
