"""The GitHub Action face: maps the runner's world (INPUT_*, GITHUB_OUTPUT, the job summary,
workflow commands) onto the same settings and use case as the CLI.

The runner passes every declared input as INPUT_<NAME> with hyphens kept (INPUT_TOKEN-ID),
empty when not given, and does not enforce `required`: validation happens here. The inputs are
`options.ACTION`; what is reported (outputs, summary, escaping) is `github_report.py`.
"""

from __future__ import annotations

import functools
import os
import platform
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from hokusai_ci.config.redaction import (
    MIN_SECRET_LENGTH,
    SECRET_ENV,
    SECRET_SETTINGS,
    fragments,
    install_log_redaction,
    proxy_secrets,
    redact,
    short_lines,
    url_secrets,
)
from hokusai_ci.config.settings import Env, Settings
from hokusai_ci.core.commands import command, failed, run_command
from hokusai_ci.core.gate import GATE_ONLY_MODE
from hokusai_ci.core.inputs import TRUE_WORDS, parse_flag
from hokusai_ci.domain import signals
from hokusai_ci.domain.errors import Cancelled, Category, HokusaiError, cancel_on_sigterm, invalid_input
from hokusai_ci.domain.results import AliasMoveOutcome, RegistrationResult, failed_result
from hokusai_ci.faces.command_specs import (
    ACTION,
    ACTION_COMMANDS,
    ACTION_REGISTER_REQUIRED,
    ACTION_REQUIRED,
    GATE,
    PROMOTE,
    REGISTER,
)
from hokusai_ci.faces.github_report import command_escape, error_command, log_escape, move_report, report
from hokusai_ci.faces.options import OPTIONS
from hokusai_ci.ports.tracking import VersionReader

INPUTS = tuple(OPTIONS[name].input for name in ACTION)
REQUIRED = tuple(OPTIONS[name].input for name in ACTION_REQUIRED)
REGISTER_REQUIRED = tuple(OPTIONS[name].input for name in ACTION_REGISTER_REQUIRED if name != "baseline")
SECRETS = {s.action_input: s.env for s in SECRET_SETTINGS if s.action_input}
PATH_INPUTS = tuple(OPTIONS[name].input for name in ACTION if OPTIONS[name].path)
REPORT_TARGETS = ("GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY")


def read_inputs(env: Mapping[str, str]) -> dict[str, str]:
    """Inputs by kebab-case name; the runner keeps hyphens (INPUT_TOKEN-ID), others may not."""
    found: dict[str, str] = {}
    for name in INPUTS:
        for key in (f"INPUT_{name.upper()}", f"INPUT_{name.upper().replace('-', '_')}"):
            value = env.get(key, "").strip()
            if value:
                found[name] = value
                break
    return found


def given(inputs: Mapping[str, str], name: str) -> Any:
    """An option's input as given (None: not given); a true/false input not given reads its
    action.yml default. Other defaults (`sign: off`) come from the runner, which passes them."""
    option = OPTIONS[name]
    flag_default = option.action_default if option.action_default in ("true", "false") else None
    return inputs.get(option.input, flag_default)


class Masks:
    """`::add-mask::` for every spelling of every secret (each line of a multi-line one), printed
    before anything else; a secret that could not be masked is refused instead of printed."""

    def __init__(self) -> None:
        self.done: set[str] = set()

    def add(self, secret: str, name: str, *, refuse: bool = True) -> None:
        """`refuse=False` for URL credentials: redaction removes them by position in any URL."""
        if refuse and (short_lines(secret) or len(secret.strip()) < MIN_SECRET_LENGTH):
            raise HokusaiError(
                Category.INVALID_INPUT,
                f"{name} is invalid: a value or line shorter than {MIN_SECRET_LENGTH} characters cannot be masked "
                "in the log (value not shown); use a longer secret",
                field=name,
            )
        for text in sorted(fragments(secret) - self.done):
            print(f"::add-mask::{command_escape(text)}")
            self.done.add(text)


def configure_logging(level: str) -> None:
    """The CLI's logging, with every line (any logger's, tracebacks included) redacted and then
    escaped as workflow-command data: a message cannot start a `::command::` line."""
    from hokusai_ci.core import app

    install_log_redaction(escape=log_escape)
    app.configure_logging(level)


