"""Failures flow one way: every use case returns its result with `error` set (the `@command`
decorator turns what is raised inside into it), the faces render that result, and only the
Python API raises, with the result attached. Exceptions carry a category and a message."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from hokusai_ci.api import CommandFailed, ModelRegistry
from hokusai_ci.config.settings import Settings, load_settings
from hokusai_ci.core import app
from hokusai_ci.core.commands import command
from hokusai_ci.domain.errors import Category, HokusaiError, KeptVersion, VersionKeptError, invalid_input
from hokusai_ci.domain.results import ErrorInfo
from hokusai_ci.faces.presenters import result_json


class Echo(BaseModel):
    value: str | None = None
    error: ErrorInfo | None = None


@command(Echo)
def echo(value: str) -> Echo:
    if value == "bad":
        raise invalid_input("value", value, "use good")
    if value == "bug":
        raise RuntimeError("kaboom")
    if value == "stop":
        raise KeyboardInterrupt
    return Echo(value=value)


def test_the_decorator_turns_a_failure_into_the_result_s_error() -> None:
    assert echo("good") == Echo(value="good")
    bad = echo("bad")
    assert bad.value is None and bad.error is not None
    assert (bad.error.category, bad.error.exit_code) == ("invalid_input", 2)
    assert bad.error.message == "value='bad' is invalid: use good"
    bug = echo("bug")
    assert bug.error is not None and bug.error.category == "internal" and bug.error.exit_code == 1
    assert bug.error.message.startswith("unexpected RuntimeError: kaboom; rerun with HOKUSAI_LOG_LEVEL=DEBUG")


def test_ctrl_c_is_left_to_the_face() -> None:
    with pytest.raises(KeyboardInterrupt):
        echo("stop")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings({}, {"HOKUSAI_HOME": str(tmp_path / "home")})


FAILURES: list[tuple[str, Any, dict[str, Any], str]] = [
    ("status", app.status, {"token_id": "NOPE"}, "token_not_found"),
    ("list", app.list_tokens, {"status": "drafty"}, "invalid_input"),
    ("token create", app.create_token, {"token_id": "bad id"}, "invalid_input"),
    ("token release", app.release_token, {"token_id": "NOPE"}, "token_not_found"),
    ("events replay", app.replay_events, {}, "invalid_input"),
    ("verify", app.verify, {}, "invalid_input"),
    (
        "register",
        app.register,
        {"token_id": "X", "model_path": None, "metric": "auroc", "baseline": "0.8"},
        "invalid_input",
    ),
]


@pytest.mark.parametrize(("name", "use_case", "args", "category"), FAILURES, ids=[f[0] for f in FAILURES])
def test_every_use_case_returns_its_failure(
    settings: Settings, name: str, use_case: Any, args: dict[str, Any], category: str
) -> None:
    result = use_case(settings, **args)  # returns: nothing is raised
    assert result.error is not None and result.error.category == category
    assert result.exit_code == Category[category.upper()].exit_code


def test_the_json_of_a_failure_that_knew_nothing_keeps_its_shape(settings: Settings) -> None:
    """`{"status": "error", "error": …}` for every command but register and a verification that ran."""
    import json

    for result in (app.status(settings, token_id="NOPE"), app.replay_events(settings), app.verify(settings)):
        data = json.loads(result_json(result))
        assert list(data) == ["status", "error"] and data["status"] == "error"


def test_an_exception_carries_a_category_and_a_message_only() -> None:
    err = invalid_input("token-id", "x y", "use letters")
    assert set(vars(err)) == {"category", "message", "field", "status"}
    kept = VersionKeptError(
        Category.PLATFORM_REJECTED, "refused", KeptVersion("m", "2", "models:/m/2", "r1", "abc"), status="x"
    )
    noted = kept.with_note("; m version 2 stays")
    assert isinstance(noted, VersionKeptError) and noted.kept == kept.kept and noted.status == "x"
    assert (
        noted.message == "refused; m version 2 stays" and str(noted) == "Platform Rejected: refused; m version 2 stays"
    )
    assert kept.message == "refused"  # the original is untouched


def test_the_python_api_raises_with_the_result_attached(settings: Settings) -> None:
    registry = ModelRegistry(settings=settings)
    with pytest.raises(HokusaiError) as failed:
        registry.status("NOPE")
    assert isinstance(failed.value, CommandFailed)
    assert failed.value.category is Category.TOKEN_NOT_FOUND and failed.value.exit_code == 3
    assert failed.value.result.error.category == "token_not_found"
    assert registry.create_token("APITOKEN").status == "draft"
    assert [t.token_id for t in registry.list_models("all")] == ["APITOKEN"]
