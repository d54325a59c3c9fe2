"""Every input surface under generated hostile input (Hypothesis): token ids, names, paths,
numbers, URLs, metrics and config files, settings from the environment, and the Action's
inputs. Whatever comes in, the answer is exit 0 or a code from the one table
(hokusai_ci/domain/errors.py), with exactly one error line, never a traceback, never a half-written
store. The fast tier runs the CLI in-process in mock mode; a few checks run the real process.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import math
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from hokusai_ci.config.settings import display_url, load_settings
from hokusai_ci.config.validation import CONTROL, NUMBER
from hokusai_ci.core.inputs import MODEL_NAME, TOKEN_ID
from hokusai_ci.domain.errors import Category, HokusaiError
from hokusai_ci.domain.events import build_events, compact_json, json_schemas
from hokusai_ci.domain.metrics import Direction, MetricSpec, gate
from hokusai_ci.domain.record import Registration
from hokusai_ci.faces.github import run_action
from tests.conftest import register_args, run_here

EXIT_CODES = {0} | {c.exit_code for c in Category}
FAST = settings(
    max_examples=150,
    deadline=None,
    database=None,
    derandomize=True,  # the same examples on every CI run; explicit @example()s pin the known cases
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
# Text that reaches the code as typed: any Unicode (no surrogates, which argv cannot carry),
# with the characters hostile users reach for over-represented.
HOSTILE = st.one_of(
    st.text(max_size=80),
    st.text(alphabet=st.sampled_from("aZ09._-\n\r\t\x00\x85\u2028\u2029 %:/\\'\"$`;|&<>*?١٠.e+"), max_size=40),
)


def strict_json(text: str) -> Any:
    """json.loads that refuses NaN and Infinity, which are not JSON."""

    def refuse(word: str) -> Any:
        raise ValueError(f"{word} is not JSON")

    return json.loads(text, parse_constant=refuse)


def assert_answered(code: int, err: str) -> None:
    """The contract for every input: a documented code and, on failure, one line, no traceback."""
    assert code in EXIT_CODES, (code, err)
    assert "Traceback" not in err, err
    if code != 0:
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), err
        assert code != 1, f"an input reached the internal-error net: {err}"


@pytest.fixture
def mock_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setenv("HOKUSAI_MOCK_MODE", "true")
    monkeypatch.setenv("HOKUSAI_LOG_LEVEL", "ERROR")
    model = tmp_path / "model.bin"
    model.write_bytes(b"weights" * 64)
    return tmp_path


def store_state(home: Path) -> str:
    db = Path(os.environ["HOKUSAI_HOME"]) / "mock.db"
    return hashlib.sha256(db.read_bytes()).hexdigest() if db.exists() else "absent"


@contextlib.contextmanager
def unchanged_unless_ok(home: Path) -> Iterator[list[int]]:
    """Yields a cell for the exit code; a failed input must leave the store as it was."""
    before = store_state(home)
    cell: list[int] = []
    yield cell
    if cell and cell[0] == 2:
        assert store_state(home) == before, "an input error wrote to the store"


def register(home: Path, *pairs: tuple[str, str]) -> list[str]:
    """A dry run in mock mode, every option spelled `--name=value` (a hostile value that starts
    with `-` stays a value); `pairs` replace options in place or add them."""
    return register_args("HYPO", home / "model.bin", joined=True, dry_run="true", **dict(pairs))


# -- identifiers ------------------------------------------------------------------------


@FAST
@given(token=HOSTILE)
@example(token="XRAY\n")
@example(token="XRAY\u2028")
@example(token="007")
def test_any_token_id(mock_home: Path, token: str) -> None:
    with unchanged_unless_ok(mock_home) as cell:
        code, _, err = run_here(*register(mock_home, ("token-id", token)))
        cell.append(code)
    assert_answered(code, err)
    if TOKEN_ID.fullmatch(token):
        assert code == 0, err
    else:
        assert code == 2 and "token-id=" in err, err


@FAST
@given(name=HOSTILE)
@example(name="model\n")
@example(name="")  # typed empty: refused, never silently the default name
def test_any_model_name(mock_home: Path, name: str) -> None:
    code, _, err = run_here(*register(mock_home, ("model-name", name)))
    assert_answered(code, err)
    if MODEL_NAME.fullmatch(name):
        assert code == 0, err
    else:
        assert code == 2 and "model-name=" in err, err


@FAST
@given(field=st.sampled_from(["metric", "direction", "metric-key", "model-path", "links-within"]), value=HOSTILE)
def test_any_other_text_input(mock_home: Path, field: str, value: str) -> None:
    pairs = [(field, value)]
    if field == "metric-key":
        pairs += [("metrics-file", str(mock_home / "m.json")), ("metric-value", "")]
        (mock_home / "m.json").write_text('{"auroc": 0.9}')
    with unchanged_unless_ok(mock_home) as cell:
        code, _, err = run_here(*register(mock_home, *pairs))
        cell.append(code)
    assert_answered(code, err)
    if CONTROL.search(value):
        assert code == 2, err


# -- numbers -----------------------------------------------------------------------------


@FAST
@given(text=st.one_of(HOSTILE, st.from_regex(r"[+-]?[0-9]{0,400}(\.[0-9]*)?([eE][+-]?[0-9]{1,5})?", fullmatch=True)))
@example(text="0.8_5")
@example(text="١")
@example(text="0x1p-1")
@example(text="1" * 400)
@example(text="nan")
@example(text="1e999")
def test_any_number(mock_home: Path, text: str) -> None:
    code, out, err = run_here(*register(mock_home, ("metric-value", text), ("baseline", "0")), "--output=json")
    assert_answered(code, err)
    strict_json(out)  # one JSON object, valid JSON, whatever happened
    if code == 0:
        assert NUMBER.fullmatch(text.strip(" \t")) and 0 <= float(text) <= 1
    elif NUMBER.fullmatch(text.strip(" \t")) and math.isfinite(float(text)):
        assert code == 5, err  # a well-formed number outside auroc's range
    else:
        assert code == 2 and "metric-value=" in err, err


@FAST
@given(
    value=st.floats(allow_nan=False, allow_infinity=False),
    baseline=st.floats(allow_nan=False, allow_infinity=False),
    direction=st.sampled_from(Direction),
)
@example(value=1.7e308, baseline=-1.7e308, direction=Direction.HIGHER)
@example(value=1.0, baseline=5e-324, direction=Direction.LOWER)
def test_derived_numbers_are_finite_and_every_payload_matches_its_schema(
    value: float, baseline: float, direction: Direction
) -> None:
    metric = MetricSpec("custom_score", direction, None, None, "custom metric")
    try:
        outcome = gate(metric, value, baseline)
    except HokusaiError as err:
        assert err.category is Category.INVALID_INPUT and "too far apart" in err.message
        return
    schemas = {s["title"]: s for s in json_schemas().values()}
    record = Registration(
        model_name="m",
        model_version="1",
        model_uri="models:/m/1",
        run_id="r",
        sha256="0" * 64,
        metric_name=outcome.name,
        metric_value=outcome.value,
        baseline=outcome.baseline,
        direction=outcome.direction.value,
    )
    for event in build_events(token_id="T", record=record, gate=outcome, destination=None):
        body = strict_json(compact_json(event.payload).decode())
        jsonschema.validate(body, schemas[body["event_type"]])


def test_non_finite_values_never_reach_json() -> None:
    from hokusai_ci.faces.presenters import to_json

    with pytest.raises(ValueError):
        compact_json({"delta": math.inf})
    with pytest.raises(ValueError):
        to_json({"delta": math.nan})


def test_an_overflowing_delta_is_an_input_error(mock_home: Path) -> None:
    args = register(mock_home, ("metric", "loss_span"), ("metric-value", "1.7e308"), ("baseline", "-1.7e308"))
    code, _, err = run_here(*args, "--direction=higher")
    assert code == 2, err
    assert "metric-value=1.7e+308 and baseline=-1.7e+308 are too far apart" in err


# -- metrics and config files -----------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@FAST
@given(node=JSON_VALUES, raw=st.one_of(st.none(), st.text(max_size=200)), suffix=st.sampled_from([".json", ".yaml"]))
@example(node={"auroc": 10**400}, raw=None, suffix=".json")
@example(node=None, raw='{"auroc": ' + "9" * 5000 + "}", suffix=".json")
@example(node=None, raw="[" * 100_000 + "]" * 100_000, suffix=".json")
@example(node=None, raw="a: " + "[" * 100_000, suffix=".yaml")
@example(node={"auroc": "0.8_5"}, raw=None, suffix=".json")
def test_any_metrics_file(mock_home: Path, node: Any, raw: str | None, suffix: str) -> None:
    path = mock_home / f"metrics{suffix}"
    text = raw if raw is not None else json.dumps({"auroc": node} if not isinstance(node, dict) else node)
    path.write_text(text, encoding="utf-8")
    pairs = [("metrics-file", str(path)), ("metric-value", ""), ("baseline", "0")]
    code, _, err = run_here(*register(mock_home, *pairs))
    assert_answered(code, err)
    assert code in (0, 2, 5), err  # 5: no number under the key, or one outside auroc's range


@FAST
@given(
    keys=st.lists(st.from_regex(r"[a-z][a-z_]{0,7}", fullmatch=True), min_size=1, max_size=5, unique=True),
    which=st.integers(0, 4),
    suffix=st.sampled_from([".json", ".yaml"]),
    nested=st.booleans(),
)
def test_a_key_given_twice_in_a_metrics_file_is_refused_naming_it(
    mock_home: Path, keys: list[str], which: int, suffix: str, nested: bool
) -> None:
    """Which of two values would count is a guess (JSON and YAML parsers keep the last one)."""
    twice = keys[which % len(keys)]
    pairs = [(k, 0.5) for k in keys] + [(twice, 0.9)]
    if suffix == ".json":
        body = "{" + ", ".join(f'"{k}": {v}' for k, v in pairs) + "}"
        text = '{"eval": ' + body + "}" if nested else body
    else:
        indent = "  " if nested else ""
        text = ("eval:\n" if nested else "") + "".join(f"{indent}{k}: {v}\n" for k, v in pairs)
    path = mock_home / f"metrics{suffix}"
    path.write_text(text, encoding="utf-8")
    key = f"eval.{twice}" if nested else twice
    pairs_args = [("metrics-file", str(path)), ("metric-value", ""), ("metric-key", key)]
    with unchanged_unless_ok(mock_home) as cell:
        code, _, err = run_here(*register(mock_home, *pairs_args))
        cell.append(code)
    assert code == 2, err
    assert f"metrics-file={str(path)!r} is invalid: the key {twice!r} appears twice" in err, err


@FAST
@given(parts=st.lists(st.from_regex(r"[a-z]{1,6}", fullmatch=True), min_size=2, max_size=4), cut=st.integers(1, 3))
def test_a_key_holding_dots_is_found_and_two_readings_are_refused(mock_home: Path, parts: list[str], cut: int) -> None:
    """`--metric-key eval.auroc` finds `{"eval.auroc": v}` as well as `{"eval": {"auroc": v}}`;
    a file holding both is ambiguous, never silently one of them."""
    key, cut = ".".join(parts), min(cut, len(parts) - 1)
    flat: dict[str, Any] = {key: 0.91}
    nested: dict[str, Any] = {".".join(parts[:cut]): {".".join(parts[cut:]): 0.92}}
    path = mock_home / "m.json"
    for data, expected in ((flat, 0), (nested, 0), ({**flat, **nested}, 2)):
        path.write_text(json.dumps(data), encoding="utf-8")
        code, _, err = run_here(
            *register(mock_home, ("metrics-file", str(path)), ("metric-value", ""), ("metric-key", key))
        )
        assert code == expected, (data, err)
        if expected:
            assert f"the key {key!r} names two values" in err, err


def test_a_metrics_file_saved_with_a_byte_order_mark_is_read(mock_home: Path) -> None:
    for suffix in (".json", ".yaml"):
        path = mock_home / f"bom{suffix}"
        path.write_bytes("\ufeff".encode() + (b'{"auroc": 0.9}' if suffix == ".json" else b"auroc: 0.9\n"))
        pairs = [("metrics-file", str(path)), ("metric-value", "")]
        code, _, err = run_here(*register(mock_home, *pairs))
        assert code == 0, err


DB_KEYS = st.sampled_from(["host", "port", "database", "username", "password", "url", "pasword", "hots"])


@FAST
@given(
    data=st.dictionaries(DB_KEYS, st.one_of(JSON_VALUES, HOSTILE), max_size=5),
    raw=st.one_of(st.none(), st.text(max_size=100)),
)
@example(data={"host": "db", "port": "5_432"}, raw=None)
@example(data={"host": "db", "port": 10**400}, raw=None)
@example(data={"url": "postgresql://u:pw@[::1/db"}, raw=None)
@example(data={"url": "postgresql://u:pw@db:99999/db"}, raw=None)
@example(data={}, raw="[" * 100_000)
def test_any_db_config_file(tmp_path: Path, data: dict[str, Any], raw: str | None) -> None:
    path = tmp_path / "db.json"
    path.write_text(raw if raw is not None else json.dumps(data), encoding="utf-8")
    try:
        loaded = load_settings({"db_config": str(path)}, environ={})
    except HokusaiError as err:
        assert err.category is Category.INVALID_INPUT, err
        assert "\n" not in err.message
        return
    if loaded.database is not None:
        assert 1 <= loaded.database.port <= 65535
        loaded.database.describe()


# -- URLs and settings from the environment ---------------------------------------------


@FAST
@given(url=st.one_of(HOSTILE, st.from_regex(r"https?://[a-z\[\]:0-9.]{0,20}(:[0-9a-z]{0,8})?/?", fullmatch=True)))
@example(url="http://127.0.0.1:99999/")
@example(url="http://[::1/")
@example(url="http://host:port/")
def test_any_url_setting(url: str) -> None:
    for field in ("mlflow_uri", "webhook_url", "api_url"):
        try:
            loaded = load_settings({field: url}, environ={})
        except HokusaiError as err:
            assert err.category is Category.INVALID_INPUT and field.replace("_", "-") in err.message
            continue
        display_url(getattr(loaded, field) or "")


NUMERIC_ENV = {
    "HOKUSAI_WEBHOOK_TIMEOUT": ("webhook_timeout", 0.1, 300),
    "HOKUSAI_WEBHOOK_ATTEMPTS": ("webhook_attempts", 1, 20),
    "HOKUSAI_LEASE_SECONDS": ("lease_seconds", 30, 86400),
    "HOKUSAI_STALL_TIMEOUT": ("stall_timeout", 1, 3600),
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": ("mlflow_retries", 0, 10),
    "HOKUSAI_DB_PORT": ("database", 1, 65535),
}


@FAST
@given(name=st.sampled_from(sorted(NUMERIC_ENV)), text=st.one_of(HOSTILE, st.integers().map(str)))
@example(name="HOKUSAI_WEBHOOK_TIMEOUT", text="inf")
@example(name="HOKUSAI_LEASE_SECONDS", text="1" * 400)
@example(name="HOKUSAI_WEBHOOK_ATTEMPTS", text="3.0")
@example(name="HOKUSAI_DB_PORT", text="5_432")
@example(name="HOKUSAI_LEASE_SECONDS", text="٣٠٠")
def test_any_numeric_setting(name: str, text: str) -> None:
    environ = {name: text, "HOKUSAI_LEASE_SECONDS": "86400"} if name != "HOKUSAI_LEASE_SECONDS" else {name: text}
    if name == "HOKUSAI_DB_PORT":
        environ["HOKUSAI_DB_HOST"] = "db.internal"
    try:
        loaded = load_settings(environ=environ)
    except HokusaiError as err:
        assert err.category is Category.INVALID_INPUT and name in err.message, err.message
        return
    field, low, high = NUMERIC_ENV[name]
    value = loaded.database.port if field == "database" and loaded.database else getattr(loaded, field)
    assert text == "" or re.fullmatch(r"[ \t]*[+-]?[0-9][0-9.eE+-]*[ \t]*", text)  # "" is unset: the default
    assert math.isfinite(value) and low <= value <= high


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("HOKUSAI_WEBHOOK_TIMEOUT", "inf"),
        ("HOKUSAI_WEBHOOK_TIMEOUT", "nan"),
        ("HOKUSAI_WEBHOOK_SECRET", "whsec_not*base64!"),
        ("HOKUSAI_LEASE_SECONDS", "9" * 30),
        ("HOKUSAI_LEASE_SECONDS", "5"),
        ("HOKUSAI_WEBHOOK_ATTEMPTS", "1_0"),
        ("HOKUSAI_EXPERIMENT", "exp\nline"),
        ("HOKUSAI_HOME", "/tmp/home\r"),
    ],
)
def test_bad_settings_stop_before_anything_is_written(tmp_path: Path, name: str, value: str) -> None:
    """Found after the token was registered, these crashed with exit 1 and left events
    pending; now the run stops first, the token stays draft and the outbox stays empty."""
    from tests.conftest import register_args, run_cli

    model = tmp_path / "model.bin"
    model.write_bytes(b"w" * 100)
    assert run_cli("token", "create", "--token-id", "SETTING").code == 0
    env = {"HOKUSAI_WEBHOOK_URL": "http://127.0.0.1:9/hook", name: value}
    r = run_cli(*register_args("SETTING", model, "auroc", "0.8", "0.9"), env=env)
    assert r.code == 2, r.err
    assert len(r.err.strip().splitlines()) == 1 and name in r.err and "Traceback" not in r.err
    if name == "HOKUSAI_WEBHOOK_SECRET":
        assert value not in r.err
    status = run_cli("model", "status", "--token-id", "SETTING", "--output", "json").json()
    assert status["status"] == "draft" and status["events"] == []
    assert not (Path(os.environ["HOKUSAI_HOME"]) / "mlruns").exists()


# -- control characters, long paths, unreadable files: each input named ----------------


TEXT_FIELDS = ["token-id", "model-name", "model-path", "metrics-file", "metric-key", "metric", "direction"]


@pytest.mark.parametrize("field", [*TEXT_FIELDS, "dotenv-report", "links-within"])
@pytest.mark.parametrize("char", ["\n", "\r", "\x00", "\x1b", "\x85", "\u2028"])
def test_control_characters_are_refused_in_every_name_and_path(mock_home: Path, field: str, char: str) -> None:
    value = {"model-path": str(mock_home / "model.bin"), "metrics-file": str(mock_home / "m.json")}.get(field, "x")
    value = {"dotenv-report": str(mock_home / "report.env")}.get(field, value)
    (mock_home / "m.json").write_text('{"auroc": 0.9, "x": 0.9}')
    pairs = [(field, value + char)]
    if field == "metrics-file":
        pairs += [("metric-value", "")]
    if field == "metric-key":
        pairs += [("metric-value", ""), ("metrics-file", str(mock_home / "m.json"))]
    code, _, err = run_here(*register(mock_home, *pairs))
    assert code == 2, err
    assert f"{field}=" in err and f"U+{ord(char):04X}" in err, err


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("model-path", "/tmp/" + "m" * 5000),
        ("model-path", "/tmp/" + "m" * 300 + "/model.bin"),
        ("metrics-file", "/tmp/" + "m" * 300 + ".json"),
        ("links-within", "/" + "d" * 4100),
    ],
)
def test_over_long_paths_are_input_errors(mock_home: Path, field: str, value: str) -> None:
    pairs = [(field, value)] + ([("metric-value", "")] if field == "metrics-file" else [])
    code, _, err = run_here(*register(mock_home, *pairs))
    assert code == 2 and f"{field}=" in err and "longer than" in err, err


def test_a_metrics_file_its_user_may_not_read_is_an_input_error(tmp_path: Path) -> None:
    from tests.conftest import register_args, run_cli

    model = tmp_path / "model.bin"
    model.write_bytes(b"w" * 100)
    secret_dir = tmp_path / "private"
    secret_dir.mkdir()
    (secret_dir / "metrics.json").write_text('{"auroc": 0.9}')
    secret_dir.chmod(0)
    metrics = secret_dir / "metrics.json"
    args = [*register_args("PERM", model, "auroc", "0.8", "0.9")[:-2], "--metrics-file", str(metrics)]
    try:
        r = run_cli(*args, env={"HOKUSAI_MOCK_MODE": "true"}, cwd=tmp_path, unprivileged=True)
    finally:
        secret_dir.chmod(0o700)
    assert r.code == 2, r.err
    assert "metrics-file=" in r.err and "Permission denied" in r.err
    assert len(r.err.strip().splitlines()) == 1


def test_identifiers_with_a_trailing_newline_are_refused_by_the_real_cli(tmp_path: Path) -> None:
    from tests.conftest import register_args, run_cli

    model = tmp_path / "model.bin"
    model.write_bytes(b"w" * 100)
    r = run_cli(*register_args("XRAY\n", model, "auroc", "0.8", "0.9"), env={"HOKUSAI_MOCK_MODE": "true"})
    assert r.code == 2 and "token-id='XRAY\\n'" in r.err, r.err
    r = run_cli("token", "create", "--token-id", "XRAY\n")
    assert r.code == 2, r.err
    r = run_cli(
        *register_args("XRAY", model, "auroc", "0.8", "0.9"), "--model-name", "m\n", env={"HOKUSAI_MOCK_MODE": "true"}
    )
    assert r.code == 2 and "model-name=" in r.err, r.err


# -- report targets ---------------------------------------------------------------------


def test_an_unwritable_dotenv_report_stops_before_anything_is_written(mock_home: Path) -> None:
    (mock_home / "folder").mkdir()
    for target, reason in ((mock_home / "folder", "is a folder"), (mock_home / "no" / "r.env", "does not exist")):
        code, _, err = run_here(*register(mock_home, ("dry-run", "false")), f"--dotenv-report={target}")
        assert code == 2 and "dotenv-report=" in err and reason in err, err
        assert store_state(mock_home) == "absent"


def test_a_device_as_dotenv_report_is_refused_before_anything_is_written(mock_home: Path) -> None:
    """/dev/full opens fine and fails on every write (ENOSPC): a device is refused up front."""
    code, _, err = run_here(*register(mock_home, ("dry-run", "false")), "--dotenv-report=/dev/full")
    assert code == 2, err
    assert "dotenv-report='/dev/full' is invalid: is a device, not a file" in err
    assert store_state(mock_home) == "absent"


def action_env(home: Path, **inputs: str) -> dict[str, str]:
    """The runner's variables; HOKUSAI_* settings come from the process environment (mock_home)."""
    env = {
        "HOKUSAI_HOME": os.environ["HOKUSAI_HOME"],
        "GITHUB_WORKSPACE": str(home),
        "GITHUB_OUTPUT": str(home / "output"),
        "GITHUB_STEP_SUMMARY": str(home / "summary.md"),
        "INPUT_TOKEN-ID": "ACT",
        "INPUT_MODEL-PATH": "model.bin",
        "INPUT_METRIC": "auroc",
        "INPUT_BASELINE": "0.8",
        "INPUT_METRIC-VALUE": "0.9",
    }
    env.update({f"INPUT_{k.upper().replace('_', '-')}": v for k, v in inputs.items()})
    return env