def run_action(env: Mapping[str, str] | None = None) -> int:
    """Run the Action: mask the secrets, check where it reports to, run the command, report its
    result. Returns the process exit code (the CLI's table). Once the command's result is back,
    a signal no longer changes it (`signals.Ending`, as in the CLI): it is reported whole and the
    process ends with its code. `env` given (the Action run inside another process): the signal
    handlers are put back on return."""
    ending = signals.arm()
    try:
        code = _action(dict(os.environ if env is None else env), ending)
        ending.printed(code)
        return code
    finally:
        signals.disarm(ending)
        if env is not None:
            ending.release()


def _action(env: dict[str, str], ending: signals.Ending) -> int:
    cancel_on_sigterm()
    install_log_redaction(escape=log_escape)  # from here on, every log line is escaped
    masks = Masks()
    inputs = read_inputs(env)
    try:
        _mask_secrets(env, inputs, masks)
    except HokusaiError as err:  # a secret that cannot be masked is never printed: refuse it
        return _finish(env, inputs, failed_result(err), wants_summary=True, gate_only=False)
    if platform.system() != "Linux":
        print("::error title=Unsupported runner::hokusai/register-model is a Docker action and needs a Linux runner")
        return 2
    for name, var in SECRETS.items():
        if name in inputs:
            os.environ[var] = inputs[name]
    if not env.get(Env.HOME):  # keep the embedded store out of the workspace (no root-owned files)
        os.environ[Env.HOME] = str(Path(env.get("RUNNER_TEMP") or tempfile.gettempdir()) / "hokusai")
    try:  # parsed once; a bad value still gets a summary saying so
        wants_summary, summary_error = parse_flag("job-summary", given(inputs, "job_summary")), None
    except HokusaiError as err:
        wants_summary, summary_error = True, err
    try:
        _check_report_targets(env, wants_summary)
    except HokusaiError as err:  # nowhere to report to: say so and write nothing
        print(error_command(err.category.title, err.message))
        return err.exit_code
    if inputs.get("command") in ("promote", "rollback"):
        return _move_alias(inputs, env, masks, summary_error, wants_summary, ending)
    try:
        try:
            result = _run(inputs, env, masks, summary_error)
        finally:
            ending.hold()
    except (KeyboardInterrupt, Cancelled) as exc:
        category = Category.TERMINATED if isinstance(exc, Cancelled) else Category.INTERRUPTED
        message = f"by {_signal_name(exc)} before the registration started"
        result = failed(RegistrationResult, HokusaiError(category, message))
    gate_only = TRUE_WORDS.get(inputs.get("gate-only", "").lower(), False)
    return _finish(env, inputs, result, wants_summary, gate_only)


@command(RegistrationResult)
def _run(
    inputs: dict[str, str], env: Mapping[str, str], masks: Masks, summary_error: HokusaiError | None
) -> RegistrationResult:
    """The inputs checked in the order a user fixes them, then the gate or the registration."""
    if inputs.get("command", "register") != "register":
        raise invalid_input("command", inputs["command"], f"use one of {', '.join(ACTION_COMMANDS)}")
    missing = [name for name in (*REQUIRED, *REGISTER_REQUIRED) if name not in inputs]
    if not missing and "baseline" not in inputs and "baseline-from" not in inputs:
        missing = ["baseline"]  # baseline-from (alias:champion) reads it from the registry instead
    if missing:
        raise invalid_input(missing[0], "", f"input '{missing[0]}' is required: add it under `with:`")
    workspace = Path(env.get("GITHUB_WORKSPACE") or os.getcwd())
    as_given = dict(inputs)
    for name in PATH_INPUTS:
        if name in inputs and not os.path.isabs(inputs[name]):
            inputs[name] = str(workspace / inputs[name])
    check_within_workspace(inputs, as_given, workspace)
    if summary_error is not None:
        raise summary_error
    debug = env.get("RUNNER_DEBUG") == "1"
    if parse_flag("gate-only", given(inputs, "gate_only")):
        return _gate_only(inputs, debug)
    return _register(inputs, debug, masks)


