"""The character and number rules every input follows, in one place.

Text inputs (ids, names, paths, settings) never carry control characters: a CR or LF in a
value could inject a workflow command or a line into a dotenv report, and a NUL truncates
paths in C libraries. The Unicode bidirectional controls are refused by the same rule: they
make a reviewer read text in another order than the one stored ("Trojan Source"), in a job
summary, a tag or a log line. Numbers are plain decimal or scientific notation in ASCII
digits, as a user types them; Python's `float()` would also accept `0.8_5`, Arabic-Indic digits or
`infinity`, which hide typos.
"""

from __future__ import annotations

import math
import os
import re
import stat
from pathlib import Path

from hokusai_ci.domain.errors import Category, HokusaiError, invalid_input

# The bidirectional embeddings, overrides and isolates, the directional marks and the Arabic
# letter mark: invisible, and each reorders how the text around it is displayed.
BIDI = "\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c"
BIDI_CONTROL = re.compile(f"[{BIDI}]")
# C0 controls, DEL, C1 controls, the Unicode line and paragraph separators and the bidi controls.
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029" + BIDI + "]")
NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]{1,4})?", re.ASCII)
INTEGER = re.compile(r"[+-]?[0-9]{1,18}", re.ASCII)
MAX_NUMBER_TEXT = 100  # no metric needs more digits; bounds the work of parsing
PATH_MAX = 4096  # Linux PATH_MAX, in bytes
NAME_MAX = 255  # one path component, in bytes


def refuse_control(field: str, value: str, *, show: bool = True) -> str:
    """`value` unchanged, or an input error naming the first control character. `show=False`
    for values from a config file, which an error never echoes."""
    found = CONTROL.search(value)
    if found is None:
        return value
    kind = "bidirectional control" if BIDI_CONTROL.match(found.group()) else "control"
    what = f"contains the {kind} character U+{ord(found.group()):04X}"
    if not show:
        raise HokusaiError(
            Category.INVALID_INPUT, f"{field} is invalid: {what} (value not shown); remove it", field=field
        )
    raise invalid_input(field, value, f"{what}; remove line breaks, direction marks and other control characters")


def escape_control(value: str) -> str:
    """Text the tool does not choose (a CI variable) as it may be stored and shown: each control
    character written as `\\uXXXX`, so a line break cannot start a `::command::` line in a log
    that prints the value, and the value still says what it held."""
    return CONTROL.sub(_escaped, value)


def escape_bidi(text: str) -> str:
    """Text as shown to a reader (a log line, a job summary): each bidirectional control written
    as `\\uXXXX`, so the reader sees the characters in the order they are stored."""
    return BIDI_CONTROL.sub(_escaped, text)


def _escaped(found: re.Match[str]) -> str:
    return f"\\u{ord(found.group()):04x}"


def check_path_text(field: str, value: str) -> Path:
    """A path as typed: no control characters and within the kernel's length limits, so the
    file system's own errors (ENAMETOOLONG) never reach the user as a crash."""
    refuse_control(field, value)
    if not value.strip():
        raise invalid_input(field, value, "give a path")
    encoded = os.fsencode(value)
    if len(encoded) >= PATH_MAX:
        raise invalid_input(field, value[:60] + "…", f"the path is longer than {PATH_MAX - 1} bytes")
    if any(len(part) > NAME_MAX for part in encoded.split(b"/")):
        raise invalid_input(field, value[:60] + "…", f"a path component is longer than {NAME_MAX} bytes")
    return Path(value).expanduser()


