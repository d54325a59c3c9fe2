"""A webhook that redirects is not a delivery.

A real receiver on 127.0.0.1 answers the signed POST with a redirect to a second path that
answers 200 (to any method). Following it would turn a 301/302/303 into a body-less GET whose
200 marks the event delivered; the event must instead stay `failed`, name the redirect target,
and the receiver must have seen exactly one request per event: the POST (a redirect is final,
never retried). The first status goes through a whole `model register`; the others through
`events replay`, the same delivery code without the upload.
"""

from __future__ import annotations

from pathlib import Path

from tests.conftest import register_args, run_here
from tests.servers import WebhookReceiver

SECRET = {"HOKUSAI_WEBHOOK_SECRET": "redirect-test-secret-of-24-bytes"}


def test_redirected_webhook_is_failed_and_names_the_target(model_file: Path) -> None:
    assert run_here("token", "create", "--token-id", "REDIR").code == 0
    for n, status in enumerate([302, 301, 303, 307, 308]):
        receiver = WebhookReceiver(redirect=status).start()
        try:
            env = {**SECRET, "HOKUSAI_WEBHOOK_URL": receiver.url}
            if n == 0:
                run = run_here(*register_args("REDIR", model_file, "auroc", "0.8", "0.9"), env=env)
            else:
                run = run_here("events", "replay", "--token-id", "REDIR", env=env)
            target = f"{receiver.base_url}/hooks/moved"
            assert run.code == 9, run.err
            assert f"HTTP {status} redirecting to {target}" in run.err
            events = run_here("model", "status", "--token-id", "REDIR", "--output", "json").json()["events"]
            assert [e["delivery_status"] for e in events] == ["failed", "failed"], status
            assert all(target in e["last_error"] for e in events)
            # one POST per event to the configured path; nothing followed the redirect
            assert [(r.method, r.path) for r in receiver.received] == [("POST", "/hooks/models")] * 2
        finally:
            receiver.stop()
