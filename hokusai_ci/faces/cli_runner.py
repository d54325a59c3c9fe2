"""The CLI's one runner: load the settings, run the command, render its result (text or JSON),
exit with the result's code. Every command is one `Job` below: how its use case is called and
how its result reads as text; the options come from `options.COMMANDS`.

Nothing is caught command by command: the use cases return their result with `error` set
(`commands.py`), and whatever fails here before the use case runs (an `--output` typo, the
settings, Ctrl-C) becomes that same result. Imports stay inside the functions: `hokusai --help`
must not load pydantic models or MLflow.
"""

from __future__ import annotations

import functools
import os
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn

from hokusai_ci.config.redaction import redact
from hokusai_ci.domain import signals
from hokusai_ci.domain.errors import Cancelled, Category, HokusaiError, cancel_on_sigterm, invalid_input
from hokusai_ci.faces.command_specs import COMMANDS, CommandSpec

OUTPUTS = ("text", "json")


@dataclass(frozen=True)
class Job:
    """A command as the CLI runs it. `call(settings, values)` runs the use case with the values of
    its `use` options; `text(result, settings)` renders a success (and a failure that still
    knows something, when the renderer says so: it returns "" otherwise)."""

    path: tuple[str, ...]
    result_type: Callable[[], type[Any]]
    call: Callable[[Any, dict[str, Any]], Any]
    text: Callable[[Any, Any], str]
    shows_failure: bool = False  # a failed result is rendered too (what a registration still knows)
    reads_settings: bool = True  # False: only the log level is read from the environment (the gate)
    required: tuple[str, ...] = ()  # refused as `--token-id is required` once the settings are read
    before: Callable[[Any, dict[str, Any]], None] | None = None  # checks before anything is written
    after: Callable[[Any, dict[str, Any]], None] | None = None  # also on failure (the dotenv report)

    @property
    def spec(self) -> CommandSpec:
        return COMMANDS[self.path]


signal_while_loading: int | None = None  # a SIGINT or SIGTERM `launch` held while the program loaded


def _started() -> None:
    if signal_while_loading == signal.SIGTERM:
        raise Cancelled
    if signal_while_loading is not None:
        raise KeyboardInterrupt


def run(job: Job, values: dict[str, Any]) -> NoReturn:
    output = values.get("output")
    fmt = str(output).strip().lower() if output is not None else "text"
    fmt = fmt if fmt in OUTPUTS else "text"
    cancel_on_sigterm()
    seen: dict[str, Any] = {}  # the settings, once read (a renderer may name the store)
    ending = signals.arm()  # from the decided outcome on, a signal no longer changes it
    try:
        result = _outcome(job, values, seen, ending)
        if job.after is not None:
            job.after(result, values)
        _finish(result, render(job, result, fmt, seen.get("settings")), fmt, ending)
    finally:
        signals.disarm(ending)


def _outcome(job: Job, values: dict[str, Any], seen: dict[str, Any], ending: signals.Ending) -> Any:
    """The command's result: once it is back, a signal waits for it to be printed; one that
    came before is the result (exit 130 or 143)."""
    from hokusai_ci.core.commands import failed, run_command

    try:
        try:
            _started()
            return run_command(job.result_type(), _attempt, job, values, seen)
        finally:
            ending.hold()
    except KeyboardInterrupt:
        return failed(job.result_type(), HokusaiError(Category.INTERRUPTED, "by SIGINT (Ctrl-C)"))
    except Cancelled:
        return failed(job.result_type(), HokusaiError(Category.TERMINATED, "by SIGTERM"))


