"""What every evidence table reader shares: the refusal they raise, the column picking, and the
checks of the numbers read (no empty column, no NaN or infinity), whatever the format."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from hokusai_ci.domain.errors import Category, HokusaiError
from hokusai_ci.domain.measured import quoting

FloatArray = npt.NDArray[np.float64]


_SHOWN = 60  # longest cell value quoted in a message


def refuse(message: str, field: str = "predictions") -> HokusaiError:
    return HokusaiError(Category.INVALID_INPUT, message, field=field)


class Table:
    """One input file: its column names (None for a single unnamed array) and typed columns."""

    def __init__(self, path: Path, field: str) -> None:
        self.path, self.field = path, field
        self.names: list[str] | None = None

    def pick(self, wanted: str | None, option: str, exclude: tuple[str | None, ...]) -> str:
        """The column to read: the one named, else the only column besides those excluded."""
        names = self.names
        if names is None:
            return ""
        if wanted is not None:
            if wanted not in names:
                raise refuse(quoting.no_column(self.path.name, wanted, names, option), option)
            if names.count(wanted) > 1:
                raise refuse(f"{self.path.name} has two columns named {wanted!r}; rename one of them", option)
            return wanted
        rest = [n for n in names if n not in exclude]
        if len(rest) == 1:
            return rest[0]
        raise refuse(quoting.which_column(self.path.name, names, option), option)

    def numbers(self, columns: list[str]) -> list[FloatArray]:
        arrays = self._numbers(columns)
        for name, values in zip(columns, arrays, strict=True):
            if values.size == 0:
                raise refuse(f"{self.path.name} has no data rows; it needs at least one row", self.field)
            bad = ~np.isfinite(values)
            if bad.any():
                row = int(np.flatnonzero(bad)[0])
                read, written = float(values[row]), self._written(name, row)  # `1e400` is read as inf
                shown = repr(read) if written is None else f"{show(written)} (read as {read!r})"
                raise refuse(
                    f"{self.path.name}{self._column(name)} data row {row + 1}: {shown} is not a finite number "
                    "(NaN, infinity and numbers beyond ±1.8e308 cannot be measured); fix or remove the row",
                    self.field,
                )
        return arrays

    def ids(self, column: str) -> npt.NDArray[Any]:
        if self.names is None:
            raise refuse(
                f"{self.path.name} holds a single unnamed array, so it has no id column {column!r}", "id-column"
            )
        self.pick(column, "id-column", ())
        return self._ids(column)

    def _written(self, column: str, row: int) -> str | None:
        """The cell as written in the file, when the format keeps it (text)."""
        return None

    def _column(self, name: str) -> str:
        return f" column {name!r}" if name else ""

    def _numbers(self, columns: list[str]) -> list[FloatArray]:
        raise NotImplementedError

    def _ids(self, column: str) -> npt.NDArray[Any]:
        raise NotImplementedError


def show(value: object) -> str:
    text = str(value)
    return repr(text if len(text) <= _SHOWN else text[:_SHOWN] + "...")
