"""Throttling of writes: each user's writes per period, MLMD_API_WRITE_RATE (e.g. 1200/minute)."""
from __future__ import annotations

from typing import Any

from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.throttling import UserRateThrottle

from store.api.permissions import is_read


class WriteRateThrottle(UserRateThrottle):
    """A per-user rate on writes only; reads are never throttled here."""

    scope = "mlmd_write"

    def get_rate(self) -> str | None:
        # Read at request time so a changed setting (or a test's override) applies.
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def allow_request(self, request: Request, view: Any) -> bool:
        if is_read(request, view):
            return True
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)