def action(env: dict[str, str]) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        code = run_action(env)
    return code, out.getvalue()


def outputs(path: Path) -> dict[str, str]:
    """Parse GITHUB_OUTPUT's `name<<delimiter` blocks; every line must belong to one."""
    found: dict[str, str] = {}
    lines = path.read_text().split("\n") if path.exists() else []
    i = 0
    while i < len(lines) and lines[i]:
        name, delimiter = lines[i].split("<<", 1)
        end = lines.index(delimiter, i + 1)
        found[name] = "\n".join(lines[i + 1 : end])
        i = end + 1
    assert i >= len(lines) - 1, "stray lines in GITHUB_OUTPUT"
    return found


def test_unwritable_action_report_targets(mock_home: Path) -> None:
    (mock_home / "outdir").mkdir()
    env = action_env(mock_home)
    env["GITHUB_OUTPUT"] = str(mock_home / "outdir")
    code, out = action(env)
    assert code == 2 and "::error title=Invalid Input::GITHUB_OUTPUT=" in out and "is a folder" in out
    assert not (mock_home / "summary.md").exists() and store_state(mock_home) == "absent"
    env = action_env(mock_home)
    env["GITHUB_OUTPUT"] = "/dev/full"  # opens, then refuses every byte: refused before the run
    code, out = action(env)
    assert code == 2 and "::error title=Invalid Input::GITHUB_OUTPUT='/dev/full' is invalid: is a device" in out
    assert not (mock_home / "summary.md").exists() and store_state(mock_home) == "absent"


