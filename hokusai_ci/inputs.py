"""Validation of what a user asks for, before anything is read from or written to a server."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from hokusai_ci.errors import Category, HokusaiError, invalid_input
from hokusai_ci.fingerprint import file_sha256, list_model_files
from hokusai_ci.metrics import Metric, check_range, parse_number, resolve_metric
from hokusai_ci.progress import NoProgress
from hokusai_ci.settings import parse_json_or_yaml

TOKEN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
TRUE_WORDS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


class RegistrationRequest(BaseModel):
    """A validated `model register` request."""

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    token_id: str
    model_path: Path
    metric: Metric
    metric_value: float
    baseline: float
    model_name: str
    dry_run: bool = False
    metrics_file_sha256: str | None = None  # recorded in the signed statement


def check_token_id(value: Any) -> str:
    if not isinstance(value, str) or not TOKEN_ID.match(value):
        raise invalid_input(
            "token-id",
            value,
            "use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit (e.g. XRAY)",
        )
    return value


def check_model_name(value: Any) -> str:
    if not isinstance(value, str) or not MODEL_NAME.match(value):
        raise invalid_input(
            "model-name", value, "use 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    return value


def check_model_path(value: Any) -> Path:
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str) or not value.strip():
        raise invalid_input("model-path", value, "give the path of the model file or directory")
    path = Path(value).expanduser()
    if not path.exists():
        raise invalid_input("model-path", value, "no such file or directory; check the path and working directory")
    if not (path.is_file() or path.is_dir()):
        raise invalid_input("model-path", value, "give a regular file or a directory")
    try:
        files = list_model_files(path)
    except OSError as exc:
        raise invalid_input("model-path", value, f"cannot be read ({exc.strerror or exc})") from None
    if sum(f.size for f in files) == 0:
        what = "file is empty" if path.is_file() else "directory holds no non-empty file"
        raise invalid_input("model-path", value, f"the {what}; point at the trained model")
    return path


def parse_flag(field: str, value: Any) -> bool:
    """Strict boolean: True/False, or true/false/1/0/yes/no as text."""
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    word = str(value).strip().lower()
    if word not in TRUE_WORDS:
        raise invalid_input(field, value, "use true or false")
    return TRUE_WORDS[word]


def read_metrics_file(path_text: str, key: str) -> float:
    """Find the metric `key` (a dotted path for nested files) in a JSON or YAML file."""
    path = Path(path_text).expanduser()
    if not path.is_file():
        raise invalid_input("metrics-file", path_text, "the file does not exist; give a JSON or YAML file")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise invalid_input("metrics-file", path_text, f"cannot read it ({exc.__class__.__name__})") from None
    node: Any = parse_json_or_yaml("metrics-file", path, text)
    walked: list[str] = []
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            here = ".".join(walked) or "the top level"
            keys = ", ".join(sorted(map(str, node))[:20]) if isinstance(node, dict) else "no keys"
            raise HokusaiError(
                Category.METRIC_VALIDATION_FAILED,
                f"metrics-file={path_text!r} has no {part!r} at {here} (keys there: {keys}); "
                "use --metric-key with a dotted path such as eval.auroc",
                field="metrics-file",
            )
        node = node[part]
        walked.append(part)
    if isinstance(node, dict) and "value" in node:
        node = node["value"]
    if isinstance(node, bool) or not isinstance(node, (int, float, str)):
        raise HokusaiError(
            Category.METRIC_VALIDATION_FAILED,
            f"metrics-file={path_text!r} key {key!r} holds {type(node).__name__}, not a number",
            field="metrics-file",
        )
    return parse_number(f"metrics-file {key}", node)


def build_request(
    *,
    token_id: Any,
    model_path: Any,
    metric: Any,
    baseline: Any,
    metric_value: Any = None,
    metrics_file: Any = None,
    metric_key: Any = None,
    direction: Any = None,
    model_name: Any = None,
    dry_run: Any = False,
) -> RegistrationRequest:
    """Check every input in the order a user would fix them; the first problem is reported."""
    for field, value in (
        ("token-id", token_id),
        ("model-path", model_path),
        ("metric", metric),
        ("baseline", baseline),
    ):
        if value is None or value == "":
            raise invalid_input(field, value, f"--{field} is required")
    token = check_token_id(token_id)
    path = check_model_path(model_path)
    if not isinstance(metric, str):
        raise invalid_input("metric", metric, "give a metric name such as auroc")
    resolved: Metric = resolve_metric(metric, None if direction is None else str(direction))
    base = parse_number("baseline", baseline)
    check_range(resolved, "baseline", base)
    metrics_sha: str | None = None
    given_value = metric_value not in (None, "")
    given_file = metrics_file not in (None, "")
    if given_value == given_file:
        raise invalid_input(
            "metric-value",
            metric_value,
            "give exactly one of --metric-value (the measured number) or --metrics-file (JSON/YAML)",
        )
    if given_value:
        value = parse_number("metric-value", metric_value)
    else:
        value = read_metrics_file(str(metrics_file), str(metric_key or metric))
        metrics_sha = file_sha256(Path(str(metrics_file)).expanduser(), NoProgress())
    check_range(resolved, "metric-value", value)
    name = check_model_name(model_name) if model_name not in (None, "") else f"hokusai-{token}"
    return RegistrationRequest(
        token_id=token,
        model_path=path,
        metric=resolved,
        metric_value=value,
        baseline=base,
        model_name=name,
        dry_run=parse_flag("dry-run", dry_run),
        metrics_file_sha256=metrics_sha,
    )
