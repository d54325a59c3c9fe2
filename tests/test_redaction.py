"""The redaction layer and the settings checks that keep secrets and control characters out.

Fast, in-process tier: secrets, URLs and hostile setting values are generated with Hypothesis.
The end-to-end proof (every command, every output, real servers) is tests/test_secret_canary.py.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hokusai_ci.config.redaction import (
    MASK,
    MIN_SECRET_LENGTH,
    PUBLIC_PREFIXES,
    SECRET_SETTINGS,
    display_url,
    forget,
    redact,
    redact_data,
    remember,
)
from hokusai_ci.config.settings import DEFAULT_API_MLFLOW_URI, load_settings
from hokusai_ci.domain.errors import Category, HokusaiError
from tests.conftest import REPO, docs_text, register_args, run_here
from tests.servers import Receiver

secret_values = st.text(min_size=MIN_SECRET_LENGTH, max_size=40).filter(lambda s: "\x00" not in s)
one_line = st.text(min_size=MIN_SECRET_LENGTH, max_size=20).filter(
    lambda s: len(s.strip()) >= MIN_SECRET_LENGTH and s.splitlines() == [s] and "\x00" not in s
)
multi_line = st.lists(one_line, min_size=2, max_size=5).map("\n".join)
surrounding = st.text(max_size=40)
CONTROL = [chr(c) for c in (*range(0x20), 0x7F, *range(0x80, 0xA0), 0x2028, 0x2029)]


@pytest.fixture(autouse=True)
def no_remembered_secrets() -> Iterator[None]:
    forget()
    yield
    forget()


def lines_of(secret: str) -> list[str]:
    """The lines a reader could recognise; a line that is only a format's prefix (`whsec_`)
    holds nothing secret and stays readable in the message that explains the format."""
    return [
        line.strip()
        for line in secret.splitlines()
        if len(line.strip()) >= MIN_SECRET_LENGTH and line.strip() not in PUBLIC_PREFIXES
    ]


@given(secret=st.one_of(secret_values, multi_line), before=surrounding, after=surrounding)
def test_any_text_holding_a_secret_comes_out_without_it(secret: str, before: str, after: str) -> None:
    out = redact(before + secret + after, extra=[secret])
    if secret.strip() not in PUBLIC_PREFIXES:
        assert secret not in out
    for line in lines_of(secret):
        assert line not in out


@given(secret=multi_line, line=st.integers(min_value=0, max_value=4), before=surrounding)
def test_each_line_of_a_remembered_secret_is_redacted_alone(secret: str, line: int, before: str) -> None:
    forget()
    remember(secret)
    lines = secret.splitlines()
    shown = lines[line % len(lines)]
    out = redact(f"{before} {shown} …")
    assert shown.strip() not in out


@given(secret=secret_values, row=st.sampled_from(SECRET_SETTINGS), before=surrounding)
def test_every_secret_setting_is_redacted_from_the_environment(secret: str, row: object, before: str) -> None:
    name = row.env  # type: ignore[attr-defined]
    old = os.environ.get(name)
    os.environ[name] = secret
    try:
        out = redact(before + secret + before)
    finally:
        if old is None:
            del os.environ[name]
        else:
            os.environ[name] = old
    assert secret not in out


@given(secret=st.one_of(secret_values, multi_line), key=st.text(max_size=10))
def test_redacted_data_stays_valid_json_without_the_secret(secret: str, key: str) -> None:
    remember(secret)
    data = {"message": f"failed: {secret}", key: [secret, 1.5, None, {"nested": secret}]}
    text = json.dumps(redact_data(data), ensure_ascii=False)
    assert secret not in json.dumps(json.loads(text), ensure_ascii=False)
    assert secret not in text
    forget()


userinfo_chars = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=%:@")


@given(
    user=st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_.", min_size=1, max_size=10),
    password=userinfo_chars.filter(bool),
    scheme=st.sampled_from(["http", "https", "postgresql", "postgresql+psycopg", "s3"]),
    before=surrounding,
)
def test_url_user_info_is_redacted_anywhere_in_a_text(user: str, password: str, scheme: str, before: str) -> None:
    text = f"{before} API request to {scheme}://{user}:{password}@db.example:5432/x failed"
    out = redact(text)
    assert f"{scheme}://{user}:{MASK}@db.example:5432/x failed" in out
    assert f":{password}@db.example" not in out


def test_token_query_parameters_and_long_lone_user_info_are_redacted() -> None:
    out = redact("GET https://h.example/x?page=2&access_token=abc123&X-Amz-Signature=f00d&sig=zz#frag")
    assert out == f"GET https://h.example/x?page=2&access_token={MASK}&X-Amz-Signature={MASK}&sig={MASK}#frag"
    assert redact("postgresql://ml_platform@db/x") == "postgresql://ml_platform@db/x"  # a user name is shown
    assert redact("clone https://ghp_0123456789abcdefghijkl@github.com/o/r") == f"clone https://{MASK}@github.com/o/r"


def test_display_url_never_raises_and_drops_credentials() -> None:
    assert display_url("https://user:pw@hooks.example/x?token=abc") == "https://hooks.example/x"
    assert display_url("http://h:99999/x") == "(an unreadable URL)"
    assert display_url("http://[::1]:8080/p") == "http://[::1]:8080/p"
    assert display_url("/moved", base="http://u:p@127.0.0.1:9/hooks") == "http://127.0.0.1:9/moved"


URL_SETTINGS = [
    ("mlflow-uri", lambda v: ({"mlflow_uri": v}, {})),
    ("HOKUSAI_WEBHOOK_URL", lambda v: ({}, {"HOKUSAI_WEBHOOK_URL": v})),  # named where it was set
    ("api-url", lambda v: ({"api_url": v}, {})),
]


@given(
    setting=st.sampled_from(URL_SETTINGS),
    bad=st.sampled_from(CONTROL),
    where=st.integers(min_value=0, max_value=24),
)
def test_control_characters_in_url_settings_are_refused_naming_the_field(
    setting: tuple[str, object], bad: str, where: int
) -> None:
    name, build = setting
    url = "https://registry.example/api"
    flags, env = build(url[:where] + bad + url[where:])  # type: ignore[operator]
    with pytest.raises(HokusaiError) as info:
        load_settings(flags, env)
    assert info.value.category is Category.INVALID_INPUT
    assert info.value.message.startswith(f"{name}=") and f"U+{ord(bad):04X}" in info.value.message


@given(key=st.sampled_from(["host", "url", "username", "database"]), bad=st.sampled_from(CONTROL))
def test_control_characters_in_db_config_are_refused_without_the_value(key: str, bad: str) -> None:
    value = f"db{bad}::warning::x" if key != "url" else f"postgresql://u:p@db/x{bad}::warning::x"
    with pytest.raises(HokusaiError) as info:
        load_settings({}, {"HOKUSAI_DB_HOST": "h", **_db_env(key, value)}) if key != "url" else _load_db_url(value)
    assert info.value.message.startswith(f"db-config {key} is invalid") and "::warning" not in info.value.message


def _db_env(key: str, value: str) -> dict[str, str]:
    return {{"host": "HOKUSAI_DB_HOST", "username": "HOKUSAI_DB_USER", "database": "HOKUSAI_DB_NAME"}[key]: value}


def _load_db_url(url: str) -> object:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "db.json"
        cfg.write_text(json.dumps({"url": url}))
        return load_settings({"db_config": str(cfg)}, {})


def test_a_newline_in_the_mlflow_uri_exits_2_with_one_line() -> None:
    run = run_here("model", "status", "--token-id", "X", env={"MLFLOW_TRACKING_URI": "http://h\n::warning::forged"})
    assert run.code == 2
    assert run.err.count("\n") == 1 and "error: Invalid Input: MLFLOW_TRACKING_URI=" in run.err and "U+000A" in run.err


@pytest.mark.parametrize("source", ["flag", "env"])
def test_a_refused_mlflow_uri_never_shows_its_query(source: str) -> None:
    """A query may carry a token: the error names where the URI was set and shows it without."""
    uri = "http://bob:pw-Zq81@127.0.0.1:5077/mlflow?tok=qs-Zq82#frag-Zq83"
    args = ["model", "verify", "--token-id", "X", "--public-key", "k.pem"] + (
        ["--mlflow-uri", uri] if source == "flag" else []
    )
    run = run_here(*args, env={"MLFLOW_TRACKING_URI": uri} if source == "env" else {})
    assert run.code == 2, run.err
    name = "mlflow-uri" if source == "flag" else "MLFLOW_TRACKING_URI"
    assert f"error: Invalid Input: {name}='http://127.0.0.1:5077/mlflow' is invalid" in run.err, run.err
    assert not any(s in run.err + run.out for s in ("pw-Zq81", "qs-Zq82", "frag-Zq83"))


@pytest.mark.parametrize(
    ("content", "names"),
    [
        ("host: db\npasword: {canary}\n", "unknown key 'pasword' (value not shown): did you mean 'password'?"),
        ("url: postgresql://u:ab%zz{canary}@db/x\n", "db-config url is invalid: its user or password is not valid"),
        ("url: postgresql://u:{canary}@db:99x/x\n", "db-config url is invalid: its port"),
        ("host: db\nport: {canary}\n", "db-config port is invalid (value not shown)"),
    ],
)
@pytest.mark.parametrize("output", ["text", "json"])
def test_db_config_errors_name_the_key_never_the_value(tmp_path: Path, content: str, names: str, output: str) -> None:
    canary = "cnryDbConfig9f3"
    cfg = tmp_path / "db.yaml"
    cfg.write_text(content.format(canary=canary))
    run = run_here("model", "list", "--db-config", str(cfg), "--output", output)
    assert run.code == 2 and names in run.err
    assert canary not in run.out + run.err


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, True),  # the default Hokusai registry
        ({"MLFLOW_TRACKING_URI": DEFAULT_API_MLFLOW_URI + "/x"}, True),
        (
            {
                "MLFLOW_TRACKING_URI": "https://staging.hokus.ai/api/mlflow",
                "HOKUSAI_API_URL": "https://staging.hokus.ai",
            },
            True,
        ),
        ({"MLFLOW_TRACKING_URI": "https://mlflow.thirdparty.example"}, False),
        ({"MLFLOW_TRACKING_URI": "http://registry.hokus.ai:8080/api/mlflow"}, False),  # another port, another service
        (
            {"MLFLOW_TRACKING_URI": "https://mlflow.example", "HOKUSAI_TRUST_HOSTS": "other.example, mlflow.example"},
            True,
        ),
        ({"MLFLOW_TRACKING_URI": "https://mlflow.example:8443", "HOKUSAI_TRUST_HOSTS": "mlflow.example:443"}, False),
    ],
)
def test_the_api_key_goes_only_to_hokusai_hosts_or_trusted_ones(env: dict[str, str], expected: bool) -> None:
    key = "hk_test_trust_policy_key_1"
    settings = load_settings({}, {"HOKUSAI_API_KEY": key, **env})
    assert settings.registry_token() == (key if expected else None)


def test_mlflow_own_token_wins_and_database_mode_never_sends_the_key() -> None:
    env = {"HOKUSAI_API_KEY": "hk_test_trust_policy_key_1", "MLFLOW_TRACKING_URI": "https://m.example"}
    assert load_settings({}, {**env, "MLFLOW_TRACKING_TOKEN": "own-token"}).registry_token() == "own-token"
    # the key copied into MLflow's variable (or left there by an earlier run in this process) still
    # follows the rule: a third party does not get it
    assert load_settings({}, {**env, "MLFLOW_TRACKING_TOKEN": env["HOKUSAI_API_KEY"]}).registry_token() is None
    assert (
        load_settings({}, {**env, "HOKUSAI_DB_HOST": "db", "HOKUSAI_TRUST_HOSTS": "m.example"}).registry_token() is None
    )


@pytest.mark.parametrize("entry", ["http://x.example", "x.example/path", "u@x.example", "x.example:port", "a\nb"])
def test_trust_hosts_entries_are_host_or_host_port(entry: str) -> None:
    with pytest.raises(HokusaiError) as info:
        load_settings({}, {"HOKUSAI_TRUST_HOSTS": entry})
    assert info.value.message.startswith("HOKUSAI_TRUST_HOSTS=")


def test_action_log_lines_are_redacted_and_cannot_start_a_workflow_command() -> None:
    script = """
