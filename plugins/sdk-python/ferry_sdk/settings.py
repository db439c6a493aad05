"""The connection's settings, as `configure` received them."""

from __future__ import annotations

import json
from typing import Any, Optional

from .errors import ConnectorError


class Settings:
    """Settings of the connection a call runs for: the workspace's
    `settings` plus `base_url` and `data_center` from the host."""

    def __init__(self, values: Optional[dict] = None) -> None:
        self._values = dict(values or {})

    @staticmethod
    def parse(text: str) -> "Settings":
        """Parse the JSON object the host passes (empty text is `{}`)."""
        if not text.strip():
            return Settings()
        try:
            value = json.loads(text)
        except ValueError:
            value = None
        if not isinstance(value, dict):
            raise ConnectorError.invalid("settings", "settings must be a JSON object")
        return Settings(value)

    def get(self, key: str) -> Optional[str]:
        """A setting as text, if present (other JSON values: `value`)."""
        value = self._values.get(key)
        return value if isinstance(value, str) else None

    def require(self, key: str) -> str:
        """A required, non-empty text setting, or an `invalid` error naming it."""
        value = self.get(key)
        if not value:
            raise ConnectorError.invalid(key, f"setting `{key}` is required")
        return value

    def value(self, key: str) -> Any:
        """Any setting as JSON (dicts, lists, numbers, ...)."""
        return self._values.get(key)

    @property
    def data_center(self) -> Optional[str]:
        """The data centre the connection uses (`com`, `eu`, ...; `sandbox` locally)."""
        return self.get("data_center")

    def as_dict(self) -> dict:
        return dict(self._values)

    def __repr__(self) -> str:
        return f"Settings({self._values!r})"