ACTION_INPUTS = st.sampled_from(["token-id", "model-name", "baseline", "metric-value", "metric", "dry-run"])


@FAST
@given(inputs=st.dictionaries(ACTION_INPUTS, HOSTILE, max_size=3))
def test_any_action_inputs(mock_home: Path, inputs: dict[str, str]) -> None:
    out_file = mock_home / "output"
    out_file.unlink(missing_ok=True)
    with unchanged_unless_ok(mock_home) as cell:
        code, out = action(action_env(mock_home, **inputs))
        cell.append(code)
    assert code in EXIT_CODES and code != 1, out
    assert "Traceback" not in out
    errors = [line for line in out.splitlines() if line.startswith("::error")]
    assert len(errors) == (0 if code == 0 else 1), out
    commands = {line.split("::")[1].split(" ")[0] for line in out.splitlines() if line.startswith("::")}
    assert commands <= {"error", "group", "endgroup"}, out  # no injected workflow command
    found = outputs(out_file)
    result = strict_json(found["result-json"])
    assert found["status"] == result["status"] and (code == 0) == (result["error"] is None)


@FAST
@given(name=st.sampled_from(["auc", "auroc"]), typed=st.sampled_from(["auc", "auroc"]))
def test_a_metrics_file_may_hold_the_metric_under_its_alias(mock_home: Path, name: str, typed: str) -> None:
    """`{"auc": 0.9}` was "not found" for --metric auroc, though auc is auroc's documented alias;
    a file holding both names is a guess between them, refused."""
    path = mock_home / "alias.json"
    path.write_text(json.dumps({name: 0.91}), encoding="utf-8")
    pairs = [("metrics-file", str(path)), ("metric-value", ""), ("metric", typed), ("baseline", "0.5")]
    code, _, err = run_here(*register(mock_home, *pairs))
    assert code == 0, err
    path.write_text(json.dumps({"auc": 0.91, "auroc": 0.5}), encoding="utf-8")
    code, _, err = run_here(*register(mock_home, *pairs))
    assert code == 2 and ("as 'auroc' and as 'auc'" in err or "as 'auc' and as 'auroc'" in err), err
