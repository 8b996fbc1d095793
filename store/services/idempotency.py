"""Idempotent writes: a retried request with the same key is answered, not re-run.

``run_once`` records the key and the response in the same transaction as the
write, so a crash can never keep one without the other.  Two concurrent
requests with the same key cannot both write: the unique (user, key) row
makes the second wait for the first (or fail on the duplicate), after which it
replays the first's answer.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError
from django.utils import timezone

from store.models import IdempotencyKey
from store.services.errors import FailedPrecondition, InvalidArgument
from store.services.transactions import request_transaction, savepoint

MAX_KEY_LENGTH = 255


class IdempotencyKeyReused(FailedPrecondition):
    """The key was already used with another request: neither replayed nor run."""

    http_status = 422


@dataclass(frozen=True)
class Outcome:
    status: int
    body: Any
    replayed: bool


def fingerprint(method: str, path: str, body: Any) -> str:
    """A digest of the request a key stands for (body compared as parsed JSON)."""
    canonical = json.dumps([method.upper(), path, body], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def check_key(key: str) -> str:
    if not key or not key.strip():
        raise InvalidArgument("Idempotency-Key must not be empty", field="Idempotency-Key")
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidArgument(f"Idempotency-Key is longer than {MAX_KEY_LENGTH} characters", field="Idempotency-Key")
    if not key.isprintable() or not key.isascii():
        raise InvalidArgument("Idempotency-Key must be printable ASCII", field="Idempotency-Key")
    return key


def expiry_cutoff() -> Any:
    hours = getattr(settings, "MLMD_IDEMPOTENCY_KEY_TTL_HOURS", 24)
    return timezone.now() - timedelta(hours=hours)


def run_once(user_id: int, key: str, request_hash: str, write: Callable[[], tuple[int, Any]]) -> Outcome:
    """Run ``write`` (returning status and JSON body) unless this key already ran; atomically."""
    check_key(key)
    for _attempt in range(3):
        with request_transaction():
            stored = _stored(user_id, key)
            if stored is not None:
                return _replay(stored, request_hash)
            try:
                with savepoint():
                    row = IdempotencyKey.objects.create(
                        user_id=user_id, key=key, request_hash=request_hash, response_status=0, response_body={}
                    )
            except IntegrityError:
                # A concurrent request with this key committed first: replay its answer.
                continue
            status, body = write()
            row.response_status = status
            row.response_body = body
            row.save(update_fields=["response_status", "response_body"])
            return Outcome(status, body, replayed=False)
    stored = _stored(user_id, key)
    if stored is None:  # pragma: no cover - needs three lost races in a row
        raise FailedPrecondition("Idempotency-Key: concurrent requests with this key; retry", field="Idempotency-Key")
    return _replay(stored, request_hash)


def _stored(user_id: int, key: str) -> IdempotencyKey | None:
    row = IdempotencyKey.objects.filter(user_id=user_id, key=key).first()
    if row is not None and row.created < expiry_cutoff():
        row.delete()
        return None
    return row


def _replay(row: IdempotencyKey, request_hash: str) -> Outcome:
    if row.request_hash != request_hash:
        raise IdempotencyKeyReused(
            "Idempotency-Key was already used with a different request (method, path or body);"
            " use a new key for a new request",
            field="Idempotency-Key",
        )
    return Outcome(row.response_status, row.response_body, replayed=True)


def delete_expired() -> int:
    """Forget keys past their lifetime; the number removed."""
    deleted, _ = IdempotencyKey.objects.filter(created__lt=expiry_cutoff()).delete()
    return deleted


def count_expired() -> int:
    return IdempotencyKey.objects.filter(created__lt=expiry_cutoff()).count()