def _attempt(job: Job, values: dict[str, Any], seen: dict[str, Any]) -> Any:
    from hokusai_ci.config.settings import Env, load_settings
    from hokusai_ci.core.app import configure_logging

    if values.get("output") is not None and str(values["output"]).strip().lower() not in OUTPUTS:
        raise invalid_input("output", values["output"], "use text or json")
    config = {name: values[name] for name in job.spec.names("setting")}
    for name, value in config.items():
        if value == "":  # `--db-config ""` would otherwise silently mean the environment or default
            flag = name.replace("_", "-")
            raise invalid_input(flag, "", f"give a value, or leave --{flag} out for the default")
    environ = None if job.reads_settings else {k: v for k, v in os.environ.items() if k == Env.LOG_LEVEL}
    settings = seen["settings"] = load_settings(config, environ)
    configure_logging(settings.log_level)
    for name in job.required:
        if values[name] in (None, ""):
            flag = name.replace("_", "-")
            raise invalid_input(flag, values[name], f"--{flag} is required")
    if job.before is not None:
        job.before(settings, values)
    return job.call(settings, {name: values[name] for name in job.spec.names("use")})


def render(job: Job, result: Any, fmt: str, settings: Any) -> str:
    from hokusai_ci.faces import presenters

    if fmt == "json":
        return presenters.result_json(result)
    if settings is None or (result.error is not None and not job.shows_failure):
        return ""
    return job.text(result, settings)


def _finish(result: Any, printed: str, fmt: str, ending: signals.Ending) -> NoReturn:
    """Print the result, then one error line on stderr when it failed; exit with its code."""
    from hokusai_ci.config.validation import escape_bidi
    from hokusai_ci.faces.presenters import error_text

    if printed:
        print(printed if fmt == "json" else escape_bidi(redact(printed)))  # JSON is redacted field by field
    error = result.error
    if error is not None:
        print(error_text(error.title, error.message), file=sys.stderr)
    ending.printed(result.exit_code)
    if error is not None and error.category in (Category.INTERRUPTED.slug, Category.TERMINATED.slug):
        signals.exit_now(error.exit_code)  # cleaned up already; do not wait for upload threads blocked on the network
    sys.exit(result.exit_code)


# --- the commands -------------------------------------------------------------------------


def _registration_type() -> type[Any]:
    from hokusai_ci.domain.results import RegistrationResult

    return RegistrationResult


def _register_checks(settings: Any, values: dict[str, Any]) -> None:
    """Before anything is written: a report that could not be written is exit 2, and in a CI
    container an empty local store means a missing secret."""
    from hokusai_ci.config.settings import Env
    from hokusai_ci.core import app

    _check_report(values.get("dotenv_report"))
    if os.environ.get(Env.CONTAINER) == "true" and os.environ.get(Env.CI) == "true":
        app.refuse_empty_local_store(settings, app.SECRET_FOR_DOCKER)


def _check_report(path: Any) -> None:
    from hokusai_ci.config.validation import check_report_target

    if path == "":
        raise invalid_input("dotenv-report", "", "give a file path, or leave --dotenv-report out")
    if path is not None:
        check_report_target("dotenv-report", str(path))


def _write_report(result: Any, values: dict[str, Any]) -> None:
    """On success and failure alike, when the target passed its check; a report that cannot be
    written is one error line, and the registration's own exit code stands."""
    from hokusai_ci.faces.presenters import error_text, write_dotenv

    path = values.get("dotenv_report")
    try:
        _check_report(path)
    except HokusaiError:
        return
    if path is None:
        return
    try:
        write_dotenv(str(path), result)
    except OSError as exc:
        print(error_text("Report Not Written", f"dotenv-report={path!r}: {exc.strerror or exc}"), file=sys.stderr)


def _gate(settings: Any, values: dict[str, Any]) -> Any:
    """The gate reads no setting from the environment (a pull request's job may hold none), but
    the version --compare-with names is read from MLflow as the registration would reach it:
    the environment's settings (MLFLOW_TRACKING_URI, HOKUSAI_HOME, ...) under the flags given."""
    from hokusai_ci.config.settings import load_settings
    from hokusai_ci.core.gate import gate_only
    from hokusai_ci.core.wiring import version_reader

    flags = {"mlflow_uri": settings.mlflow_uri} if settings.mlflow_uri else {}
    reads = functools.cache(lambda: load_settings(flags))
    return gate_only(reader=lambda: version_reader(reads()), reads=reads, **values)