import logging
from hokusai_ci.faces.github import configure_logging
configure_logging("INFO")
logging.getLogger("hokusai_ci").warning("%d%% done\\n::warning::forged\\r\\nat http://u:cnryLogPw1@h/", 50)
logging.getLogger("mlflow.store").error("library says\\n::error::forged too ##[error]legacy")
try:
    raise ValueError("boom http://u:cnryLogPw2@h/\\n::error::in a traceback")
except ValueError:
    logging.getLogger("hokusai_ci.domain.events").exception("failed")
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO)
    lines = proc.stderr.splitlines()
    assert proc.returncode == 0 and len(lines) == 3, proc.stderr
    assert not [line for line in lines if line.lstrip().startswith("::")]
    assert lines[0] == "hokusai: 50% done%0A::warning::forged%0D%0Aat http://u:***@h/"
    assert "library says%0A::error::forged too ##%5Berror]legacy" in lines[1]
    assert "cnryLogPw" not in proc.stderr and "Traceback" in lines[2] and "ValueError: boom http://u:***@h/" in lines[2]


def test_the_readme_says_where_every_secret_setting_goes() -> None:
    readme = docs_text()
    section = readme.split("## Where each secret may go", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    for setting in SECRET_SETTINGS:
        [row] = [r for r in rows if f"`{setting.env}`" in r.split("|")[1]]
        if setting.action_input:
            assert f"input `{setting.action_input}`" in row


def test_python_api_callers_get_redacted_log_records(caplog: pytest.LogCaptureFixture) -> None:
    from hokusai_ci import ModelRegistry

    ModelRegistry()  # a library user's own logging setup: records reach it already redacted
    with caplog.at_level("WARNING"):
        logging.getLogger("mlflow.tracking").warning("retrying %s", "http://u:cnryApiLog5@h/api")
    assert [r.getMessage() for r in caplog.records] == ["retrying http://u:***@h/api"]


@pytest.mark.parametrize("line", ["a." * 100_000, "a://" * 50_000, "?x" * 100_000 + "token=", "&" + "k" * 200_000])
def test_a_long_log_line_is_redacted_in_linear_time(line: str) -> None:
    import time

    started = time.monotonic()
    assert redact(line + " http://u:pw12@h/").endswith(f"http://u:{MASK}@h/")
    assert time.monotonic() - started < 5  # unbounded patterns are quadratic on these


class EchoingServer(Receiver):
    """A server whose error page quotes the request's Authorization header back, as some proxies
    and debug pages do."""

    def answer(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any], dict[str, str]]:
        quoted = headers.get("Authorization", "none")
        return 403, {"error_code": "PERMISSION_DENIED", "message": f"denied: Authorization: {quoted} ({quoted})"}, {}


