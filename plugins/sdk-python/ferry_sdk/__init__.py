"""Ferry connector SDK for Python.

Write a Ferry connector as a WebAssembly component in plain Python:
subclass `Connector` (every operation but `describe` answers "unsupported"
until you override it), export it, and build it with componentize-py.

    import ferry_sdk as ferry

    class Shop(ferry.Connector):
        def describe(self, settings):
            return ferry.ConnectorInfo("shop", "0.1.0", "Example shop API", [
                ferry.ModuleInfo("orders", "id", fields=[ferry.FieldInfo.text("id")],
                                 operations=[ferry.Operation.READ]),
            ])

        def list(self, module, since, cursor):
            page = ferry.page_number(cursor)
            body = ferry.Request.get("/orders").query("page", page).send().raise_for_status().json()
            return ferry.Page(ferry.records_at(body, "orders")).next(body.get("has_more") is True, str(page + 1))

    Connector = ferry.export(Shop)

The host does the hard parts: it adds credentials to requests, enforces
allowed hosts, paces and retries requests, and limits memory and time.
Import every module you need at the top of your files: the component is
built with the interpreter already started, and it has no file system to
import from later.
"""

from . import log
from .connector import Connector, each, export
from .errors import ConnectorError
from .http import Request, Response, encode
from .json import dumps, parse_body, parse_object, records_at, str_field
from .page import DeletedPage, DeletedRecord, Page, next_page, page_number
from .settings import Settings
from .types import Action, ConnectorInfo, FieldInfo, FieldKind, ModuleInfo, Operation

__all__ = [
    "Action",
    "Connector",
    "ConnectorError",
    "ConnectorInfo",
    "DeletedPage",
    "DeletedRecord",
    "FieldInfo",
    "FieldKind",
    "ModuleInfo",
    "Operation",
    "Page",
    "Request",
    "Response",
    "Settings",
    "dumps",
    "each",
    "encode",
    "export",
    "log",
    "next_page",
    "page_number",
    "parse_body",
    "parse_object",
    "records_at",
    "str_field",
]
