"""Webhook signatures, for senders and receivers.

Each request is signed two ways over the exact body bytes (compact JSON, sorted keys, UTF-8):
- `X-Hokusai-Signature: sha256=<hex HMAC-SHA256(secret, body)>`;
- Standard Webhooks: `webhook-id`, `webhook-timestamp` and
  `webhook-signature: v1,<base64 HMAC-SHA256(secret, "{id}.{timestamp}.{body}")>`.
The key is the secret's UTF-8 bytes, or the decoded bytes of a `whsec_<base64>` secret.

Receivers call `verify(body, headers, secret)`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any

TOLERANCE_SECONDS = 300


class WebhookVerificationError(Exception):
    """The request is not a genuine, fresh Hokusai event."""


def secret_key(secret: str) -> bytes:
    if secret.startswith("whsec_"):
        try:
            return base64.b64decode(secret[len("whsec_") :], validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("a whsec_ secret must be base64 after the prefix") from None
    return secret.encode("utf-8")


def hokusai_signature(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret_key(secret), body, hashlib.sha256).hexdigest()


def standard_signature(body: bytes, secret: str, msg_id: str, timestamp: int) -> str:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(secret_key(secret), signed, hashlib.sha256).digest()).decode()


def signed_headers(body: bytes, secret: str | None, msg_id: str, timestamp: int | None = None) -> dict[str, str]:
    """Headers for one delivery attempt. `msg_id` is stable across retries of an event."""
    ts = int(time.time()) if timestamp is None else timestamp
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "hokusai-ci",
        "webhook-id": msg_id,
        "webhook-timestamp": str(ts),
        "X-Hokusai-Idempotency-Key": msg_id,
    }
    if secret:
        headers["X-Hokusai-Signature"] = hokusai_signature(body, secret)
        headers["webhook-signature"] = standard_signature(body, secret, msg_id, ts)
    return headers


def verify(
    body: bytes,
    headers: Mapping[str, str],
    secret: str,
    *,
    tolerance: int = TOLERANCE_SECONDS,
    now: float | None = None,
    allow_unstamped: bool = False,
) -> dict[str, Any]:
    """Check a delivery and return the event. The Standard Webhooks headers are checked with the
    timestamp window (rejecting replays of old requests). `X-Hokusai-Signature` alone carries no
    timestamp, so a recorded delivery could be replayed for ever: it is accepted only with
    `allow_unstamped=True`. Every failure, malformed headers included, raises
    WebhookVerificationError."""
    lower = {k.lower(): v for k, v in headers.items()}
    if "webhook-signature" in lower:
        msg_id, stamp = lower.get("webhook-id", ""), lower.get("webhook-timestamp", "")
        if not msg_id or not (stamp.isascii() and stamp.isdigit()):
            raise WebhookVerificationError("missing webhook-id or webhook-timestamp")
        current = time.time() if now is None else now
        if abs(current - int(stamp)) > tolerance:
            raise WebhookVerificationError("timestamp outside the tolerance window (replayed or clock skew)")
        expected = standard_signature(body, secret, msg_id, int(stamp)).split(",", 1)[1]
        offered = [s.split(",", 1)[1] for s in lower["webhook-signature"].split() if s.startswith("v1,")]
        if not any(hmac.compare_digest(expected.encode(), sig.encode()) for sig in offered):
            raise WebhookVerificationError("signature mismatch")
    elif "x-hokusai-signature" in lower:
        if not allow_unstamped:
            raise WebhookVerificationError(
                "no webhook-timestamp: a request signed without one can be replayed (allow_unstamped=True accepts it)"
            )
        if not hmac.compare_digest(hokusai_signature(body, secret).encode(), lower["x-hokusai-signature"].encode()):
            raise WebhookVerificationError("signature mismatch")
    else:
        raise WebhookVerificationError("unsigned request")
    try:
        event: dict[str, Any] = json.loads(body)
    except ValueError:
        raise WebhookVerificationError("body is not JSON") from None
    return event
