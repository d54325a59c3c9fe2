"""What a refusal may quote of an evidence file, and the checks of its first bytes.

A message names the file, the line and the fix, and quotes as little of the file as it needs:
a file that is not a table at all (a password file, the environment, a key) could otherwise be
printed into a CI log through "has the columns ...". So a header is quoted as at most five
names of at most 40 characters each, escaped, and a first line that does not look like column
names only as a 12-character prefix. A value that was read as infinity is quoted as written
(cut to 60 characters), since `1e400` or a field of a million digits is what the user must fix.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

from hokusai_ci.config.validation import escape_bidi

# what a header's names look like; not `:` or `=`, which a password file or `KEY=secret` lines hold
_NAME = re.compile(r"[\w .,;()\[\]{}%+\-#@/|<>*^&$!?'\"]{1,40}")
NAMES_SHOWN, NAME_SHOWN, PREFIX_SHOWN = 5, 40, 12


def looks_like_names(names: list[str]) -> bool:
    """A first line that names columns: short names of word characters and the usual
    punctuation. Anything else (a password file's `root:x:0:0:...`, a secret) is another kind
    of file, and its content is not quoted beyond a short prefix."""
    return all(_NAME.fullmatch(n) for n in names)


def list_names(names: list[str]) -> str:
    """At most five names, each cut to 40 characters and escaped."""
    shown = ", ".join(escape_bidi(repr(cut(n, NAME_SHOWN))) for n in names[:NAMES_SHOWN])
    return shown + (f" and {len(names) - NAMES_SHOWN} more" if len(names) > NAMES_SHOWN else "")


def cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def no_header(names: list[str]) -> str:
    prefix = escape_bidi(repr(cut(",".join(names), PREFIX_SHOWN)))
    return (
        f"its first line (starting {prefix}) does not look like a header of column names; give a file whose "
        "first line names its columns (comma-separated for .csv, tab-separated for .tsv)"
    )


def no_column(file: str, wanted: str, names: list[str], option: str) -> str:
    if not looks_like_names(names):
        return f"{file} has no column {wanted!r}: {no_header(names)}"
    return f"{file} has no column {wanted!r} (its columns: {list_names(names)}); name one of them with --{option}"


def which_column(file: str, names: list[str], option: str) -> str:
    if not looks_like_names(names):
        return f"{file}: {no_header(names)}; or name the column to read with --{option}"
    return f"{file} has the columns {list_names(names)}: name the one to use with --{option}"


def text_start(name: str, head: bytes, utf16: bool) -> str | None:
    """Why the first bytes are not UTF-8 text, when they are not: UTF-16 without its
    byte-order mark decodes as UTF-8 with a NUL in every other byte (a header of ASCII names:
    every other byte of the first 64 is NUL)."""
    pairs = head[:64]
    if not utf16 and len(pairs) >= 4 and (not any(pairs[1::2]) or not any(pairs[0::2])):
        return (
            f"{name} is not UTF-8 text (every other byte is NUL, as in UTF-16 without a byte-order mark); "
            "save it as UTF-8"
        )
    return None


def comment_line(name: str, number: int, line: str) -> str | None:
    """Comment lines are not supported (the first line must be the header): a `# produced by
    ...` line would otherwise be read as the column names."""
    if line.lstrip().startswith("#"):
        return (
            f"{name} line {number} starts with '#': comment lines are not supported; remove them, so that "
            "the first line is the header naming the columns"
        )
    return None


def is_number(text: str) -> bool:
    """As numpy's reader reads a number: Python's float() also takes `1_000` and non-ASCII digits."""
    if "_" in text or not text.isascii():
        return False
    try:
        float(text)
    except ValueError:
        return False
    return True


def written_cell(path: Path, encoding: str, delimiter: str, skip: int, index: int, row: int) -> str | None:
    """Data row `row`'s field `index` as the file writes it (read again in Python; a refusal's
    path only)."""
    seen, limit = -1, csv.field_size_limit()
    try:
        csv.field_size_limit(1 << 30)  # numpy reads fields of any length; so must this second look
        with path.open(encoding=encoding, newline="") as f:
            reader = csv.reader(f, delimiter=delimiter, quotechar='"')
            for cells in reader:
                if reader.line_num > skip and cells:
                    seen += 1
                    if seen == row:
                        return cells[index].strip() if index < len(cells) else None
    except (csv.Error, UnicodeDecodeError):
        return None
    finally:
        csv.field_size_limit(limit)
    return None


def row_order_hint(preds: str, pred_names: list[str] | None, labels: str, label_names: list[str] | None) -> str | None:
    """Two files joined by row order that both have a column of the same name (an `id`): their
    rows may be in different orders, and only `--id-column` would join them by it. Said, not
    refused: the same order is the common case."""
    shared = [n for n in (pred_names or []) if n in (label_names or [])]
    if not shared:
        return None
    return (
        f"hint: {preds} and {labels} both have the column {cut(shared[0], NAME_SHOWN)!r} but were joined by row "
        f"order; if it identifies the rows, pass --id-column {cut(shared[0], NAME_SHOWN)} to join them by it"
    )
