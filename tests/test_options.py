"""Every face agrees with the one option table (`options.py`, `command_specs.py`): the CLI's
commands and their help, the Action's inputs in action.yml, the Python API's parameters and the
option tables of docs/cli.md and docs/action.md. A face that adds, drops or renames an option,
or whose required flag, help or default disagrees, fails here."""

from __future__ import annotations

import inspect
import re

import pytest
import yaml

from hokusai_ci.api import ModelRegistry
from hokusai_ci.config.redaction import SECRET_SETTINGS
from hokusai_ci.config.settings import Env
from hokusai_ci.faces import cli, usage
from hokusai_ci.faces.command_specs import (
    ACTION,
    ACTION_REQUIRED,
    API_REGISTER,
    API_VERIFY,
    COMMANDS,
    GATE,
    MEASURED,
    REGISTER,
    CommandSpec,
)
from hokusai_ci.faces.options import OPTIONS
from tests.conftest import REPO

TREE = usage.describe(cli.Cli())


def _commands(group: usage.Group) -> dict[tuple[str, ...], usage.Command]:
    found = {c.path: c for c in group.commands.values()}
    for child in group.groups.values():
        found.update(_commands(child))
    return found


def _table_rows(markdown: str, section: str, header: str) -> list[list[str]]:
    """The rows of the table whose header line starts with `header`, in the `## section` named."""
    start = markdown.index(section)
    end = markdown.find("\n## ", start + len(section))
    text = markdown[start : end if end != -1 else None]
    lines = text[text.index(header) :].splitlines()[2:]
    rows = []
    for line in lines:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip().strip("|").split(" | ")])
    return rows


def test_the_cli_has_exactly_the_commands_of_the_table() -> None:
    assert set(_commands(TREE)) == set(COMMANDS) | {("version",), ("completion",)}


@pytest.mark.parametrize("spec", COMMANDS.values(), ids=lambda s: " ".join(s.path))
def test_each_cli_command_takes_the_options_of_the_table(spec: CommandSpec) -> None:
    command = _commands(TREE)[spec.path]
    assert list(command.options) == list(spec.names())
    method = getattr(getattr(cli.Cli(), spec.path[0]), spec.path[1])
    parameters = inspect.signature(method).parameters
    for use in spec.options:
        shown = command.options[use.name]
        assert shown.required == use.required, use.name
        assert shown.meaning == re.sub(r"\s*\(required\)\.?$", "", use.text), use.name
        assert parameters[use.name].default == use.option.default, use.name
        assert shown.is_flag == isinstance(use.option.default, bool), use.name


def test_register_and_gate_take_the_same_verdict_options() -> None:
    verdict = [n for n in GATE.names("use")]
    assert [n for n in REGISTER.names("use") if n in verdict] == verdict
    assert set(MEASURED) <= set(verdict)


def test_action_yml_declares_exactly_the_table_s_inputs() -> None:
    declared = yaml.safe_load((REPO / "action.yml").read_text())["inputs"]
    assert list(declared) == [OPTIONS[n].input for n in ACTION]
    for name in ACTION:
        option, entry = OPTIONS[name], declared[OPTIONS[name].input]
        assert entry["description"] == option.action_help, name
        assert entry["required"] is (name in ACTION_REQUIRED), name
        assert entry.get("default") == option.action_default, name


def test_the_action_passes_every_registration_option_it_reads() -> None:
    """What the Action reads and gives the use case and the settings are inputs of action.yml."""
    from hokusai_ci.faces import github

    assert list(github.INPUTS) == list(yaml.safe_load((REPO / "action.yml").read_text())["inputs"])
    assert set(REGISTER.names("use")) <= set(ACTION)
    assert {"mlflow_uri", "api_url", "db_config", "webhook_url", "sign"} <= set(ACTION)


def test_secret_inputs_are_the_secret_settings() -> None:
    secrets = {OPTIONS[n].input: OPTIONS[n].env_var for n in ACTION if OPTIONS[n].role == "secret"}
    assert secrets == {s.action_input: s.env for s in SECRET_SETTINGS if s.action_input}


def test_environment_variables_are_named_by_settings_env() -> None:
    for option in OPTIONS.values():
        if option.env is not None:
            assert option.env_var == getattr(Env, option.env), option.name


@pytest.mark.parametrize(
    ("method", "names"),
    [(ModelRegistry.register_model, API_REGISTER), (ModelRegistry.verify_model, API_VERIFY)],
    ids=["register_model", "verify_model"],
)
def test_the_python_api_takes_the_table_s_options(method: object, names: tuple[str, ...]) -> None:
    parameters = dict(inspect.signature(method).parameters)  # type: ignore[arg-type]
    del parameters["self"]
    assert list(parameters) == [OPTIONS[n].api_name or n for n in names]
    for name in names:
        default = parameters[OPTIONS[name].api_name or name].default
        if default is not inspect.Parameter.empty:
            assert default == OPTIONS[name].default, name


def _docs_cli_register() -> dict[str, list[str]]:
    text = (REPO / "docs" / "cli.md").read_text()
    rows = _table_rows(text, "## `model register`", "| option | required | meaning |")
    rows += _table_rows(text, "## Measured gate", "| option | default | meaning |")
    found = {}
    for row in rows:
        for flag in re.findall(r"`(--[a-z-]+)", row[0]):
            found[flag] = row
    return found


def test_docs_cli_lists_every_register_option() -> None:
    documented = _docs_cli_register()
    assert set(documented) == {OPTIONS[n].flag for n in REGISTER.names()}
    for use in REGISTER.options:
        row = documented[use.option.flag]
        if row[1] in ("yes", "no", "one of", "custom metrics"):  # the table with a `required` column
            assert (row[1] == "yes") is use.required, use.name


def test_docs_action_lists_every_input() -> None:
    rows = _table_rows((REPO / "docs" / "action.md").read_text(), "## ", "| input | required | default |")
    documented = {name: row for row in rows for name in re.findall(r"`([a-z-]+)`", row[0])}
    assert set(documented) == {OPTIONS[n].input for n in ACTION}
    for name in ACTION:
        row = documented[OPTIONS[name].input]
        assert (row[1] == "yes") is (name in ACTION_REQUIRED), name
        if OPTIONS[name].action_default in ("true", "false"):
            assert row[2] == f"`{OPTIONS[name].action_default}`", name


@pytest.mark.parametrize("name", [n for n, o in OPTIONS.items() if o.default_text], ids=str)
def test_a_stated_default_is_the_same_on_every_face(name: str) -> None:
    option = OPTIONS[name]
    stated = str(option.default_text)
    assert stated in option.help
    if name in ACTION:
        assert stated in str(option.action_help)
        rows = _table_rows((REPO / "docs" / "action.md").read_text(), "## ", "| input | required | default |")
        assert any(f"`{option.input}`" in row[0] and stated in " ".join(row[1:]) for row in rows)
    if name in REGISTER.names():
        assert stated in " ".join(_docs_cli_register()[option.flag][1:])


def test_no_face_module_is_over_400_lines() -> None:
    faces = [*(REPO / "hokusai_ci" / "faces").glob("*.py"), REPO / "hokusai_ci" / "api.py", REPO / "entrypoint.py"]
    sizes = {f.name: len(f.read_text().splitlines()) for f in faces}
    assert {f: n for f, n in sizes.items() if n > 400} == {}
