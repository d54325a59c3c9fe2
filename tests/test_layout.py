"""The package's shape, read from its source: no import cycles (imports inside functions count),
short modules, one place that names the modes, one control-character rule, one registration
record with one spelling, and one class named `Metric`."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hokusai_ci.config.mode_choice import MODES, RULES, mode_without_secrets, rules_of
from hokusai_ci.config.settings import load_settings
from hokusai_ci.config.validation import CONTROL, refuse_control
from hokusai_ci.domain.errors import HokusaiError
from hokusai_ci.domain.record import PUBLISHED_NAMES, Registration
from hokusai_ci.ports.store import TokenRecord, TokenStatus
from hokusai_ci.ports.tracking import TrackedModel

PACKAGE = Path(__file__).resolve().parent.parent / "hokusai_ci"
MAX_LINES = 400


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def _imports(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Module → the package modules it imports, at module level or inside a function."""
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and not node.level:
                for alias in node.names:
                    full = f"{node.module}.{alias.name}"
                    if full in modules:
                        graph[name].add(full)
                    elif node.module in modules and node.module != "hokusai_ci":  # the root: __version__
                        graph[name].add(node.module)
            elif isinstance(node, ast.Import):
                graph[name] |= {a.name for a in node.names if a.name in modules and a.name != "hokusai_ci"}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        state[node] = 2
        path.pop()
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return None


def test_no_import_cycle_even_through_imports_inside_functions() -> None:
    assert _cycle(_imports(_modules())) is None


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_no_module_is_over_the_limit() -> None:
    sizes = {p.relative_to(PACKAGE).as_posix(): len(p.read_text().splitlines()) for p in PACKAGE.rglob("*.py")}
    over = {m: n for m, n in sizes.items() if n > MAX_LINES}
    assert not over, f"split these by job: {over}"


def _names_a_mode(node: ast.Compare) -> bool:
    """`x.mode == "api"`, `mode != "local"`, `values["mode"] == "mock"`, `... in ("api", ...)`."""
    sides = [node.left, *node.comparators]

    def is_mode(n: ast.expr) -> bool:
        if isinstance(n, ast.Attribute | ast.Name):
            return (n.attr if isinstance(n, ast.Attribute) else n.id) in ("mode", "forced")
        if isinstance(n, ast.Subscript):
            return isinstance(n.slice, ast.Constant) and n.slice.value == "mode"
        return isinstance(n, ast.Call) and "mode" in ast.unparse(n.func)

    def is_name(n: ast.expr) -> bool:
        return isinstance(n, ast.Constant) and n.value in MODES

    return any(is_mode(s) for s in sides) and any(is_name(s) for s in sides)


def test_only_the_mode_rules_compare_a_mode_by_name() -> None:
    """Which mode a run is in is decided once (mode_choice); what a mode means is asked as a
    capability (`settings.rules`, `rules_of`), never by comparing its name elsewhere."""
    found = []
    for path in PACKAGE.rglob("*.py"):
        if path.name == "mode_choice.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Compare) and _names_a_mode(node):
                found.append(f"{path.name}:{node.lineno}: {ast.unparse(node)}")
    assert not found


def test_the_mode_check_finder_finds_a_mode_check() -> None:
    node = ast.parse('settings.mode != "mock" and values["mode"] == "api"').body[0]
    assert isinstance(node, ast.Expr) and isinstance(node.value, ast.BoolOp)
    compares = [c for c in node.value.values if isinstance(c, ast.Compare)]
    assert [_names_a_mode(c) for c in compares] == [True, True]


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"HOKUSAI_API_KEY": "hk_test_0123456789"},
        {"HOKUSAI_API_KEY": "hk_test_0123456789", "HOKUSAI_MOCK_MODE": "true"},
        {"HOKUSAI_API_KEY": "hk_test_0123456789", "HOKUSAI_DB_HOST": "db.example"},
        {"HOKUSAI_API_KEY": "hk_test_0123456789", "HOKUSAI_MODE": "local"},
        {"HOKUSAI_MODE": "mock"},
    ],
)
def test_the_gate_and_a_registration_follow_one_mode_rule(env: dict[str, str], tmp_path: Path) -> None:
    settings = load_settings({"home": str(tmp_path)}, env)
    assert rules_of(mode_without_secrets(env)) == settings.rules
    assert settings.rules == RULES[settings.mode]


