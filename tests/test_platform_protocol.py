"""The platform's protocol as the upstream server behaves, held against the stand-in.

Which side is real: MLflow is a real `mlflow server`; the hosted Hokusai API cannot be reached
here, so `HokusaiStandIn` (tests/hokusai_standin.py) answers as the upstream server does,
including where it misbehaves: a 502 after telling the site, a 502 every time when the model
lives in another MLflow than its own.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from hokusai_ci.adapters.hokusai_api import BEFORE_ACTING
from hokusai_ci.adapters.http_retry import RetryPolicy, post_with_retries
from hokusai_ci.adapters.platform_answers import detail
from hokusai_ci.domain.errors import Category
from tests.conftest import register_args, run_cli
from tests.hokusai_standin import EMIT_FAILED, NOTIFY_PATH, REGISTRY_FIELDS, HokusaiStandIn, KeyService
from tests.servers import MlflowServer, free_port
from tests.test_api_mode import (  # noqa: F401 (fixtures)
    ADMIN,
    GOOD_BODY,
    WRITER,
    api,
    hokusai,
    key_service,
    refused,
    register,
    written,
)


# -- a baseline of 0: the platform tells the site, then answers 502 -------------------------------
def test_the_standin_delivers_then_answers_502_for_a_zero_baseline(hokusai: HokusaiStandIn) -> None:  # noqa: F811
    auth = {"Authorization": f"Bearer {ADMIN}"}
    body = {**GOOD_BODY, "baseline_value": 0.0, "current_value": 0.9}
    answer = requests.post(hokusai.url + NOTIFY_PATH, json=body, headers=auth, timeout=10)
    assert (answer.status_code, answer.json()) == (502, {"detail": EMIT_FAILED})
    [delivered] = hokusai.emitted  # the site was told although the answer is 502
    assert delivered["baseline_value"] == 0.0


@pytest.mark.parametrize("metric", ["auroc", "accuracy", "r2"])
def test_baseline_zero_is_refused_before_anything_is_sent(
    metric: str,
    api: Any,  # noqa: F811
    hokusai: HokusaiStandIn,  # noqa: F811
    mlflow_server: MlflowServer,
    model_file: Path,
    tmp_path: Path,
) -> None:
    token = f"API-ZERO-{metric.upper()}"
    for dry in ([], ["--dry-run"]):
        run = run_cli(*register_args(token, model_file, metric, "0", "0.9"), *dry)
        assert run.code == 10, run.err
        line = run.err.strip().splitlines()[-1]
        assert "its rule baseline-not-zero" in line and "cannot take a baseline of 0" in line
        assert "tells the site the model was registered, then fails dividing by the baseline" in line
        assert line.endswith("nothing was uploaded")
    gate = run_cli(
        "model", "gate", "--token-id", token, "--model-path", str(model_file), "--metric", metric,
        "--baseline", "0", "--metric-value", "0.9", "--output", "json", env={"HOKUSAI_MODE": "api"}, cwd=tmp_path,
    )  # fmt: skip
    assert gate.code == 10 and gate.json()["error"]["category"] == "platform_rejected", gate.err
    assert "baseline-not-zero" in gate.json()["error"]["message"]
    assert written(mlflow_server, token) == ([], [])
    assert hokusai.seen == [] or all(s.path != NOTIFY_PATH for s in hokusai.seen)
    assert hokusai.emitted == []
    err = refused(token, model_file, metric=metric, value=0.9, baseline=0.0)
    assert err.category is Category.PLATFORM_REJECTED and err.exit_code == 10


# -- a 502 may come after the site was told: sent once, the version kept ---------------------------
def test_a_502_after_the_site_was_told_is_not_retried_and_the_version_is_never_superseded(
    api: Any,  # noqa: F811
    hokusai: HokusaiStandIn,  # noqa: F811
    mlflow_server: MlflowServer,
    model_file: Path,
    tmp_path: Path,
) -> None:
    token = "API-TOLD"
    hokusai.lost_answers = 1  # delivered to the site, then the handler fails: 502
    first = run_cli(*register_args(token, model_file, "auroc", "0.88", "0.91"), "--output", "json")
    assert first.code == 9, first.err
    out = first.json()
    assert out["error"]["category"] == "event_delivery_failed"
    # the version the failure leaves is named in the JSON, as for every exit 9
    assert (out["model_name"], out["model_version"], out["model_uri"]) == (
        f"hokusai-{token}",
        "1",
        f"models:/hokusai-{token}/1",
    )
    assert out["mlflow_run_id"] and out["model_sha256"]
    assert "it told the site, so it is not sent again in this run" in out["error"]["message"]
    assert "tagged not registered and hokusai.platform_sent: it is never removed" in out["error"]["message"]
    assert [s.status for s in hokusai.notifications()] == [502] and len(hokusai.emitted) == 1

    # other content cannot be sent for the token: the site may hold version 1
    other = tmp_path / "other.pkl"
    other.write_bytes(b"other content")
    second = run_cli(*register_args(token, other, "auroc", "0.88", "0.91"))
    assert second.code == 4, second.err
    assert "hokusai-API-TOLD version 1" in second.err and "may have told the site" in second.err
    assert "only that version can be sent for the token: re-run with the model it holds" in second.err
    assert len(hokusai.notifications()) == 1
    versions, _ = written(mlflow_server, token)
    by_version = {v.version: v.tags["hokusai.status"] for v in versions}
    assert by_version == {"1": "not_registered", "2": "not_registered"}  # version 1 neither removed nor superseded

    # the same content again: the same registration, under the same idempotency key
    third = register(token, model_file)
    assert third.status == "registered" and third.model_version == "1" and third.reused_existing_version
    sent = hokusai.notifications()
    assert [s.status for s in sent] == [502, 200]
    assert sent[0].idempotency_key == sent[1].idempotency_key == f"{token}:hokusai-{token}:1"
    assert sent[0].body == sent[1].body
    versions, _ = written(mlflow_server, token)
    assert [(v.version, v.tags["hokusai.status"]) for v in versions] == [("1", "registered")]  # 2 never sent


def test_an_answer_given_before_acting_forgets_the_send(
    api: Any,  # noqa: F811
    hokusai: HokusaiStandIn,  # noqa: F811
    mlflow_server: MlflowServer,
    model_file: Path,
    tmp_path: Path,
) -> None:
    """A 429 or 503 comes before the server looks at the registration: the site was not told, so
    other content may be registered afterwards and the unsent version removed."""
    token = "API-UNTOLD"
    hokusai.rate_limited, hokusai.retry_after = 1, 600
    err = refused(token, model_file)
    assert err.exit_code == 9 and "is rate-limiting this key" in err.message
    assert "re-running the same command adopts it without a second upload" in err.message
    [v], _ = written(mlflow_server, token)
    assert "hokusai.platform_sent" not in v.tags
    other = tmp_path / "other.pkl"
    other.write_bytes(b"other content")
    again = register(token, other)
    assert again.status == "registered" and again.model_version == "2"
    versions, _ = written(mlflow_server, token)
    assert [v.version for v in versions] == ["2"]


# -- 429: Retry-After honoured up to the stall budget ------------------------------------------------
def test_a_rate_limit_is_waited_out_within_the_stall_budget(
    api: Any,  # noqa: F811
    hokusai: HokusaiStandIn,  # noqa: F811
    model_file: Path,
) -> None:
    hokusai.rate_limited, hokusai.retry_after = 1, 2
    result = register("API-429-WAIT", model_file)
    assert result.status == "registered"
    limited, accepted = hokusai.notifications()
    assert (limited.status, accepted.status) == (429, 200)
    assert accepted.at - limited.at >= 1.95  # Retry-After: 2, waited in full


def test_a_rate_limit_longer_than_the_stall_budget_exits_9_saying_when(
    api: Any,  # noqa: F811
    hokusai: HokusaiStandIn,  # noqa: F811
    model_file: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HOKUSAI_STALL_TIMEOUT", "30")
    hokusai.rate_limited, hokusai.retry_after = 5, 60  # the server's 60 s window
    run = run_cli(*register_args("API-429", model_file, "auroc", "0.88", "0.91"))
    assert run.code == 9, run.err
    line = run.err.strip().splitlines()[-1]
    assert "is rate-limiting this key: Rate limit exceeded (HTTP 429) after 1 attempt(s)" in line
    assert "it asks to wait 60s, longer than the stall budget of 30s: re-run after " in line
    assert "no detail" not in line
    assert [s.status for s in hokusai.notifications()] == [429]  # no retry it was asked not to make


# -- MLflow elsewhere: the registry fields are not sent ------------------------------------------
@pytest.fixture(scope="module")
def foreign_mlflow(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """An MLflow server that is not the platform's (the one behind the stand-in's proxy)."""
    server = MlflowServer.start(tmp_path_factory.mktemp("foreign-mlflow"))
    yield server
    server.stop()


def test_a_model_in_another_mlflow_registers_without_the_registry_fields(
    api: Any,  # noqa: F811
    hokusai: HokusaiStandIn,  # noqa: F811
    mlflow_server: MlflowServer,
    foreign_mlflow: MlflowServer,
    model_file: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The setup the REGISTRY_ADMIN_REQUIRED message recommends: a key that is not a registry
    admin's, and `--mlflow-uri` to an MLflow server of one's own."""
    api(WRITER)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", foreign_mlflow.url)
    result = register("API-FOREIGN", model_file)
    assert result.status == "registered", result
    [sent] = hokusai.notifications()
    body = json.loads(sent.body)
    assert not set(REGISTRY_FIELDS) & set(body)
    assert body["metric_name"] == "auroc" and body["version"] == "1"
    assert len(hokusai.emitted) == 1
    assert written(mlflow_server, "API-FOREIGN") == ([], [])  # nothing in the platform's registry
    [v], _ = written(foreign_mlflow, "API-FOREIGN")
    assert v.tags["hokusai.notified"] == "true"