@pytest.mark.parametrize("auth", ["basic", "bearer"])
def test_a_server_quoting_the_credentials_back_never_prints_them(auth: str, tmp_path: Path) -> None:
    """The real process against a real server that echoes `Basic <base64 of user:password>` or
    `Bearer <token>`: neither the base64 nor the token reaches the output."""
    import base64

    server = EchoingServer().start()
    try:
        credentials = (
            {"MLFLOW_TRACKING_USERNAME": "ci-user", "MLFLOW_TRACKING_PASSWORD": "pw-Zq81-echo"}
            if auth == "basic"
            else {"MLFLOW_TRACKING_TOKEN": "tok-echo-5512-zz"}
        )
        model = tmp_path / "m.pkl"
        model.write_bytes(b"model")
        env = {"MLFLOW_TRACKING_URI": server.base_url, "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", **credentials}
        run_here("token", "create", "--token-id", "ECHO", env=env, cwd=tmp_path)
        result = run_here(*register_args("ECHO", model, "auroc", "0.8", "0.9"), env=env, cwd=tmp_path)
    finally:
        server.stop()
    assert server.received, "the server was never asked"
    shown = result.out + result.err
    assert result.code != 0 and "PERMISSION_DENIED" in shown, shown
    for secret in ("pw-Zq81-echo", base64.b64encode(b"ci-user:pw-Zq81-echo").decode(), "tok-echo-5512-zz"):
        assert secret not in shown


@given(user=st.text(min_size=1, max_size=12).filter(lambda s: ":" not in s), password=st.text(min_size=1, max_size=20))
def test_basic_and_bearer_credentials_are_masked_in_any_text(user: str, password: str) -> None:
    import base64

    blob = base64.b64encode(f"{user}:{password}".encode()).decode()
    assert blob not in redact(f"upstream said: Basic {blob} is not allowed")
    assert blob not in redact(f'{{"authorization": "Basic {blob}"}}')
    token = "hk_" + blob
    assert token not in redact(f"rejected Bearer {token}.")
    assert redact("this server uses Basic authentication; send a Bearer token") == (
        "this server uses Basic authentication; send a Bearer token"
    )
