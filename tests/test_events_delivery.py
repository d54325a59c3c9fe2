"""Webhook signing, verification, retries, the outbox replay and the event JSON Schemas.

Deliveries go to a real HTTP receiver on 127.0.0.1; signatures are checked both with our own
`verify` and with the independent `standardwebhooks` library.
"""

from __future__ import annotations

import base64
import contextlib
import json
import time
from pathlib import Path

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from hokusai_ci import webhooks
from hokusai_ci.adapters.http_retry import backoff, post_with_retries, retry_after_seconds
from hokusai_ci.domain.events import SCHEMA_DIR, json_schemas
from tests.conftest import register_args, run_here
from tests.servers import WebhookReceiver

BODY = b'{"event_id":"e1","event_type":"model_registered","token_id":"XRAY"}'


@pytest.mark.parametrize("secret", ["plain-text-secret", "whsec_" + base64.b64encode(b"0123456789abcdef0123").decode()])
def test_standard_webhooks_library_accepts_our_signature(secret: str) -> None:
    headers = webhooks.signed_headers(BODY, secret, "evt-123")
    key = secret if secret.startswith("whsec_") else "whsec_" + base64.b64encode(secret.encode()).decode()
    assert Webhook(key).verify(BODY, headers) == json.loads(BODY)
    assert webhooks.verify(BODY, headers, secret)["token_id"] == "XRAY"
    assert headers["X-Hokusai-Idempotency-Key"] == headers["webhook-id"] == "evt-123"
    with pytest.raises(WebhookVerificationError):
        Webhook(key).verify(BODY.replace(b"XRAY", b"XRAZ"), headers)


def test_hokusai_signature_is_hex_hmac_of_the_body() -> None:
    import hashlib
    import hmac

    headers = webhooks.signed_headers(BODY, "s3cret", "evt-1")
    assert headers["X-Hokusai-Signature"] == "sha256=" + hmac.new(b"s3cret", BODY, hashlib.sha256).hexdigest()
    only_hokusai = {"X-Hokusai-Signature": headers["X-Hokusai-Signature"]}
    assert webhooks.verify(BODY, only_hokusai, "s3cret", allow_unstamped=True)["event_id"] == "e1"
    with pytest.raises(webhooks.WebhookVerificationError, match="replayed"):  # no timestamp: replayable
        webhooks.verify(BODY, only_hokusai, "s3cret")


@given(
    name=st.sampled_from(["webhook-signature", "webhook-timestamp", "webhook-id", "X-Hokusai-Signature"]),
    value=st.one_of(
        st.text(max_size=80),
        st.text(max_size=40).map(lambda t: "v1," + t),
        st.text(max_size=40).map(lambda t: "sha256=" + t),
        st.sampled_from(["²", "١٢٣٤", "v1,é", "sha256=é", " 1 "]),
    ),
)
def test_any_malformed_header_is_a_verification_error_never_a_crash(name: str, value: str) -> None:
    """A receiver's handler catches WebhookVerificationError: no header value may raise anything else."""
    headers = {**webhooks.signed_headers(BODY, "s3cret", "evt-1"), name: value}
    if name == "X-Hokusai-Signature":  # the unstamped form alone
        headers = {name: value}
    with contextlib.suppress(webhooks.WebhookVerificationError):
        webhooks.verify(BODY, headers, "s3cret", allow_unstamped=True)


def test_verify_rejects_tampering_replays_and_unsigned() -> None:
    old = webhooks.signed_headers(BODY, "s3cret", "evt-1", timestamp=int(time.time()) - 3600)
    with pytest.raises(webhooks.WebhookVerificationError, match="tolerance"):
        webhooks.verify(BODY, old, "s3cret")
    fresh = webhooks.signed_headers(BODY, "s3cret", "evt-1")
    with pytest.raises(webhooks.WebhookVerificationError, match="mismatch"):
        webhooks.verify(BODY + b" ", fresh, "s3cret")
    with pytest.raises(webhooks.WebhookVerificationError, match="mismatch"):
        webhooks.verify(BODY, fresh, "other-secret")
    with pytest.raises(webhooks.WebhookVerificationError, match="unsigned"):
        webhooks.verify(BODY, webhooks.signed_headers(BODY, None, "evt-1"), "s3cret")


def test_retries_honour_retry_after_and_stop_on_client_errors(webhook: WebhookReceiver) -> None:
    slept: list[float] = []
    webhook.statuses = [429, 503, 200]
    outcome = post_with_retries(webhook.url, BODY, lambda: {}, attempts=5, timeout=5, sleep=slept.append)
    assert outcome.ok and outcome.attempts == 3
    assert len(webhook.received) == 3
    webhook.received.clear()
    webhook.statuses = [400, 200]
    outcome = post_with_retries(webhook.url, BODY, lambda: {}, attempts=5, timeout=5, sleep=slept.append)
    assert not outcome.ok and outcome.attempts == 1 and outcome.status == 400
    assert len(webhook.received) == 1


