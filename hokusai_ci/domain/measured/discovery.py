"""Where the evidence is when no option names it: the spec's own command
(`hokusai model register --token-id XRAY --model-path ./model.pkl --metric auroc --baseline 0.82`)
finds it where ML teams keep it, and says which file (and key) it used.

Looked at in this order; the first that holds evidence decides:
1. the project file: `[tool.hokusai]` in `pyproject.toml` of the working directory, naming
   `predictions` (and optionally `labels`, `score-column`, `label-column`, `id-column`,
   `threshold`), paths relative to that file and resolving inside its folder. Measured, as
   `--predictions` would be.
2. DVC's metrics files: `metrics.json`, `metrics.yaml`, `metrics.yml` in the model's folder (the
   model path's folder when it is a file), then in the working directory. DVC addresses a
   metric by its tree path (`{"test": {"auroc": 0.9}}` is `test.auroc`), so the metric is found
   at the top level or as the last key of one path. A file where two paths end in the metric's
   name (`train.auroc` and `test.auroc`) is ambiguous: exit 2 naming both, fixed with
   `--metrics-file FILE --metric-key test.auroc`. A path ending in the name whose value is not a
   finite number (null, NaN, true, a list, "n/a") is refused naming the file and key, never
   passed over for another. Two files that hold different values for it are exit 2 naming both;
   the same value in both is one answer.
Nothing found: exit 2 listing the three ways to give the evidence and where it looked.
"""

from __future__ import annotations

import logging
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hokusai_ci.config.config_files import parse_json_or_yaml, read_input_file
from hokusai_ci.config.validation import check_path_text
from hokusai_ci.domain.errors import Category, HokusaiError, invalid_input
from hokusai_ci.domain.metrics_file import read_metrics_file

log = logging.getLogger("hokusai_ci")
PROJECT_FILE = "pyproject.toml"
PROJECT_TABLE = "tool.hokusai"
METRICS_FILES = ("metrics.json", "metrics.yaml", "metrics.yml")
PROJECT_KEYS = ("predictions", "labels", "score-column", "label-column", "id-column", "threshold")
MAX_DEPTH = 32
_ABSENT = object()  # a key that is not there, unlike one holding null (refused when read)
NOTHING_FOUND = (
    "no evidence for the metric: give exactly one of --metric-value (the number), --metrics-file "
    "(JSON/YAML) or --predictions (a file to measure)"
)


@dataclass(frozen=True)
class Found:
    """The evidence found: a metrics file and its key, or a predictions file and its options."""

    where: str  # for the user: which file, which key
    metrics_file: str | None = None
    metric_key: str | None = None
    predictions: str | None = None
    options: dict[str, Any] = field(default_factory=dict)


def discover(metric_names: tuple[str, ...], model_path: Path, cwd: Path | None = None, key: str | None = None) -> Found:
    """The evidence for the metric (any of `metric_names`, e.g. as typed and its canonical
    name; or exactly the dotted `key` when --metric-key was given), by the order above;
    HokusaiError(INVALID_INPUT) when nothing or two disagreeing answers are found."""
    cwd = Path.cwd() if cwd is None else cwd
    project = read_project(cwd / PROJECT_FILE)
    if project is not None:
        return project
    folders = [model_path if model_path.is_dir() else model_path.parent, cwd]
    seen: set[Path] = set()
    found: list[tuple[Path, str, float]] = []
    for folder in folders:
        for name in METRICS_FILES:
            path = folder / name
            real = _real(path)
            if real in seen or not path.is_file():
                continue
            seen.add(real)
            hit = metric_in_file(path, metric_names, key)
            if hit is not None:
                found.append((path, *hit))
    if not found:
        looked = ", ".join(str(f) for f in dict.fromkeys(f.resolve() for f in folders))
        raise HokusaiError(
            Category.INVALID_INPUT,
            f"{NOTHING_FOUND}; looked for {' / '.join(METRICS_FILES)} holding {metric_names[0]!r} in {looked}, "
            f"and [{PROJECT_TABLE}] in {cwd / PROJECT_FILE}",
            field="metric-value",
        )
    first_path, first_key, first_value = found[0]
    for path, key, value in found[1:]:
        if value != first_value:
            raise HokusaiError(
                Category.INVALID_INPUT,
                f"two metrics files disagree on {metric_names[0]!r}: {first_path} {first_key}={first_value!r} and "
                f"{path} {key}={value!r}; name the one to use with --metrics-file FILE --metric-key KEY",
                field="metrics-file",
            )
    where = f"{first_path} key {first_key}"
    log.info("no evidence option given: gating on %s (a DVC-style metrics file)", where)
    return Found(where=where, metrics_file=str(first_path), metric_key=first_key)