def _move_alias(
    inputs: dict[str, str],
    env: Mapping[str, str],
    masks: Masks,
    summary_error: HokusaiError | None,
    wants_summary: bool,
    ending: signals.Ending,
) -> int:
    """`command: promote` or `rollback`: the alias moved by the same use case as the CLI's, its
    outcome reported as outputs and a summary line."""
    try:
        try:
            outcome = _moved(inputs, env, masks, summary_error)
        finally:
            ending.hold()
    except (KeyboardInterrupt, Cancelled) as exc:
        category = Category.TERMINATED if isinstance(exc, Cancelled) else Category.INTERRUPTED
        outcome = failed(AliasMoveOutcome, HokusaiError(category, f"by {_signal_name(exc)} before the move"))
    if outcome.error is not None:
        print(error_command(outcome.error.title, outcome.error.message))
    elif outcome.move is not None:
        print(log_escape(redact(outcome.move.message)))
    move_report(env, inputs["command"], outcome, wants_summary)
    return outcome.exit_code


def _moved(
    inputs: dict[str, str], env: Mapping[str, str], masks: Masks, summary_error: HokusaiError | None
) -> AliasMoveOutcome:
    from hokusai_ci.config.settings import load_settings
    from hokusai_ci.core import aliases, app
    from hokusai_ci.core.inputs import check_token_id

    def run() -> AliasMoveOutcome:
        if summary_error is not None:
            raise summary_error
        name, token = inputs["command"], inputs.get("token-id")
        if token is None and not (name == "rollback" and "model-name" in inputs):
            raise invalid_input("token-id", "", f"input 'token-id' is required to {name}: add it under `with:`")
        config = {n: given(inputs, n) for n in PROMOTE.names("setting") if n in ACTION}
        settings = load_settings({**config, "log_level": "DEBUG" if env.get("RUNNER_DEBUG") == "1" else None})
        _mask_configured(masks, settings)
        configure_logging(settings.log_level)
        app.refuse_empty_local_store(settings, app.SECRET_STEP)
        alias = given(inputs, "alias")
        print(f"::group::{name.capitalize()} alias {alias or 'champion'}")
        try:
            if name == "promote":
                return aliases.promote(settings, token, alias, given(inputs, "expect_current"))
            model = inputs.get("model-name") or f"hokusai-{check_token_id(token)}"
            return aliases.rollback(settings, model, alias)
        finally:
            print("::endgroup::")

    return run_command(AliasMoveOutcome, run)


def _finish(
    env: Mapping[str, str], inputs: Mapping[str, str], result: RegistrationResult, wants_summary: bool, gate_only: bool
) -> int:
    """Render the result: an error annotation, the text in the log, the outputs and summary."""
    from hokusai_ci.faces.presenters import registration_text

    result.token_id = result.token_id or inputs.get("token-id")
    if result.mode is None and gate_only:
        result.mode = GATE_ONLY_MODE  # refused before the gate ran: still reported as the gate
    if result.error is not None:
        print(error_command(result.error.title, result.error.message))
    for line in registration_text(result).splitlines():
        print(log_escape(redact(line)))
    report(env, result, wants_summary)
    return result.exit_code


def _mask_secrets(env: Mapping[str, str], inputs: Mapping[str, str], masks: Masks) -> None:
    for var in SECRET_ENV:
        if env.get(var):
            masks.add(env[var], var)
    for name in SECRETS:
        if name in inputs:
            masks.add(inputs[name], f"input '{name}'")
    for var, secrets in proxy_secrets(env).items():
        for secret in secrets:
            masks.add(secret, f"{var} password", refuse=False)


