"""JSON helpers for records (the stdlib's `json` does the parsing)."""

from __future__ import annotations

import json as _json
from typing import Any, List, Optional

from .errors import ConnectorError


def parse_object(text: str) -> dict:
    """Parse a JSON object (a record or criteria the host passed)."""
    try:
        value = _json.loads(text)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise ConnectorError.invalid("", "expected a JSON object")
    return value


def parse_body(body: bytes) -> Any:
    """A vendor's response body as JSON; malformed JSON is a transient
    error (a truncated body is the usual cause)."""
    try:
        return _json.loads(body)
    except ValueError as e:
        raise ConnectorError.transient(f"malformed JSON from the vendor: {e}") from None


def dumps(value: Any) -> str:
    """Compact JSON text, as records cross the boundary."""
    return _json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def records_at(body: Any, key: str) -> List[dict]:
    """The records in `body[key]`: a list of objects; absent or null is
    none; anything else is a transient error (a vendor's hiccup)."""
    items = body.get(key) if isinstance(body, dict) else None
    if items is None:
        return []
    if not isinstance(items, list):
        raise ConnectorError.transient(f"`{key}` is not a list")
    for item in items:
        if not isinstance(item, dict):
            raise ConnectorError.transient(f"`{key}` holds a non-object")
    return items


def str_field(record: dict, field: str) -> Optional[str]:
    """A field as text: strings as they are, numbers and booleans printed
    as JSON prints them; anything else (absent, null, objects) is None."""
    value = record.get(field)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return _json.dumps(value)
    return None
