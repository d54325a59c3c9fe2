"""The `hokusai` command line (Fire). Every value reaches the code exactly as typed: Fire's
literal parsing is switched off, so a token id like 007, 1e5, True or 2024-01-01 stays text.

The command methods are generated from `options.COMMANDS` (signature and docstring, which Fire
and `usage` read) and run by `cli_runner`. Fire runs a command only after `usage.check` has
matched the whole command line against the command's signature; help, `--version` and
completion are rendered from the same signatures."""

import inspect
import itertools
import os
import sys
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar, cast

import fire
from fire import decorators

from hokusai_ci.domain.errors import Category, HokusaiError
from hokusai_ci.faces import usage
from hokusai_ci.faces.cli_runner import JOBS, Job, run
from hokusai_ci.faces.command_specs import COMMANDS

F = TypeVar("F", bound=Callable[..., Any])


def _identity(value: str) -> str:
    return value


# Fire would otherwise literal_eval every value ("007" -> 7, "True" -> True, "1e5" -> 100000.0).
# Its metadata attribute is renamed private so `--help` does not list it as a command group.
decorators.FIRE_METADATA = "_hokusai_fire_metadata"
as_typed = cast(Callable[[F], F], decorators.SetParseFn(_identity))


def command_method(path: tuple[str, ...]) -> Callable[..., None]:
    """The Fire method of a command: its signature and docstring from the option table, its body
    the one runner."""
    job: Job = JOBS[path]
    spec = job.spec
    keyword = inspect.Parameter.POSITIONAL_OR_KEYWORD
    signature = inspect.Signature(
        [
            inspect.Parameter("self", keyword),
            *(inspect.Parameter(u.name, keyword, default=u.option.default) for u in spec.options),
        ]
    )

    def method(*args: Any, **kwargs: Any) -> None:
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        values = dict(bound.arguments)
        del values["self"]
        run(job, values)

    method.__signature__ = signature  # type: ignore[attr-defined]
    method.__doc__ = spec.docstring()
    method.__name__ = method.__qualname__ = path[-1]
    return as_typed(method)


class Model:
    """Register trained models against Hokusai tokens and inspect registrations."""


class Events:
    """The events outbox: what was emitted and what a webhook has not accepted yet."""


class Token:
    """Manage tokens in a database store (what the Hokusai site does; for local work and tests)."""


GROUPS: dict[str, type] = {"model": Model, "events": Events, "token": Token}
for _path in COMMANDS:  # every command of the table, as a method of its group (a Job each)
    setattr(GROUPS[_path[0]], _path[1], command_method(_path))


class Cli:
    """hokusai: register trained models with the Hokusai platform from any CI or a laptop."""

    def __init__(self) -> None:
        self.model = Model()
        self.token = Token()
        self.events = Events()

    def version(self) -> str:
        """Print the hokusai-ci version."""
        from hokusai_ci import __version__

        return __version__

    def completion(self, shell: str) -> str:
        """Print a shell completion script: eval "$(hokusai completion bash)" (or zsh).

        Args:
            shell: bash or zsh.
        """
        render = {"bash": usage.bash_completion, "zsh": usage.zsh_completion}.get(shell)
        if render is None:
            _usage_exit(usage.UsageError("shell", shell, f"shell={shell!r} is invalid: use bash or zsh"), "text")
        return render(usage.describe(Cli()))


def _quiet_broken_pipe() -> NoReturn:
    """The reader went away (`| head`): stop quietly, as `yes | head` does (128 + SIGPIPE)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    sys.exit(141)


def _wants_json(args: list[str]) -> bool:
    return "--output=json" in args or any(a == "--output" and b == "json" for a, b in itertools.pairwise(args))


def _usage_exit(err: usage.UsageError, fmt: str, path: tuple[str, ...] = ()) -> NoReturn:
    """A command line no command takes: exit 2, in the output format asked for. A known command
    prints its own result shape, so `--output json` matches the command's published schema."""
    from hokusai_ci.core.commands import failed
    from hokusai_ci.domain.results import ErrorInfo
    from hokusai_ci.faces import presenters

    refusal = HokusaiError(Category.INVALID_INPUT, err.fix, field=err.field)
    error = ErrorInfo.of(refusal)
    if fmt == "json":
        job = JOBS.get(path)
        shown = {"status": "error", "error": error.model_dump()}
        print(presenters.result_json(failed(job.result_type(), refusal)) if job else presenters.to_json(shown))
    print(presenters.error_text(error.title, error.message), file=sys.stderr)
    sys.exit(error.exit_code)


def main(argv: list[str] | None = None) -> None:
    try:
        _main(sys.argv[1:] if argv is None else argv)
    except BrokenPipeError:  # the reader went away while we printed (a usage error's JSON included)
        _quiet_broken_pipe()


def _main(args: list[str]) -> None:
    fmt = "json" if _wants_json(args) else "text"
    tree = usage.describe(Cli())
    path: tuple[str, ...] = ()
    try:
        node, rest = usage.resolve(tree, args)
        path = node.path
        if usage.asks_help(node, rest):
            text = (
                usage.group_help(node, root_options=not node.path)
                if isinstance(node, usage.Group)
                else usage.command_help(node)
            )
            print(text)
            sys.exit(0)
        if isinstance(node, usage.Group):
            if rest == ["--version"] and not node.path:
                print(Cli().version())
                sys.exit(0)
            if not rest:  # `hokusai`, `hokusai model`: say what there is, as a usage error
                print(usage.group_help(node, root_options=not node.path), file=sys.stderr)
            where = " ".join(("hokusai", *node.path))
            if rest and rest[0].startswith("-"):  # `hokusai --verison`, `hokusai -V`
                raise usage.unknown_group_option(node, rest[0])
            raise usage.UsageError(
                "command", rest[0] if rest else None, f"`{where}` needs a command: {', '.join(node.children())}"
            )
        values = usage.check(node, rest)
    except usage.UsageError as err:
        _usage_exit(err, fmt, path)
    except BrokenPipeError:
        _quiet_broken_pipe()
    command = [*node.path, *(f"--{name}" if value is True else f"--{name}={value}" for name, value in values.items())]
    try:
        fire.Fire(Cli(), command=command, name="hokusai")
    except BrokenPipeError:
        _quiet_broken_pipe()


if __name__ == "__main__":
    main()
