"""The `.npy` reader of the evidence tables: read by blocks of rows, never unpickled."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from hokusai_ci.domain.measured.table_base import FloatArray, Table, refuse


class NpyTable(Table):
    """A `.npy` file: one 1-D numeric array, or a structured array whose fields are the columns.
    Never unpickled. The columns asked for are read from the file a block of rows at a time, so
    the whole array (9 bytes a row for a float64 score and an int8 label) is never held beside
    the float64 columns; an array that cannot be read so (several dimensions, sub-array fields)
    is loaded whole."""

    def __init__(self, path: Path, field: str) -> None:
        super().__init__(path, field)
        with path.open("rb") as f:
            magic = f.read(6)
        self.array: npt.NDArray[Any] | None = None  # loaded whole only when it cannot be streamed
        self._offset = 0
        try:
            if magic != b"\x93NUMPY":
                raise ValueError("no .npy header")
            mapped = _mapped(path)
            if mapped is None:
                self.array = np.load(path, allow_pickle=False)
            else:
                self._offset, self.dtype, self.shape = mapped
        except (ValueError, OSError, EOFError) as err:
            reason = "it holds Python objects" if "pickle" in str(err) else "it is not a .npy file numpy can read"
            raise refuse(f"{path.name} cannot be read: {reason}; save a numeric array with numpy.save", field) from None
        if self.array is not None:
            self.dtype, self.shape = self.array.dtype, self.array.shape
        if self.dtype.names and len(self.shape) != 1:  # rows of a 2-D record array are not the rows
            raise refuse(f"{path.name} holds a structured array of shape {self.shape}; save it 1-D", field)
        if self.dtype.names:
            self.names = list(self.dtype.names)
        elif len(self.shape) == 2 and self.shape[1] == 1:
            self.shape = (self.shape[0],)
            if self.array is not None:
                self.array = self.array[:, 0]
        elif len(self.shape) != 1:
            raise refuse(
                f"{path.name} holds an array of shape {self.shape}; save one 1-D array per file, or a "
                "structured array whose fields name the columns",
                field,
            )

    def _dtype_of(self, column: str) -> np.dtype[Any]:
        if self.names is None or not self.dtype.fields:
            return self.dtype
        kind: np.dtype[Any] = self.dtype.fields[column][0]
        if kind.shape:  # a field of several values a row (`('score', 'f8', (2,))`) is not one column
            raise refuse(
                f"{self.path.name} field {column!r} has the shape {kind.shape} in each row, several values where one "
                "is read; save one number a row (a field of its own for each)",
                self.field,
            )
        return kind

    def _columns(self, columns: list[str], dtypes: list[Any]) -> list[npt.NDArray[Any]]:
        """The columns as 1-D arrays of `dtypes` (None: the file's own type), read a block of
        rows at a time (or taken from the array loaded whole)."""
        kinds = [self._dtype_of(c) if d is None else np.dtype(d) for c, d in zip(columns, dtypes, strict=True)]
        if self.array is not None:
            picked = [np.asarray(self.array[c]) if self.names is not None else self.array for c in columns]
            return [np.ascontiguousarray(v, dtype=k).reshape(-1) for v, k in zip(picked, kinds, strict=True)]
        rows = int(self.shape[0])
        out = [np.empty(rows, dtype=k) for k in kinds]
        with self.path.open("rb") as f:
            f.seek(self._offset)
            for lo in range(0, rows, _NPY_BLOCK):
                block = np.fromfile(f, dtype=self.dtype, count=min(_NPY_BLOCK, rows - lo))
                for name, whole in zip(columns, out, strict=True):
                    whole[lo : lo + block.size] = block[name] if self.names is not None else block
        return out

    def _numbers(self, columns: list[str]) -> list[FloatArray]:
        for name in columns:
            kind = self._dtype_of(name).base
            if kind.kind not in "biuf":
                raise refuse(
                    f"{self.path.name}{self._column(name)} holds {kind} values, not numbers; save numbers",
                    self.field,
                )
        return self._columns(columns, [np.float64] * len(columns))

    def _ids(self, column: str) -> npt.NDArray[Any]:
        self._dtype_of(column)  # refuses a sub-array field
        return np.asarray(self._columns([column], [None])[0]).astype(str)


_NPY_BLOCK = 1 << 18  # rows read from a .npy file at a time (2.25 MiB for a float64 score and an int8 label)


def _mapped(path: Path) -> tuple[int, np.dtype[Any], tuple[int, ...]] | None:
    """Where the array's data starts, its dtype and shape, read by numpy from the header (the
    file mapped, no page of it read); None when it cannot be streamed by rows (then it is loaded
    whole, which also gives numpy's own refusals: Python objects, a truncated file...)."""
    try:
        mapped = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError):
        return None
    if not isinstance(mapped, np.memmap):
        return None
    dtype, shape, offset = mapped.dtype, tuple(mapped.shape), int(mapped.offset)
    fortran = mapped.ndim > 1 and not mapped.flags.c_contiguous
    del mapped
    fields = dtype.fields or {}
    if fortran or any(kind.subdtype is not None for kind, *_ in fields.values()):
        return None
    if len(shape) > 2 or (len(shape) == 2 and shape[1] != 1 and not fields):
        return None
    if len(shape) == 2 and fields:
        return None
    return offset, dtype, shape
