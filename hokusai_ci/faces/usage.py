"""What a user may type, read from the commands' own signatures and docstrings.

Fire runs the commands, but only after `check` has matched every word against the target
method's signature: Fire alone ignores a misspelled option (`--dryrun=true` ran a real
registration) and binds a stray word to the first free parameter. The same description drives
`--help` and shell completion, so a new command or option is covered without being listed here.
"""

from __future__ import annotations

import difflib
import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

FLAG_WORDS = ("true", "false", "1", "0", "yes", "no")
_ARG_LINE = re.compile(r"^\s{4,}(\w+):\s*(.*)$")
_REQUIRED = re.compile(r"\s*\(required\)\.?$")


class UsageError(Exception):
    """A command line that does not match any command's signature (exit 2)."""

    def __init__(self, field: str, value: object, fix: str) -> None:
        super().__init__(fix)
        self.field, self.value, self.fix = field, value, fix


@dataclass(frozen=True)
class Option:
    name: str  # the parameter name, e.g. token_id
    meaning: str
    required: bool
    is_flag: bool  # a boolean default: `--dry-run` alone means true
    positional: bool  # no default: may be given as a bare word (`completion bash`)

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


@dataclass(frozen=True)
class Command:
    path: tuple[str, ...]
    summary: str
    body: str
    options: dict[str, Option]


@dataclass
class Group:
    path: tuple[str, ...]
    summary: str
    groups: dict[str, Group] = field(default_factory=dict)
    commands: dict[str, Command] = field(default_factory=dict)

    def children(self) -> list[str]:
        return sorted([*self.groups, *self.commands])


def _docstring(obj: object) -> tuple[str, str, dict[str, str]]:
    """(summary, body without the Args section, meaning per argument)."""
    doc = inspect.getdoc(obj) or ""
    summary, _, rest = doc.partition("\n")
    body_lines: list[str] = []
    meanings: dict[str, str] = {}
    in_args = False
    for line in rest.splitlines():
        if line.strip() == "Args:":
            in_args = True
            continue
        match = _ARG_LINE.match("    " + line) if in_args else None
        if in_args and match:
            meanings[match.group(1)] = match.group(2).strip()
        elif in_args and line.startswith("    ") and meanings:
            last = next(reversed(meanings))
            meanings[last] += " " + line.strip()
        else:
            in_args = False
            body_lines.append(line)
    return summary.strip(), "\n".join(body_lines).strip(), meanings


def describe_command(path: tuple[str, ...], method: Callable[..., Any]) -> Command:
    summary, body, meanings = _docstring(method)
    options: dict[str, Option] = {}
    for name, param in inspect.signature(method).parameters.items():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        text = meanings.get(name, "")
        positional = param.default is inspect.Parameter.empty
        options[name] = Option(
            name=name,
            meaning=_REQUIRED.sub("", text),
            required=positional or bool(_REQUIRED.search(text)),
            is_flag=isinstance(param.default, bool),
            positional=positional,
        )
    return Command(path, summary, body, options)


def describe(root: object, path: tuple[str, ...] = ()) -> Group:
    """The command tree of a Fire component: attributes that are objects are groups, public
    methods are commands."""
    group = Group(path, _docstring(root)[0])
    for name in sorted(dir(root)):
        if name.startswith("_"):
            continue
        member = getattr(root, name)
        if inspect.ismethod(member):
            group.commands[name] = describe_command((*path, name), member)
        elif not callable(member) and type(member).__module__ == type(root).__module__:
            group.groups[name] = describe(member, (*path, name))
    return group