def _registration_text(result: Any, settings: Any) -> str:
    from hokusai_ci.faces.presenters import registration_text

    return registration_text(result)


def _verification_type() -> type[Any]:
    from hokusai_ci.core.verification import VerificationResult

    return VerificationResult


def _verification_text(result: Any, settings: Any) -> str:
    from hokusai_ci.faces.presenters import verification_text

    return verification_text(result) if result.checks else ""  # failed before any check: the error line alone


def _result(name: str) -> Callable[[], type[Any]]:
    def load() -> type[Any]:
        from hokusai_ci.domain import results

        return getattr(results, name)  # type: ignore[no-any-return]

    return load


def _use_case(name: str) -> Callable[[Any, dict[str, Any]], Any]:
    """`app.<name>(settings, **values)`, looked up when it runs."""

    def call(settings: Any, values: dict[str, Any]) -> Any:
        from hokusai_ci.core import app

        return getattr(app, name)(settings, **values)

    return call


def _status_text(result: Any, settings: Any) -> str:
    from hokusai_ci.faces.presenters import status_text

    return status_text(result.token)


def _list_text(result: Any, settings: Any) -> str:
    from hokusai_ci.faces.presenters import list_text

    return list_text(result.tokens)


def _created_text(result: Any, settings: Any) -> str:
    return f"Created token {result.token.token_id} (status {result.token.status}) in {settings.store_description()}"


def _replay_text(result: Any, settings: Any) -> str:
    replay = result.replay
    return f"delivered {replay.delivered} event(s) to {replay.webhook}" if replay.events else "no pending events"


def _aliases(name: str) -> Callable[[Any, dict[str, Any]], Any]:
    """`aliases.<name>(settings, **values)`, looked up when it runs."""

    def call(settings: Any, values: dict[str, Any]) -> Any:
        from hokusai_ci.core import aliases

        return getattr(aliases, name)(settings, **values)

    return call


def _moved_text(result: Any, settings: Any) -> str:
    return str(result.move.message)


def _history_text(result: Any, settings: Any) -> str:
    from hokusai_ci.faces.presenters import history_text

    return history_text(result.moves or [], result.now, result.mlflow_unread)


JOBS: dict[tuple[str, ...], Job] = {
    job.path: job
    for job in (
        Job(
            ("model", "register"),
            _registration_type,
            _use_case("register"),
            _registration_text,
            shows_failure=True,
            before=_register_checks,
            after=_write_report,
        ),
        Job(("model", "gate"), _registration_type, _gate, _registration_text, shows_failure=True, reads_settings=False),
        Job(("model", "verify"), _verification_type, _use_case("verify"), _verification_text, shows_failure=True),
        Job(("model", "status"), _result("TokenResult"), _use_case("status"), _status_text, required=("token_id",)),
        Job(("model", "list"), _result("TokenListResult"), _use_case("list_tokens"), _list_text),
        Job(
            ("model", "promote"),
            _result("AliasMoveOutcome"),
            _aliases("promote"),
            _moved_text,
            required=("token_id",),
        ),
        Job(
            ("model", "rollback"),
            _result("AliasMoveOutcome"),
            _aliases("rollback"),
            _moved_text,
            required=("model_name",),
        ),
        Job(
            ("model", "history"),
            _result("AliasHistoryResult"),
            _aliases("history"),
            _history_text,
            required=("model_name",),
        ),
        Job(("events", "replay"), _result("ReplayOutcome"), _use_case("replay_events"), _replay_text),
        Job(
            ("token", "create"),
            _result("TokenResult"),
            _use_case("create_token"),
            _created_text,
            required=("token_id",),
        ),
        Job(
            ("token", "release"),
            _result("ReleaseOutcome"),
            _use_case("release_token"),
            lambda result, settings: str(result.release.message),
            required=("token_id",),
        ),
    )
}
