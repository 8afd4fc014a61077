"""Errors answered as JSON by the error middleware; services raise them without importing aiohttp."""

from __future__ import annotations


class ApiError(Exception):
    """An error answered as JSON: ``{"error": ..., "fields": {...}}`` with HTTP ``status``."""

    def __init__(self, status: int, message: str, fields: dict[str, str] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.fields = fields
        self.headers = headers  # e.g. Retry-After on a 429