# -- the MLflow proxy's answers, and an MLflow URL that is not MLflow -----------------------------
class _HtmlPage(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        page = b"<!doctype html><html><body>Welcome</body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(page)))
        self.end_headers()
        self.wfile.write(page)

    def log_message(self, *args: Any) -> None:
        return None


@pytest.fixture
def html_site() -> Iterator[str]:
    """A web server that answers every GET with an HTML page, as a mistyped MLflow URL may."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _HtmlPage)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/mlflow"
    server.shutdown()
    server.server_close()


def test_an_mlflow_url_that_answers_html_is_exit_8_naming_it(
    api: Any,  # noqa: F811
    hokusai: HokusaiStandIn,  # noqa: F811
    html_site: str,
    model_file: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", html_site)
    for args in (
        register_args("API-HTML", model_file, "auroc", "0.88", "0.91"),
        ["model", "status", "--token-id", "X"],
    ):
        run = run_cli(*args)
        assert run.code == 8, run.err
        line = run.err.strip().splitlines()[-1]
        assert line.startswith(f"error: MLflow Error: the model registry at {html_site} answered ")
        assert "not MLflow's JSON (HTTP 200, text/html): is this an MLflow server?" in line
        assert "Traceback" not in run.err and "JSONDecodeError" not in run.err
    assert hokusai.notifications() == []


def test_the_key_service_down_behind_the_proxy_is_exit_9(
    api: Any,  # noqa: F811
    hokusai: HokusaiStandIn,  # noqa: F811
    key_service: KeyService,  # noqa: F811
    mlflow_server: MlflowServer,
    model_file: Path,
) -> None:
    key_service.stop()
    run = run_cli(*register_args("API-PROXY-DOWN", model_file, "auroc", "0.88", "0.91"))
    assert run.code == 9, run.err
    line = run.err.strip().splitlines()[-1]
    assert "could not take the request: Authentication service unavailable (HTTP 503) after 3 attempt(s)" in line
    assert "nothing was uploaded" in line
    assert [s.status for s in hokusai.proxied()] == [503, 503, 503]
    assert written(mlflow_server, "API-PROXY-DOWN") == ([], [])


def test_a_refused_mlflow_tracking_token_is_named_not_the_api_key(
    api: Any,  # noqa: F811
    hokusai: HokusaiStandIn,  # noqa: F811
    model_file: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    own = "mlflow-own-token-0123456789"
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", own)  # wins over the API key for MLflow
    run = run_cli(*register_args("API-OWNTOKEN", model_file, "auroc", "0.88", "0.91"))
    assert run.code == 10, run.err
    line = run.err.strip().splitlines()[-1]
    assert "refused the token in MLFLOW_TRACKING_TOKEN: Invalid or expired API key (HTTP 401)" in line
    assert "unset MLFLOW_TRACKING_TOKEN so the API key is used" in line
    assert "the API key" not in line.replace("so the API key is used", "").replace("instead of the Hokusai API key", "")
    assert own not in run.err + run.out and ADMIN not in run.err + run.out


# -- status: what API mode can know ----------------------------------------------------------------
def test_status_shows_the_acceptance_time_and_no_invented_creation_time(
    api: Any,  # noqa: F811
    hokusai: HokusaiStandIn,  # noqa: F811
    mlflow_server: MlflowServer,
    model_file: Path,
) -> None:
    hokusai.rate_limited, hokusai.retry_after = 1, 2  # the acceptance comes 2 s after the version
    assert register("API-WHEN", model_file).status == "registered"
    [v], _ = written(mlflow_server, "API-WHEN")
    created = datetime.fromtimestamp(v.creation_timestamp / 1000, UTC)
    shown = run_cli("model", "status", "--token-id", "API-WHEN", "--output", "json")
    assert shown.code == 0, shown.err
    out = shown.json()
    assert out["created_at"] is None  # only the site knows when the token was created
    registered = datetime.fromisoformat(out["registered_at"])
    assert (registered - created).total_seconds() >= 1, (created, registered)
    assert registered.isoformat(timespec="seconds") == v.tags["hokusai.accepted_at"]

    draft = run_cli("model", "status", "--token-id", "API-NEVER")
    assert draft.code == 0, draft.err
    assert "created  not known here (only the Hokusai site knows)" in " ".join(draft.out.split("\n"))
    assert draft.out.count(datetime.now(UTC).strftime("%Y-%m-%d")) == 0


# -- which failures a non-idempotent POST retries --------------------------------------------------
def test_only_a_connection_never_made_is_retried_by_the_notification_policy() -> None:
    """Real sockets: a closed port (the request never left) and a listener that never answers
    (the request left; the server may act on it)."""
    policy = RetryPolicy(status=BEFORE_ACTING.__contains__, after_send=False, wait_budget=60)
    slept: list[float] = []
    closed = post_with_retries(
        f"http://127.0.0.1:{free_port()}/x", b"{}", dict, attempts=3, timeout=2, sleep=slept.append, policy=policy
    )
    assert (closed.ok, closed.unsent, closed.attempts, len(slept)) == (False, True, 3, 2)

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/x"
        lost = post_with_retries(url, b"{}", dict, attempts=3, timeout=0.5, sleep=slept.append, policy=policy)
    assert (lost.ok, lost.unsent, lost.attempts) == (False, False, 1)
    assert "timed out" in str(lost.error) and len(slept) == 2  # no wait: nothing more was sent


# -- any body the platform (or a layer in front of it) answers is shown as one bounded line ---------
bodies = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(["detail", "message", "error", "x"]), inner)
    ),
    max_leaves=6,
)


@settings(max_examples=300, deadline=None)
@given(body=bodies)
def test_any_answer_body_is_one_bounded_line_and_a_rate_limit_is_not_no_detail(body: Any) -> None:
    said = detail(body, (ADMIN,))
    assert said and "\n" not in said and len(said) <= 201 and ADMIN not in said
    only_error = isinstance(body, dict) and body.get("detail") is None and body.get("message") is None
    if only_error and isinstance(body.get("error"), str) and body["error"].strip():
        assert said != "no detail"  # a rate limiter's {"error": ...} is shown as it is
