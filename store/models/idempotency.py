"""Idempotency keys of the REST API: a retried write answers what the first one did."""
from __future__ import annotations

from django.conf import settings
from django.db import models


class IdempotencyKey(models.Model):
    """The outcome of one write made with an ``Idempotency-Key`` header.

    Written in the same transaction as the write itself, so a key is recorded
    exactly when its write is.  ``request_hash`` fingerprints the method, path
    and body: the same key sent with another request is refused, not replayed.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    response_status = models.PositiveSmallIntegerField()
    response_body = models.JSONField()
    created = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="idempotencykey_unique_user_key")]

    def __str__(self) -> str:
        return f"{self.key} ({self.user_id})"