def metric_in_file(path: Path, metric_names: tuple[str, ...], key: str | None = None) -> tuple[str, float] | None:
    """The one tree path in the metrics file whose last key is the metric (or `key` itself), and
    its value; None when the metric is not in it. Exit 2 when two paths end in it, or the file
    is not JSON/YAML."""
    _, text = read_input_file("metrics-file", str(path))
    data = parse_json_or_yaml("metrics-file", path, text, yaml_text=True)
    if key is not None:
        node: Any = data
        for part in key.split("."):
            node = node.get(part, _ABSENT) if isinstance(node, dict) else _ABSENT
        return None if node is _ABSENT else (key, read_metrics_file(str(path), key))
    paths = metric_paths(data, metric_names)
    if not paths:
        return None
    if len(paths) > 1:
        dotted = [".".join(p) for p in paths[:2]]
        if dotted[0] == dotted[1]:  # `{"eval.auroc": x, "eval": {"auroc": y}}`: no key tells them apart
            shown = " and ".join(" → ".join(repr(k) for k in p) for p in paths[:2])
            fix = "rename one of the keys"
        else:
            shown = " and ".join(dotted)
            fix = f"name the one to use with --metrics-file {path} --metric-key {dotted[-1]}"
        raise HokusaiError(
            Category.INVALID_INPUT,
            f"metrics file {path} holds {metric_names[0]!r} twice ({shown}); {fix}",
            field="metrics-file",
        )
    found = ".".join(paths[0])
    return found, read_metrics_file(str(path), found)


def metric_paths(node: Any, names: tuple[str, ...], way: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every tree path of a metrics document whose last key (or a key's last dotted part, as
    DVC reads `{"eval.auroc": x}`) is one of `names`, in document order. Whatever it holds
    (null, NaN, a list, text) it is a candidate, refused when read: a value that is not a number
    is never skipped in favour of another. Only a table without DVCLive's `value` is looked into."""
    if not isinstance(node, dict) or len(way) >= MAX_DEPTH:
        return []
    paths: list[tuple[str, ...]] = []
    for key, value in node.items():
        here = (*way, str(key))
        named = str(key) in names or str(key).rsplit(".", 1)[-1] in names
        if named and not (isinstance(value, dict) and "value" not in value):
            paths.append(here)
        else:
            paths += metric_paths(value, names, here)
    return paths


def read_project(path: Path) -> Found | None:
    """`[tool.hokusai]` of a pyproject.toml, when it names predictions; None when there is no
    such file or table. Every problem with the table is exit 2 naming the key."""
    if not path.is_file():
        return None
    _, text = read_input_file("pyproject", str(path))
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise invalid_input("pyproject", str(path), f"not valid TOML ({exc})") from None
    table = doc.get("tool", {}).get("hokusai") if isinstance(doc.get("tool"), dict) else None
    if table is None:
        return None
    if not isinstance(table, dict) or "predictions" not in table:
        raise invalid_input(
            "pyproject", str(path), f'[{PROJECT_TABLE}] needs predictions = "FILE" (and optionally labels, columns)'
        )
    unknown = sorted(set(table) - set(PROJECT_KEYS))
    if unknown:
        raise invalid_input(
            f"{PROJECT_TABLE}.{unknown[0]}", table[unknown[0]], f"use one of {', '.join(PROJECT_KEYS)} in {path}"
        )
    options: dict[str, Any] = {}
    for key in PROJECT_KEYS[1:]:
        value = table.get(key)
        if value is None:
            continue
        wanted = (int, float) if key == "threshold" else str
        if isinstance(value, bool) or not isinstance(value, wanted) or value == "":
            kind = "a number" if key == "threshold" else "a non-empty string"
            raise invalid_input(f"{PROJECT_TABLE}.{key}", value, f"give {kind} in {path}")
        options[key.replace("-", "_")] = value
    for key in ("predictions", "labels"):
        value = table.get(key)
        if key == "predictions" and (not isinstance(value, str) or not value):
            raise invalid_input(f"{PROJECT_TABLE}.predictions", value, f"give a file path in {path}")
        if isinstance(value, str):
            resolved = _inside_project(path, key, value)
            if key == "predictions":
                predictions = resolved
            else:
                options["labels"] = resolved
    where = f"{path} [{PROJECT_TABLE}] predictions={table['predictions']}"
    log.info("no evidence option given: measuring %s", where)
    return Found(where=where, predictions=predictions, options=options)


def _inside_project(path: Path, key: str, value: str) -> str:
    """A file the project file names is one of the project's: resolved (links followed) inside
    the folder holding it, so a checked-out pull request cannot point the gate at a file of the
    machine (the Action's inputs are held to the workspace the same way)."""
    root = path.parent.resolve()
    try:
        real = (root / check_path_text(f"{PROJECT_TABLE}.{key}", value)).resolve()
    except (OSError, RuntimeError):
        raise invalid_input(f"{PROJECT_TABLE}.{key}", value, "cannot be resolved (a loop of links?)") from None
    if real != root and root not in real.parents:
        raise invalid_input(
            f"{PROJECT_TABLE}.{key}", value, f"resolves outside the project folder {str(root)!r}: name a file in it"
        )
    return str(real)


def _real(path: Path) -> Path:
    try:
        return Path(os.path.realpath(path))
    except (OSError, ValueError):
        return path