def parse_number(field: str, text: object) -> float:
    """A finite number: an int or float from code or a metrics file, or text in plain decimal
    or scientific notation (`0.85`, `8.5e-1`). Booleans, NaN and infinities are refused."""
    fix = "give a finite number in plain decimal or scientific notation, such as 0.85 or 8.5e-1"
    if isinstance(text, bool) or not isinstance(text, (int, float, str)):
        raise invalid_input(field, text, fix)
    if isinstance(text, str):
        stripped = text.strip(" \t")  # spaces only: str.strip() would also drop line breaks
        if len(stripped) > MAX_NUMBER_TEXT or not NUMBER.fullmatch(stripped):
            raise invalid_input(field, text if len(text) <= MAX_NUMBER_TEXT else text[:40] + "…", fix)
        text = stripped
    try:
        value = float(text)
    except OverflowError:  # an int too large for a float
        value = math.inf
    if not math.isfinite(value):
        shown = text if not isinstance(text, int) else _big(text)
        raise invalid_input(field, shown, "give a finite number (not NaN, infinity, or beyond ±1.8e308)")
    return value


def parse_bounded(field: str, text: object, low: float, high: float) -> float:
    """A number in [low, high], with the bounds named in the error."""
    value = parse_number(field, text)
    if not low <= value <= high:
        raise invalid_input(field, text, f"use a number from {low:g} to {high:g}")
    return value


def parse_integer(field: str, text: object, low: int, high: int) -> int:
    """A whole number in [low, high], written in ASCII digits."""
    if isinstance(text, bool) or not isinstance(text, (int, str)):
        raise invalid_input(field, text, f"give a whole number from {low} to {high}")
    if isinstance(text, str):
        if not INTEGER.fullmatch(text.strip(" \t")):
            raise invalid_input(field, text[:40], f"give a whole number from {low} to {high}")
        text = int(text.strip(" \t"))
    if not low <= text <= high:
        raise invalid_input(
            field, text if abs(text) < 10**18 else _big(text), f"give a whole number from {low} to {high}"
        )
    return text


def _big(number: int) -> str:
    """Describe an integer without printing it (Python refuses str() past 4300 digits)."""
    return f"an integer of about {int(number.bit_length() * math.log10(2)) + 1} digits"


def check_report_target(field: str, value: str) -> Path:
    """A file the tool will write a report to, checked before anything else is written:
    an existing file must open for appending (its content untouched: no create, no
    truncate), a new one needs a writable folder."""
    path = check_path_text(field, value)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        folder = path.parent
        if not folder.is_dir():
            raise invalid_input(field, value, f"the folder {str(folder)!r} does not exist") from None
        if not os.access(folder, os.W_OK | os.X_OK):
            raise invalid_input(field, value, f"cannot create a file in {str(folder)!r} (permission denied)") from None
        return path
    except OSError as exc:
        raise invalid_input(field, value, f"cannot be written ({exc.strerror or exc})") from None
    if stat.S_ISDIR(st.st_mode):
        raise invalid_input(field, value, "is a folder; give a file path")
    if (stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)) and not os.path.samefile(path, os.devnull):
        # a device opens for writing and may still refuse every byte (/dev/full), after the run
        raise invalid_input(field, value, f"is a device, not a file; give a file path (or {os.devnull} to discard)")
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_APPEND | os.O_NONBLOCK | os.O_CLOEXEC))
    except OSError as exc:
        raise invalid_input(field, value, f"cannot be written ({exc.strerror or exc})") from None
    return path


# Not on PyPI: an extra is installed from a clone of the repository (or from it on GitHub).
EXTRA_INSTALL = "pip install '.[{extra}]' in a clone of hokusai/register-model (the Docker image includes it)"


def require_extra(extra: str, asked: str, modules: tuple[str, ...]) -> None:
    """An optional feature asked for without its extra installed is an input error found in
    preflight (exit 2), before anything is uploaded: never a `ModuleNotFoundError` after it."""
    import importlib.util

    missing = [name for name in modules if importlib.util.find_spec(name) is None]
    if missing:
        raise invalid_input(
            extra,
            asked,
            f"this installation lacks the {extra!r} extra ({missing[0]} is not installed); "
            + EXTRA_INSTALL.format(extra=extra),
        )