def test_every_mode_has_its_rules() -> None:
    assert set(RULES) == set(MODES) and rules_of("gate-only") == rules_of(None)


def test_one_control_character_rule() -> None:
    """The settings, the inputs and the file reader refuse the same characters, by one rule."""
    sources = {p.name: p.read_text() for p in PACKAGE.rglob("*.py")}
    assert [n for n, text in sources.items() if '"Cc"' in text or r"\x00-\x1f" in text] == ["validation.py"]


@given(st.characters(min_codepoint=0, max_codepoint=0x2030))
def test_a_setting_and_an_input_refuse_the_same_characters(char: str) -> None:
    """A control character is refused in an input and in a setting alike, each naming it."""
    named = f"U+{ord(char):04X}"
    messages = []
    for check in (lambda: refuse_control("token-id", f"a{char}b"), lambda: load_settings({}, {"HOKUSAI_MODE": char})):
        try:
            check()
            messages.append("")
        except HokusaiError as err:
            messages.append(err.message)
    if CONTROL.search(char):
        assert all(named in m for m in messages), messages
    else:
        assert messages[0] == "" and named not in messages[1]


def test_one_record_spelling_inside_the_code_and_the_published_names_at_the_edge() -> None:
    record = Registration(
        model_name="m",
        model_version="1",
        model_uri="models:/m/1",
        run_id="r1",
        sha256="0" * 64,
        metric_name="auroc",
        metric_value=0.9,
        baseline=0.8,
        direction="higher",
    )
    published = record.published()
    assert published["mlflow_run_id"] == "r1" and published["model_sha256"] == "0" * 64
    assert not set(PUBLISHED_NAMES) & set(published)
    assert Registration.model_validate(published) == record  # the edge reads the published names back
    internal = {"run_id", "sha256"}
    for model in (Registration, TokenRecord, TrackedModel):
        assert internal <= set(model.model_fields), model
        assert not set(PUBLISHED_NAMES.values()) & set(model.model_fields), model
    # a token store row (its columns keep the published names) reads into the one spelling
    row = {"token_id": "T", "status": TokenStatus.REGISTERED, "updated_at": "2026-01-01T00:00:00+00:00"}
    token = TokenRecord.model_validate({**row, "created_at": None, **published})
    assert (token.run_id, token.sha256) == (record.run_id, record.sha256)


def test_one_class_named_metric() -> None:
    classes = [
        f"{path.name}:{node.lineno}"
        for path in PACKAGE.rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ClassDef) and node.name == "Metric"
    ]
    assert len(classes) == 1, classes


# Which layer may import which: the faces sit on top, nothing below imports them; the domain and
# the ports import no use case, adapter or face; adapters import no use case; settings import only
# the error categories below them (and the public `webhooks` module).
LAYERS = ("faces", "config", "core", "domain", "ports", "adapters")
FORBIDDEN = {
    "config": {"faces", "core", "ports", "adapters"},
    "core": {"faces"},
    "domain": {"faces", "core", "adapters"},
    "ports": {"faces", "core", "adapters"},
    "adapters": {"faces", "core"},
}


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in LAYERS else "top"


def test_each_layer_imports_only_the_layers_below_it() -> None:
    graph = _imports(_modules())
    wrong = sorted(
        f"{a} imports {b}"
        for a, targets in graph.items()
        for b in targets
        if _layer(b) in FORBIDDEN.get(_layer(a), set())
    )
    assert not wrong
    assert {_layer(m) for m in graph} == {*LAYERS, "top"}  # the layout this test knows


def test_the_package_root_holds_only_the_public_modules() -> None:
    """`hokusai_ci`, `hokusai_ci.api` (the Python API) and `hokusai_ci.webhooks` (a receiver's
    verify) are import paths users write; everything else sits in a layer."""
    root = {p.name for p in PACKAGE.glob("*.py")}
    assert root == {"__init__.py", "__main__.py", "api.py", "webhooks.py"}
    assert {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()} == set(LAYERS)
