"""A metric's value read from a metrics file (JSON or YAML, nested keys by a dotted path): one
reader for `--metrics-file` and for the metrics files found by discovery."""

from __future__ import annotations

from typing import Any

from hokusai_ci.config.config_files import parse_json_or_yaml, read_input_file
from hokusai_ci.config.validation import parse_number
from hokusai_ci.domain.errors import Category, HokusaiError


def read_metrics_file(path_text: str, key: str) -> float:
    """Find the metric `key` (a dotted path for nested files) in a JSON or YAML file."""
    path, text = read_input_file("metrics-file", path_text)
    node: Any = parse_json_or_yaml("metrics-file", path, text, yaml_text=True)
    found = _named_by(node, key.split("."), ())
    if not found:
        raise _no_such_key(path_text, node, key)
    if len(found) > 1:
        ways = " and ".join(" → ".join(repr(k) for k in way) for way, _ in found)
        raise HokusaiError(
            Category.INVALID_INPUT,
            f"metrics-file={path_text!r}: the key {key!r} names two values ({ways}); rename one of the keys",
            field="metrics-file",
        )
    node = found[0][1]
    if isinstance(node, dict) and "value" in node:
        node = node["value"]
    if isinstance(node, bool) or not isinstance(node, (int, float, str)):
        shown = "null" if node is None else type(node).__name__
        raise HokusaiError(
            Category.INVALID_INPUT,
            f"metrics-file={path_text!r} key {key!r} holds {shown}, not a number; put the metric's value there",
            field="metrics-file",
        )
    try:
        return parse_number(f"metrics-file {key}", node)
    except HokusaiError:  # NaN, infinity, text that is not a number: name the file and the key
        shown = repr(node) if len(repr(node)) <= 40 else repr(node)[:40] + "…"
        raise HokusaiError(
            Category.INVALID_INPUT,
            f"metrics-file={path_text!r} key {key!r} holds {shown}, not a finite number; put the metric's value there",
            field="metrics-file",
        ) from None


def key_in_metrics_file(path_text: str, names: tuple[str, ...]) -> str:
    """Which of the metric's names (as typed, canonical, aliases) the file holds: `{"auc": 0.9}`
    answers `--metric auroc`. None held: the first name (its absence is reported when read);
    two held: exit 2 naming both, as a guess between them would gate on either."""
    path, text = read_input_file("metrics-file", path_text)
    node: Any = parse_json_or_yaml("metrics-file", path, text, yaml_text=True)
    held = [name for name in dict.fromkeys(names) if _named_by(node, name.split("."), ())]
    if len(held) > 1:
        raise HokusaiError(
            Category.INVALID_INPUT,
            f"metrics-file={path_text!r} holds the metric as {held[0]!r} and as {held[1]!r}; "
            "name the one to use with --metric-key",
            field="metrics-file",
        )
    return held[0] if held else names[0]


def _no_such_key(path_text: str, node: Any, key: str) -> HokusaiError:
    """Where the dotted key stops matching, and the keys there."""
    walked: list[str] = []
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            break
        node = node[part]
        walked.append(part)
    here = ".".join(walked) or "the top level"
    keys = ", ".join(repr(k)[:40] for k in sorted(map(str, node))[:20]) if isinstance(node, dict) else "no keys"
    return HokusaiError(
        Category.METRIC_VALIDATION_FAILED,
        f"metrics-file={path_text!r} has no {key.split('.')[len(walked)]!r} at {here} (keys there: {keys}); "
        "use --metric-key with a dotted path such as eval.auroc",
        field="metrics-file",
    )


def _named_by(node: Any, parts: list[str], way: tuple[str, ...]) -> list[tuple[tuple[str, ...], Any]]:
    """The values a dotted key names, with the keys that lead to each: a key may itself hold
    dots (`{"eval.auroc": 0.9}`). Stops at two: one is the answer, two are ambiguous."""
    if not parts:
        return [(way, node)]
    if not isinstance(node, dict):
        return []
    found: list[tuple[tuple[str, ...], Any]] = []
    for cut in range(1, len(parts) + 1):
        name = ".".join(parts[:cut])
        if name in node:
            found += _named_by(node[name], parts[cut:], (*way, name))
            if len(found) > 1:
                break
    return found[:2]
