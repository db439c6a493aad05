"""What `describe` returns: the connector, its modules, their fields,
operations and actions."""

from __future__ import annotations

from dataclasses import dataclass, field as _field
from enum import Enum
from typing import List, Optional, Sequence


class Operation(Enum):
    """An operation a module supports; the host never calls one a module
    does not list."""

    READ = "read"  #: `list` and `get`
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    FIND = "find"  #: `find` by field criteria
    INCREMENTAL = "incremental"  #: `list` honours `since`
    DELETED_FEED = "deleted-feed"  #: `deleted` reports removed records
    UPSERT = "upsert"  #: `create` updates records matching duplicate-check fields


class FieldKind(Enum):
    """The shape of a field's values."""

    TEXT = "text"
    LONG_TEXT = "long-text"
    INTEGER = "integer"
    DECIMAL = "decimal"
    CURRENCY = "currency"
    PERCENT = "percent"
    BOOLEAN = "boolean"
    DATE = "date"  #: `yyyy-mm-dd`
    DATETIME = "datetime"  #: RFC 3339
    EMAIL = "email"
    PHONE = "phone"
    URL = "url"
    PICKLIST = "picklist"
    MULTI_PICKLIST = "multi-picklist"
    LOOKUP = "lookup"
    OBJECT = "object"
    LIST = "list"
    OTHER = "other"


@dataclass
class FieldInfo:
    """One field of a module. `label` defaults to the name."""

    name: str
    kind: FieldKind = FieldKind.TEXT
    label: Optional[str] = None
    required: bool = False
    read_only: bool = False
    custom: bool = False
    picklist: Sequence[str] = ()
    lookup_module: Optional[str] = None

    @staticmethod
    def text(name: str, **options) -> "FieldInfo":
        """A text field."""
        return FieldInfo(name, FieldKind.TEXT, **options)


@dataclass
class Action:
    """An action a module offers beyond create, update and delete."""

    name: str
    description: str


@dataclass
class ModuleInfo:
    """One module (record type). `label` defaults to the name; `max_batch`
    is the most records one write call should carry."""

    name: str
    id_field: str
    label: Optional[str] = None
    modified_field: Optional[str] = None
    fields: List[FieldInfo] = _field(default_factory=list)
    operations: List[Operation] = _field(default_factory=list)
    actions: List[Action] = _field(default_factory=list)
    max_batch: int = 1

    def supports(self, operation: Operation) -> bool:
        return operation in self.operations


@dataclass
class ConnectorInfo:
    """What a connector is and can do."""

    name: str
    version: str
    description: str
    modules: List[ModuleInfo] = _field(default_factory=list)

    def module(self, name: str) -> Optional[ModuleInfo]:
        return next((m for m in self.modules if m.name == name), None)
