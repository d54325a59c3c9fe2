"""The command line as typed: options checked against each command's signature before anything
runs, help, --version, shell completion and a closed pipe. Driven by the command tree read from
the code, so a command added later is covered without editing this file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hokusai_ci import __version__
from hokusai_ci.faces import cli, usage
from tests.conftest import REPO, register_args, run_here

TREE = usage.describe(cli.Cli())
COMMANDS = [node for node in usage._walk(TREE) if isinstance(node, usage.Command)]
BIN = Path(sys.executable).parent


@pytest.mark.parametrize(
    ("typo", "suggestion"),
    [
        ("--dryrun=true", "--dry-run"),
        ("--model-nme=x", "--model-name"),
        ("--webhook-uri=http://127.0.0.1:9/x", "--webhook-url"),
        ("--bogus=1", None),
    ],
)
def test_a_misspelled_option_is_refused_before_anything_runs(
    typo: str, suggestion: str | None, model_file: Path, tmp_path: Path
) -> None:
    assert run_here("token", "create", "--token-id", "TYPO").code == 0
    r = run_here(*register_args("TYPO", model_file, "auroc", "0.8", "0.9"), typo)
    assert r.code == 2, r.out + r.err
    name = typo.split("=")[0]
    assert r.err.strip().splitlines() == [
        f"error: Invalid Input: unknown option {name} for `hokusai model register`"
        + (f"; did you mean {suggestion}?" if suggestion else "; `hokusai model register --help` lists its options")
    ]
    status = run_here("model", "status", "--token-id", "TYPO", "--output", "json").json()
    assert status["status"] == "draft"  # nothing was registered
    assert not (tmp_path / "home" / "mlruns").exists()


def test_both_spellings_and_both_value_forms_are_accepted(model_file: Path) -> None:
    assert run_here("token", "create", "--token_id=SPELL").code == 0
    args = ["model", "register", "--token_id", "SPELL", f"--model-path={model_file}", "--metric=auroc"]
    r = run_here(*args, "--baseline", "-0.5", "--metric_value=0.9", "--dry_run", "--output", "json")
    assert r.code == 5, r.err  # -0.5 reached the range check as a value, not as an option
    r = run_here(*args, "--baseline", "0.5", "--metric_value=0.9", "--dry-run", "true", "--output=json")
    assert r.code == 0, r.err
    assert r.json()["status"] == "dry_run"


def test_a_stray_positional_argument_is_refused(model_file: Path) -> None:
    r = run_here(*register_args("STRAY", model_file, "auroc", "0.8", "0.9"), "metrics.json")
    assert r.code == 2
    assert "unexpected argument 'metrics.json'" in r.err and "--metrics-file" in r.err
    r = run_here("model", "status", "XRAY")
    assert r.code == 2 and "unexpected argument 'XRAY'" in r.err


@pytest.mark.parametrize(
    "args",
    [
        ["model", "registr", "--output", "json"],
        ["nope", "--output=json"],
        ["model", "list", "--bogus", "x", "--output", "json"],
        ["model", "status", "--token-id", "--output", "json"],
    ],
)
def test_usage_errors_with_json_output_print_one_json_object(args: list[str]) -> None:
    code, out, err = run_here(*args)
    assert code == 2
    payload = json.loads(out)
    assert payload["status"] == "error" and payload["error"]["category"] == "invalid_input"
    assert payload["error"]["exit_code"] == 2
    assert err.startswith("error: Invalid Input: ")


def test_an_unknown_command_names_the_closest_one() -> None:
    code, _, err = run_here("model", "registr")
    assert code == 2 and "did you mean register?" in err


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c.path))
def test_every_command_refuses_misspellings_of_its_own_options(command: usage.Command) -> None:
    for option in command.options.values():
        if option.positional or len(option.flag) < 6:
            continue
        typo = option.flag[:-2] + option.flag[-1]  # one letter dropped
        code, _, err = run_here(*command.path, typo + "=1")
        assert code == 2, typo
        assert f"did you mean {option.flag}?" in err, (typo, err)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    command=st.sampled_from(COMMANDS),
    name=st.text(st.characters(codec="ascii", categories=["L", "N"], include_characters="-_"), min_size=1, max_size=20),
)
def test_any_option_a_command_does_not_declare_exits_2(command: usage.Command, name: str) -> None:
    if name.replace("-", "_") in command.options or name in ("help",):
        return
    code, _, err = run_here(*command.path, f"--{name}=x")
    assert code == 2
    assert f"unknown option --{name}" in err
    assert "Traceback" not in err


VALUE_OPTIONS = [(c, o) for c in COMMANDS for o in c.options.values() if not o.is_flag and not o.positional]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    pair=st.sampled_from(VALUE_OPTIONS), word=st.sampled_from(["--help", "-h"]), fmt=st.sampled_from(["text", "json"])
)
def test_help_in_place_of_an_options_value_is_a_missing_value_not_a_help_page(
    pair: tuple[usage.Command, usage.Option], word: str, fmt: str
) -> None:
    """`--label-column --help` in a gate job must not print help and exit 0 as if it passed."""
    command, option = pair
    code, out, err = run_here(*command.path, option.flag, word, "--output", fmt)
    assert code == 2, (command.path, option.flag, out, err)
    assert f"{option.flag.lstrip('-')}={word!r} is invalid: write {option.flag} VALUE" in err + out
    assert not out.startswith("Usage:")


@pytest.mark.parametrize(
    "argv", [["hokusai", "--version"], ["hokusai-ci", "--version"], ["-m", "hokusai_ci", "--version"]]
)
def test_version(argv: list[str]) -> None:
    program = [sys.executable, *argv] if argv[0] == "-m" else [str(BIN / argv[0]), *argv[1:]]
    proc = subprocess.run(
        program, capture_output=True, text=True, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}
    )
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, f"{__version__}\n", "")


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c.path))
def test_help_is_on_stdout_with_every_option_and_its_meaning(command: usage.Command) -> None:
    # a pager that fails would turn up as an error: help must never page
    r = run_here(*command.path, "--help", env={"PAGER": "false", "TERM": "xterm"})
    assert (r.code, r.err) == (0, "")
    assert r.out.startswith(f"Usage: hokusai {' '.join(command.path)}")
    listed = {line.split()[0]: line for line in r.out.splitlines() if line.startswith("  ")}
    for option in command.options.values():
        label = option.name.upper() if option.positional else option.flag
        assert label in listed, label
        assert option.meaning, f"{label} has no meaning in the docstring"
        assert ("(required)" in listed[label]) == option.required
        assert "_" not in option.flag


@pytest.mark.parametrize("args", [[], ["model"], ["token"], ["events"]])
def test_a_group_without_a_command_shows_help_and_exits_2(args: list[str]) -> None:
    r = run_here(*args)
    assert r.code == 2 and r.out == ""
    assert "Commands:" in r.err and r.err.strip().splitlines()[-1].startswith("error: Invalid Input: ")


def _complete(words: list[str]) -> list[str]:
    """Source the script in a real bash and ask it, as the shell does on TAB."""
    script = run_here("completion", "bash").out
    probe = (
        f"{script}\n"
        f"COMP_WORDS=({' '.join(words)}); COMP_CWORD={len(words) - 1}\n"
        '_hokusai_complete; printf "%s\\n" "${COMPREPLY[@]}"; complete -p hokusai'
    )
    proc = subprocess.run(["bash", "--norc", "-c", probe], capture_output=True, text=True, check=True)
    lines = proc.stdout.splitlines()
    assert lines[-1] == "complete -F _hokusai_complete hokusai"
    return [line for line in lines[:-1] if line]


def test_bash_completion_offers_commands_and_each_commands_options() -> None:
    assert _complete(["hokusai", "mo"]) == ["model"]
    assert _complete(["hokusai", "model", "re"]) == ["register"]
    assert _complete(["hokusai", "model", "register", "--dry"]) == ["--dry-run"]
    assert _complete(["hokusai", "model", "register", "--token-id", "X", "--metrics-"]) == ["--metrics-file"]
    assert _complete(["hokusai", "model", "status", "--"]) == [
        "--token-id",
        "--db-config",
        "--output",
        "--log-level",
        "--help",
    ]
    assert _complete(["hokusai", "completion", ""]) == ["bash", "zsh", "--help"]
    zsh = run_here("completion", "zsh")
    assert zsh.code == 0 and zsh.out.startswith("autoload -U +X bashcompinit && bashcompinit\n")
    assert run_here("completion", "fish").code == 2


def test_zsh_completion_in_a_real_zsh(tmp_path: Path) -> None:
    """zsh runs the same function through bashcompinit; compadd filters by prefix there, so the
    candidates are the command words or the options of the command typed so far."""
    program = tmp_path / "bin" / "hokusai"
    program.parent.mkdir()
    program.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m hokusai_ci "$@"\n')
    program.chmod(0o755)

    def candidates(*words: str) -> list[str]:
        probe = (
            'autoload -U +X compinit && compinit -u; eval "$(hokusai completion zsh)"; '
            'print -r -- "$_comps[hokusai]"; '
            f"words=({' '.join(words)}); CURRENT={len(words)}; "
            'COMP_WORDS=("${words[@]}"); COMP_CWORD=$((CURRENT - 1)); '
            'compgen -F _hokusai_complete -- "${words[CURRENT]}"'
        )
        env = {**os.environ, "PATH": f"{program.parent}:{os.environ['PATH']}", "PYTHONPATH": str(REPO)}
        proc = subprocess.run(["zsh", "-f", "-c", probe], capture_output=True, text=True, env=env, check=True)
        lines = proc.stdout.splitlines()
        assert lines[0] == "_bash_complete -F _hokusai_complete"
        return lines[1:]

    assert candidates("hokusai", "mo") == ["completion", "events", "model", "token", "version", "--help", "--version"]
    register = candidates("hokusai", "model", "register", "--dr")
    assert "--dry-run" in register and "--token-id" in register and "--status" not in register


def test_a_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    from hokusai_ci.config.settings import load_settings
    from hokusai_ci.core import app

    settings = load_settings({}, {"HOKUSAI_HOME": str(tmp_path / "home")})
    for i in range(400):  # well over a pipe buffer of JSON
        app.create_token(settings, f"PIPE{i:03d}")
    listing = f'"{sys.executable}" -m hokusai_ci model list --status all --output json'
    pipeline = f'{listing} | head -1; echo "rc=${{PIPESTATUS[0]}}"'
    proc = subprocess.run(["bash", "-c", pipeline], capture_output=True, text=True, cwd=REPO, env=os.environ)
    assert proc.stdout.splitlines() == ["[", "rc=141"]
    assert proc.stderr == ""
