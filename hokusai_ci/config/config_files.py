"""The small JSON or YAML files a user names (`--db-config`, a metrics file, a signing key):
read with every failure an input error naming the option, never a crash or a file's contents.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hokusai_ci.config.validation import check_path_text
from hokusai_ci.domain.errors import invalid_input
from hokusai_ci.domain.fingerprint import refuse_pseudo_file

MAX_INPUT_FILE = 16 * 1024 * 1024  # a config or metrics file is small; bounds memory and parse time


def read_input_file(field: str, path_text: str) -> tuple[Path, str]:
    """A small UTF-8 text file named by a user: every failure (missing, a folder, no
    permission, too long a path, not text) is an input error naming the field."""
    path = check_path_text(field, path_text)
    try:
        if not path.exists():
            raise invalid_input(field, path_text, "the file does not exist; check the path")
        refuse_pseudo_file(field, path)
        if not path.is_file():
            raise invalid_input(field, path_text, "is not a regular file (a folder, a device or a pipe); give a file")
        if path.stat().st_size > MAX_INPUT_FILE:
            raise invalid_input(field, path_text, f"the file is larger than {MAX_INPUT_FILE // 2**20} MiB")
        return path, path.read_text(encoding="utf-8-sig")  # a leading BOM (Windows editors) is not content
    except OSError as exc:
        raise invalid_input(field, path_text, f"cannot read it ({exc.strerror or exc.__class__.__name__})") from None
    except UnicodeDecodeError:
        raise invalid_input(field, path_text, "cannot read it (not UTF-8 text)") from None


def read_config_file(field: str, path_text: str) -> dict[str, Any]:
    """Read a JSON or YAML mapping; errors name the file and never echo its contents."""
    path, text = read_input_file(field, path_text)
    data = parse_json_or_yaml(field, path, text)
    if not isinstance(data, dict):
        raise invalid_input(field, str(path), "the file must hold a mapping of keys to values")
    return data


def parse_json_or_yaml(field: str, path: Path, text: str, *, yaml_text: bool = False) -> Any:
    """Parse a config or metrics file. Nesting deeper than Python's recursion limit, integers
    past its 4300-digit limit and a key given twice in one object (which value counts would be
    a guess) are input errors, never crashes. `yaml_text` keeps YAML scalars as written (YAML
    1.1 would read `0.8_5` as 0.85 and `1_0` as 10), so numbers go through the one strict parser."""
    try:
        if path.suffix.lower() == ".json" or text.lstrip().startswith(("{", "[")):
            try:
                return json.loads(text, object_pairs_hook=_unique_keys)
            except json.JSONDecodeError as exc:
                raise invalid_input(field, str(path), f"not valid JSON (line {exc.lineno})") from None
        import yaml  # only when a YAML file is read

        try:
            return yaml.load(text, Loader=_unique_key_loader(yaml.BaseLoader if yaml_text else yaml.SafeLoader))
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" (line {mark.line + 1})" if mark is not None else ""
            raise invalid_input(field, str(path), f"not valid JSON or YAML{where}") from None
    except DuplicateKey as dup:
        shown = dup.key if len(dup.key) <= 64 else dup.key[:64] + "…"
        raise invalid_input(
            field, str(path), f"the key {shown!r} appears twice in one object{dup.where}; keep one"
        ) from None
    except (RecursionError, ValueError) as exc:
        raise invalid_input(field, str(path), _too_complex(exc)) from None


class DuplicateKey(Exception):
    def __init__(self, key: str, where: str = "") -> None:
        super().__init__(key)
        self.key, self.where = key, where


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise DuplicateKey(key)
        seen[key] = value
    return seen


def _unique_key_loader(base: Any) -> Any:
    """`base` (a PyYAML loader class) refusing a key given twice in one mapping."""
    import yaml

    class UniqueKeyLoader(base):  # type: ignore[misc]
        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            seen: set[str] = set()
            for key_node, _ in node.value:
                if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                    if key_node.value in seen:
                        raise DuplicateKey(str(key_node.value), f" (line {key_node.start_mark.line + 1})")
                    seen.add(key_node.value)
            return super().construct_mapping(node, deep=deep)

    return UniqueKeyLoader


def _too_complex(exc: BaseException) -> str:
    if isinstance(exc, RecursionError):
        return "nested too deeply to read; flatten the file"
    return "holds a number too long to read (over 4300 digits)"