def check_within_workspace(inputs: Mapping[str, str], given: Mapping[str, str], workspace: Path) -> None:
    """Path inputs name files of the checked-out repository: `../../etc/passwd` or `/etc/passwd`
    (or a link in the workspace pointing there) would register, hash or parse a file of the
    machine. Each must resolve inside GITHUB_WORKSPACE, or inside the one folder the
    `allowed-folder` input names (a model downloaded elsewhere, a Hugging Face cache)."""
    from hokusai_ci.config.validation import check_path_text

    roots = [workspace.resolve()]
    if "allowed-folder" in inputs:
        allowed = check_path_text("allowed-folder", inputs["allowed-folder"])
        folder = (workspace / allowed).resolve()
        if folder == Path("/") or folder.parts[:2] in (("/", "proc"), ("/", "sys"), ("/", "dev")):
            raise invalid_input(
                "allowed-folder", inputs["allowed-folder"], "name a folder of models, not / or a kernel folder"
            )
        roots.append(folder)
    for name in PATH_INPUTS:
        if name not in inputs:
            continue
        try:
            real = check_path_text(name, inputs[name]).resolve()
        except (OSError, RuntimeError):  # a link loop
            raise invalid_input(name, given[name], "cannot be resolved (a loop of links?)") from None
        if not any(real == root or root in real.parents for root in roots):
            raise invalid_input(
                name,
                given[name],
                f"resolves to {str(real)!r}, outside the workspace {str(roots[0])!r}: name a path inside "
                "GITHUB_WORKSPACE, or allow one folder outside it with the `allowed-folder` input",
            )


def _register(inputs: Mapping[str, str], debug: bool, masks: Masks) -> RegistrationResult:
    from hokusai_ci.config.settings import load_settings
    from hokusai_ci.core import app

    config = {name: given(inputs, name) for name in REGISTER.names("setting") if name in ACTION}
    settings = load_settings({**config, "log_level": "DEBUG" if debug else None})
    _mask_configured(masks, settings)
    configure_logging(settings.log_level)
    app.refuse_empty_local_store(settings, app.SECRET_STEP)
    print("::group::Register model")
    try:
        return app.register(settings, **{name: given(inputs, name) for name in REGISTER.names("use")})
    finally:
        print("::endgroup::")


def _gate_only(inputs: Mapping[str, str], debug: bool) -> RegistrationResult:
    """A pull request's gate: no store or secret is read, and MLflow only for the version
    `compare-with` names (its tags and stored evidence, read with the registration's settings)."""
    from hokusai_ci.core.gate import gate_only, platform_rules_apply

    configure_logging("DEBUG" if debug else "INFO")
    values = {name: given(inputs, name) for name in GATE.names("use")}
    reads = _reads(inputs)
    return gate_only(
        platform=platform_rules_apply(has_db_config="db-config" in inputs),
        reader=lambda: _version_reader(reads()),
        reads=reads,
        **values,
    )


def _reads(inputs: Mapping[str, str]) -> Callable[[], Settings]:
    """The settings MLflow is read with, as the registration would reach it, loaded only when a
    version or an alias is read."""

    @functools.cache
    def read() -> Settings:
        from hokusai_ci.config.settings import load_settings

        config = {name: given(inputs, name) for name in REGISTER.names("setting") if name in ACTION}
        return load_settings(config)

    return read


def _version_reader(settings: Settings) -> VersionReader:
    from hokusai_ci.core.wiring import version_reader

    return version_reader(settings)


def _mask_configured(masks: Masks, settings: Settings) -> None:
    """What the db-config file and the URL settings carried."""
    db = settings.database
    if db is not None and db.password is not None:
        masks.add(db.password.get_secret_value(), "db-config password")
    urls = {"db-config url": db.url.get_secret_value() if db and db.url else None}
    urls.update({"mlflow-uri": settings.mlflow_uri, "webhook-url": settings.webhook_url, "api-url": settings.api_url})
    for name, url in urls.items():
        for secret in url_secrets(url):
            masks.add(secret, name, refuse=False)


def _check_report_targets(env: Mapping[str, str], wants_summary: bool) -> None:
    """Before anything is written: the runner's output and summary files must be writable."""
    from hokusai_ci.config.validation import check_report_target

    for name in REPORT_TARGETS:
        if env.get(name) and (name != "GITHUB_STEP_SUMMARY" or wants_summary):
            check_report_target(name, env[name])


def _signal_name(exc: BaseException) -> str:
    """What stopped the run, for the message under the category's title ("Interrupted: by SIGINT …")."""
    return "SIGTERM" if isinstance(exc, Cancelled) else "SIGINT"
