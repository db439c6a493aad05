"""Pages of records, and the cursor of page-numbered APIs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, List, Optional, Union

from .errors import ConnectorError


@dataclass
class Page:
    """One page of records (dicts) and the cursor of the next; no cursor
    means this was the last page."""

    records: List[dict] = field(default_factory=list)
    next_cursor: Optional[str] = None

    def next(self, more: bool, cursor: Union[str, Callable[[], str]]) -> "Page":
        """Set the next cursor when `more` is true; `cursor` may be a
        function, called only then."""
        if more:
            self.next_cursor = cursor() if callable(cursor) else cursor
        else:
            self.next_cursor = None
        return self


@dataclass
class DeletedRecord:
    """A record the vendor reports as deleted."""

    id: str
    deleted_at: Optional[str] = None


@dataclass
class DeletedPage:
    """One page of the deleted feed."""

    records: List[DeletedRecord] = field(default_factory=list)
    next_cursor: Optional[str] = None


def page_number(cursor: Optional[str]) -> int:
    """The cursor of page-numbered APIs: `"3"` is page 3; none is page 1.
    Anything else is an `invalid` error naming the cursor."""
    if cursor is None:
        return 1
    try:
        n = int(cursor)
    except ValueError:
        n = 0
    if n < 1 or str(n) != cursor.strip():
        raise ConnectorError.invalid("cursor", f"`{cursor}` is not a page cursor")
    return n


def next_page(cursor: Optional[str], more: bool) -> Optional[str]:
    """The cursor after page `cursor` of a page-numbered API, when `more`."""
    return str(page_number(cursor) + 1) if more else None