def suggest(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f"; did you mean {close[0]}?" if close else ""


def unknown_group_option(group: Group, word: str) -> UsageError:
    """A group takes only --help (and the top level --version): name the word typed and the
    option meant, as for a command's options (`--verison`, and `-V` for --version)."""
    options = ["--help", *([] if group.path else ["--version"])]
    name = word.partition("=")[0]
    if name in options:
        return UsageError("option", word, f"{name} takes no value: write {name} alone")
    short = [o for o in options if len(name) == 2 and o[2] == name[1].lower()]
    hint = suggest(name, options) or (f"; did you mean {short[0]}?" if short else "")
    where = " ".join(("hokusai", *group.path))
    return UsageError(
        "option", word, f"unknown option {name} for `{where}`{hint or f'; `{where} --help` lists its commands'}"
    )


def resolve(tree: Group, argv: list[str]) -> tuple[Group | Command, list[str]]:
    """Walk the command words; return the group or command they name and the words left."""
    node: Group = tree
    for i, word in enumerate(argv):
        if word.startswith("-"):
            return node, argv[i:]
        if word in node.groups:
            node = node.groups[word]
        elif word in node.commands:
            return node.commands[word], argv[i + 1 :]
        else:
            where = " ".join(("hokusai", *node.path))
            raise UsageError(
                "command",
                word,
                f"`{where}` has no command {word!r} (commands: {', '.join(node.children())})"
                + suggest(word, node.children()),
            )
    return node, []


def is_value_like(word: str) -> bool:
    """A word that can follow an option as its value: not another option (`-0.5` is a value)."""
    return not re.match(r"^-[A-Za-z-]", word)


def asks_help(node: Group | Command, argv: list[str]) -> bool:
    """`--help`/`-h` where an option may stand; right after an option that takes a value it is
    that option's missing value (`--label-column --help` is refused by `check`, never a help
    page that exits 0 in place of a verdict)."""
    for i, word in enumerate(argv):
        if word not in ("--help", "-h"):
            continue
        before = argv[i - 1] if i else ""
        option = node.options.get(before[2:].replace("-", "_")) if isinstance(node, Command) else None
        if option is None or option.is_flag or "=" in before or not before.startswith("--"):
            return True
    return False


def check(command: Command, argv: list[str]) -> dict[str, str | bool]:
    """Match `argv` against the command's options; return the value given for each one.

    Accepts `--token-id X`, `--token-id=X` and `--token_id X`; a flag alone means true.
    Raises UsageError naming the word for anything else, before the command runs."""
    flags = [o.flag for o in command.options.values()]
    values: dict[str, str | bool] = {}
    free = [o for o in command.options.values() if o.positional]
    i = 0
    while i < len(argv):
        word = argv[i]
        i += 1
        if not word.startswith("--") or word == "--":
            if free and word != "--":
                values[free.pop(0).name] = word
                continue
            raise UsageError(
                "argument",
                word,
                f"unexpected argument {word!r}: every value is given to an option, e.g. --token-id XRAY"
                + (" (options: " + ", ".join(flags) + ")" if flags else ""),
            )
        name, eq, given = word[2:].partition("=")
        option = command.options.get(name.replace("-", "_"))
        if option is None:
            where = " ".join(("hokusai", *command.path))
            hint = suggest(f"--{name}", flags) or f"; `{where} --help` lists its options"
            raise UsageError("option", word, f"unknown option --{name} for `{where}`{hint}")
        if option.name in values:
            raise UsageError(option.flag.lstrip("-"), word, f"{option.flag} is given twice; give it once")
        value: str | bool
        if eq:
            value = given
        elif option.is_flag:
            value = True
            if i < len(argv) and argv[i].lower() in FLAG_WORDS:
                value, i = argv[i], i + 1
        elif i < len(argv) and is_value_like(argv[i]):
            value, i = argv[i], i + 1
        else:
            following = argv[i] if i < len(argv) else None
            name = option.flag.lstrip("-")
            shown = (
                f"{option.flag} is given without a value" if following is None else f"{name}={following!r} is invalid"
            )
            raise UsageError(
                name,
                following,
                f"{shown}: write {option.flag} VALUE; for a value starting with '-' write {option.flag}=VALUE",
            )
        values[option.name] = value
    if free:
        missing = free[0]
        raise UsageError(
            missing.flag.lstrip("-"), None, f"`hokusai {' '.join(command.path)}` needs {missing.name.upper()}"
        )
    return values


def command_help(command: Command) -> str:
    positional = [o for o in command.options.values() if o.positional]
    named = [o for o in command.options.values() if not o.positional]
    usage = " ".join(("hokusai", *command.path, *(o.name.upper() for o in positional), "[OPTIONS]" if named else ""))
    lines = [f"Usage: {usage.strip()}", "", command.summary]
    if command.body:
        lines += ["", command.body]
    rows = [(o.name.upper(), o.meaning, o.required) for o in positional]
    rows += [(o.flag + ("" if o.is_flag else " VALUE"), o.meaning, o.required) for o in named]
    rows.append(("--help", "Show this help and exit.", False))
    width = max(len(r[0]) for r in rows)
    lines += ["", "Options:"]
    for label, meaning, required in rows:
        mark = "(required) " if required else ""
        lines.append(f"  {label.ljust(width)}  {mark}{meaning}".rstrip())
    return "\n".join(lines)


def group_help(group: Group, *, root_options: bool = False) -> str:
    where = " ".join(("hokusai", *group.path))
    lines = [f"Usage: {where} COMMAND [OPTIONS]", "", group.summary, "", "Commands:"]
    entries = [(name, group.groups[name].summary) for name in group.groups]
    entries += [(name, group.commands[name].summary) for name in group.commands]
    width = max(len(name) for name, _ in entries)
    lines += [f"  {name.ljust(width)}  {summary}" for name, summary in sorted(entries)]
    lines += ["", "Options:"]
    if root_options:
        lines.append("  --version  Print the version and exit.")
    lines += ["  --help     Show this help and exit.", "", f"Run `{where} COMMAND --help` for a command's options."]
    return "\n".join(lines)


def _walk(group: Group) -> list[Group | Command]:
    found: list[Group | Command] = [group]
    for child in group.groups.values():
        found += _walk(child)
    return found + list(group.commands.values())


def bash_completion(tree: Group, programs: tuple[str, ...] = ("hokusai", "hokusai-ci")) -> str:
    """A bash completion script (zsh loads it through bashcompinit): command words, then the
    options of the command typed so far."""
    cases: list[str] = []
    for node in _walk(tree):
        key = " ".join(node.path)
        if isinstance(node, Group):
            words = node.children() + ["--help"] + (["--version"] if not node.path else [])
        else:
            words = [o.flag for o in node.options.values() if not o.positional] + ["--help"]
            if node.path == ("completion",):
                words = ["bash", "zsh", "--help"]
        cases.append(f'        "{key}") words="{" ".join(words)}" ;;')
    name = "_hokusai_complete"
    return "\n".join(
        [
            f"{name}() {{",
            '    local cur="${COMP_WORDS[COMP_CWORD]}" path="" i word words=""',
            "    for ((i = 1; i < COMP_CWORD; i++)); do",
            '        word="${COMP_WORDS[i]}"',
            '        [[ "$word" == -* ]] && break',
            '        path="${path:+$path }$word"',
            "    done",
            '    case "$path" in',
            *cases,
            "    esac",
            '    COMPREPLY=($(compgen -W "$words" -- "$cur"))',
            "}",
            f"complete -F {name} {' '.join(programs)}",
            "",
        ]
    )


def zsh_completion(tree: Group) -> str:
    return "autoload -U +X bashcompinit && bashcompinit\n" + bash_completion(tree)