def test_retry_after_parsing_and_jittered_backoff() -> None:
    assert retry_after_seconds("7") == 7.0
    assert retry_after_seconds("Thu, 01 Jan 2099 00:00:00 GMT", now=4070908790.0) == 10.0
    assert retry_after_seconds("soon") is None
    for attempt in range(1, 6):
        ceiling = min(60.0, 2.0 ** (attempt - 1))
        assert ceiling / 2 <= backoff(attempt, 1.0) <= ceiling
    assert backoff(1, 1.0, rng=lambda: 0.0) == 0.5 and backoff(1, 1.0, rng=lambda: 1.0) == 1.0


def test_connection_errors_are_retried_then_reported() -> None:
    from tests.servers import free_port

    slept: list[float] = []
    url = f"http://127.0.0.1:{free_port()}/hook"
    outcome = post_with_retries(url, BODY, lambda: {}, attempts=3, timeout=2, sleep=slept.append)
    assert not outcome.ok and outcome.attempts == 3 and len(slept) == 2
    assert "cannot connect" in (outcome.error or "")


def test_published_schemas_match_the_payload_models() -> None:
    for name, schema in json_schemas().items():
        committed = json.loads((SCHEMA_DIR / name).read_text())
        assert committed == json.loads(json.dumps(schema)), f"{name} is stale: run python -m hokusai_ci.domain.events"


def test_signed_events_end_to_end_with_replay(model_file: Path, webhook: WebhookReceiver, tmp_path: Path) -> None:
    """Register while the receiver fails, replay later: same ids, signed, schema-valid."""
    env = {
        "HOKUSAI_WEBHOOK_SECRET": "whsec_" + base64.b64encode(b"receiver-shared-secret-of-32-bytes").decode(),
        "HOKUSAI_WEBHOOK_ATTEMPTS": "1",
    }
    run_here("token", "create", "--token-id", "SIGNED")
    webhook.statuses = [503, 503]
    r = run_here(
        *register_args("SIGNED", str(model_file), "f1", "0.5", "0.7"),
        "--webhook-url",
        webhook.url,
        "--output",
        "json",
        env=env,
    )
    assert r.code == 9, r.err
    first_ids = [x.headers["webhook-id"] for x in webhook.received]
    assert env["HOKUSAI_WEBHOOK_SECRET"] not in r.out + r.err

    nothing = run_here("events", "replay", "--output", "json", env=env)
    assert nothing.code == 2 and "replay needs a webhook" in nothing.err

    replay = run_here("events", "replay", "--webhook-url", webhook.url, "--output", "json", env=env)
    assert replay.code == 0, replay.err
    assert replay.json()["delivered"] == 2 and replay.json()["failed"] == 0
    delivered = webhook.received[2:]
    assert [x.headers["webhook-id"] for x in delivered] == first_ids
    schemas = {s["title"]: s for s in json_schemas().values()}
    for request in delivered:
        event = webhooks.verify(request.body, request.headers, env["HOKUSAI_WEBHOOK_SECRET"])
        jsonschema.validate(event, schemas[event["event_type"]])
        assert request.headers["X-Hokusai-Idempotency-Key"] == event["event_id"]
    status = run_here("model", "status", "--token-id", "SIGNED", "--output", "json").json()
    assert [(e["delivery_status"], e["attempts"]) for e in status["events"]] == [("delivered", 2), ("delivered", 2)]
    again = run_here("events", "replay", "--webhook-url", webhook.url, "--output", "json", env=env)
    assert again.json()["status"] == "nothing_pending"


def test_replay_that_still_fails_exits_9(model_file: Path, webhook: WebhookReceiver) -> None:
    env = {"HOKUSAI_WEBHOOK_ATTEMPTS": "1"}
    run_here("token", "create", "--token-id", "STUCK")
    webhook.statuses = [500] * 4
    run_here(
        *register_args("STUCK", str(model_file), "f1", "0.5", "0.7"),
        "--webhook-url",
        webhook.url,
        env=env,
    )
    r = run_here("events", "replay", "--token-id", "STUCK", "--webhook-url", webhook.url, "--output", "json", env=env)
    assert r.code == 9
    assert r.json()["failed"] == 2 and r.json()["error"]["category"] == "event_delivery_failed"
    assert "unsigned" in r.err  # the warning when no secret is set
