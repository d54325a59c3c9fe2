"""One table reader per evidence format (CSV/TSV, `.npy`, Parquet) behind one small interface:
pick a column, read numbers, read ids. Text goes through numpy's C reader, and only a file it
refuses is read again in Python, to name the line, the column and the value. Every refusal
is an INVALID_INPUT error naming the file and the fix."""

from __future__ import annotations

import csv
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from hokusai_ci.domain.errors import HokusaiError
from hokusai_ci.domain.fingerprint import refuse_pseudo_file
from hokusai_ci.domain.measured import quoting
from hokusai_ci.domain.measured.npy_table import NpyTable
from hokusai_ci.domain.measured.table_base import FloatArray, Table, refuse, show

TEXT_DELIMITERS = {".csv": ",", ".tsv": "\t", ".tab": "\t"}


PARQUET_SUFFIXES = (".parquet", ".pq")


SUFFIXES = "CSV (.csv), TSV (.tsv), NumPy (.npy) or Parquet (.parquet)"


def open_table(path: Path, field: str) -> Table:
    suffix = path.suffix.lower()
    if not path.is_file():
        raise refuse(f"{field} file {str(path)!r} does not exist or is not a file; check the path", field)
    refuse_pseudo_file(field, path)
    if suffix in TEXT_DELIMITERS:
        return TextTable(path, field, TEXT_DELIMITERS[suffix])
    if suffix == ".npy":
        return NpyTable(path, field)
    if suffix in PARQUET_SUFFIXES:
        return ParquetTable(path, field)
    raise refuse(f"{field} file {path.name!r} has an unknown type; use {SUFFIXES}", field)


class TextTable(Table):
    """CSV or TSV with a header row."""

    def __init__(self, path: Path, field: str, delimiter: str) -> None:
        super().__init__(path, field)
        self.delimiter = delimiter
        with path.open("rb") as f:
            head = f.read(4096)
        utf16 = head[:2] in (b"\xff\xfe", b"\xfe\xff")
        self.encoding = "utf-8-sig" if head.startswith(b"\xef\xbb\xbf") else "utf-16" if utf16 else "utf-8"
        if reason := quoting.text_start(path.name, head, utf16):
            raise refuse(reason, field)
        self.skip, self.names = self._header()

    def _header(self) -> tuple[int, list[str]]:
        try:
            with self.path.open(encoding=self.encoding, newline="") as f:
                for number, line in enumerate(f, 1):
                    if reason := quoting.comment_line(self.path.name, number, line):
                        raise refuse(reason, self.field)
                    if line.strip("\r\n"):
                        cells = next(csv.reader([line], delimiter=self.delimiter, quotechar='"'))
                        return number, [c.strip() for c in cells]
        except UnicodeDecodeError as err:
            raise self._not_text(err) from None
        raise refuse(f"{self.path.name} is empty; it needs a header row naming its columns, then the rows", self.field)

    def _not_text(self, err: UnicodeDecodeError) -> HokusaiError:
        return refuse(
            f"{self.path.name} is not {self.encoding.upper()} text (an undecodable byte near byte {err.start}); "
            "save it as UTF-8",
            self.field,
        )

    def _load(self, columns: list[str], dtype: Any) -> npt.NDArray[Any]:
        assert self.names is not None
        indices = [self.names.index(c) for c in columns]
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "input contained no data": an empty file is refused below
                return np.loadtxt(
                    self.path,
                    dtype=dtype,
                    delimiter=self.delimiter,
                    skiprows=self.skip,
                    usecols=indices,
                    comments=None,
                    quotechar='"',
                    encoding=self.encoding,
                    ndmin=2,
                )
        except UnicodeDecodeError as err:
            raise self._not_text(err) from None
        except ValueError:
            raise self._locate(columns, indices, numeric=dtype is np.float64) from None

    def _numbers(self, columns: list[str]) -> list[FloatArray]:
        # one read per column: each its own contiguous array, so a column no longer needed can be
        # freed (a two-column read is ~8% faster but holds both columns in one block)
        arrays = [np.ascontiguousarray(self._load([c], np.float64)[:, 0]) for c in columns]
        if arrays:
            self._check_widths(int(arrays[0].size))
        return arrays

    def _check_widths(self, rows: int) -> None:
        """Every data line has as many fields as the header: numpy reads only the columns asked
        for, so `0.1,0,7` under `score,label` would be read as if the 7 were not there. Counting
        the delimiters is a byte scan; only a file where that cannot decide (quotes, UTF-16, a
        count that differs) is read again in Python to name the line."""
        assert self.names is not None
        if self.encoding != "utf-16":
            delimiter, quotes, at = self.delimiter.encode(), 0, 0
            with self.path.open("rb") as f:
                for _ in range(self.skip):  # blank lines and the header
                    f.readline()
                while chunk := f.read(1 << 24):
                    quotes += chunk.count(b'"')
                    at += chunk.count(delimiter)
            if not quotes and at == (len(self.names) - 1) * rows:
                return
        limit = csv.field_size_limit()
        try:
            csv.field_size_limit(1 << 30)  # numpy read fields of any length; so must this second look
            with self.path.open(encoding=self.encoding, newline="") as f:
                reader = csv.reader(f, delimiter=self.delimiter, quotechar='"')
                for row in reader:
                    if reader.line_num > self.skip and row and len(row) != len(self.names):
                        raise refuse(
                            f"{self.path.name} line {reader.line_num} has {len(row)} fields, but the header names "
                            f"{len(self.names)}; fix the line (a row's fields must match the header's columns)",
                            self.field,
                        )
        except csv.Error:
            raise self._locate([], [], numeric=False) from None
        finally:
            csv.field_size_limit(limit)

    def _ids(self, column: str) -> npt.NDArray[Any]:
        return np.char.strip(self._load([column], str)[:, 0])

    def _written(self, column: str, row: int) -> str | None:
        assert self.names is not None
        return quoting.written_cell(self.path, self.encoding, self.delimiter, self.skip, self.names.index(column), row)

    def _locate(self, columns: list[str], indices: list[int], numeric: bool) -> HokusaiError:
        """Read the file again in Python to name the first line numpy refused, and why."""
        limit = csv.field_size_limit()
        try:
            csv.field_size_limit(1 << 30)  # numpy reads fields of any length; so must this second look
            found = self._first_bad_line(columns, indices, numeric)
        except csv.Error:
            found = None
        finally:
            csv.field_size_limit(limit)
        return found or refuse(
            f"{self.path.name} could not be read as {'CSV' if self.delimiter == ',' else 'TSV'} with a header row; "
            "check its quoting and delimiters",
            self.field,
        )

    def _first_bad_line(self, columns: list[str], indices: list[int], numeric: bool) -> HokusaiError | None:
        with self.path.open(encoding=self.encoding, newline="") as f:
            reader = csv.reader(f, delimiter=self.delimiter, quotechar='"')
            for row in reader:
                if reader.line_num <= self.skip or not row:
                    continue
                where = f"{self.path.name} line {reader.line_num}"
                for name, index in zip(columns, indices, strict=True):
                    if index >= len(row):
                        return refuse(
                            f"{where} has {len(row)} fields, too few for the column {name!r} "
                            f"(field {index + 1} of the header); fix the line",
                            self.field,
                        )
                    if numeric and not quoting.is_number(row[index]):
                        what = "is empty" if not row[index].strip() else f"holds {show(row[index])}, not a number"
                        return refuse(f"{where} column {name!r} {what}; fix or remove the line", self.field)
        return None


class ParquetTable(Table):
    """A Parquet file, read with pyarrow (the `parquet` extra), column by column."""

    def __init__(self, path: Path, field: str) -> None:
        super().__init__(path, field)
        try:
            import pyarrow.parquet as pq
        except ImportError:
            raise refuse(
                f"{path.name} is Parquet, which needs pyarrow: pip install 'hokusai-ci[parquet]', or give CSV or .npy",
                field,
            ) from None
        try:
            # ParquetFile, not read_table: the dataset layer behind read_table doubles the start-up
            # time and memory for a plain file
            self._file = pq.ParquetFile(path)
            self.names = list(self._file.schema_arrow.names)
        except Exception:  # pyarrow raises ArrowInvalid, OSError... for a file that is not Parquet
            raise refuse(f"{path.name} is not a Parquet file pyarrow can read; check the file", field) from None

    def _read_column(self, name: str, *, numbers: bool) -> npt.NDArray[Any]:
        """One column, read one row group at a time into one array (float64 for `numbers`), so
        pyarrow holds one group's column rather than the whole table beside its numpy copies
        (`iter_batches` reads ahead: at 10M rows it held 98 MiB a column where a group holds 8)."""
        rows = self._file.metadata.num_rows
        whole: npt.NDArray[Any] | None = None
        parts: list[npt.NDArray[Any]] = []
        at = 0
        for group in range(self._file.num_row_groups):
            data = self._file.read_row_group(group, columns=[name], use_threads=False).column(0)
            if data.null_count:
                row = at + int(np.flatnonzero(np.asarray(data.is_null()))[0])
                raise refuse(
                    f"{self.path.name} column {name!r} data row {row + 1} is empty (null); fix or remove the row",
                    self.field,
                )
            values = _arrow_to_numpy(data)
            if numbers and values.dtype.kind not in "biuf":
                raise refuse(f"{self.path.name} column {name!r} is not numeric; store numbers", self.field)
            if numbers:  # cast group by group into the one float64 array
                if whole is None:
                    whole = np.empty(rows, dtype=np.float64)
                whole[at : at + len(values)] = values
            else:
                parts.append(values)
            at += len(values)
        _release_arrow_memory()
        if whole is not None:
            return whole[:at]
        return np.concatenate(parts) if parts else np.empty(0, dtype=np.float64 if numbers else object)

    def _numbers(self, columns: list[str]) -> list[FloatArray]:
        return [self._read_column(name, numbers=True) for name in columns]

    def _ids(self, column: str) -> npt.NDArray[Any]:
        return np.asarray(self._read_column(column, numbers=False).astype(str))


def _release_arrow_memory() -> None:
    import pyarrow as pa

    pa.default_memory_pool().release_unused()


def _arrow_to_numpy(data: Any) -> npt.NDArray[Any]:
    """A pyarrow column as numpy, numbers straight from its buffers: pyarrow's own to_numpy
    imports pandas (0.3 s and 50 MB) to look for extension types. Other types (text ids) go
    through pyarrow."""
    import pyarrow as pa

    parts: list[npt.NDArray[Any]] = []
    for chunk in getattr(data, "chunks", [data]):
        kind = chunk.type
        if pa.types.is_boolean(kind):
            bits = np.unpackbits(np.frombuffer(chunk.buffers()[1], dtype=np.uint8), bitorder="little")
            parts.append(bits[chunk.offset : chunk.offset + len(chunk)].astype(np.bool_))
        elif pa.types.is_integer(kind) or pa.types.is_floating(kind):
            code = "f" if pa.types.is_floating(kind) else "i" if pa.types.is_signed_integer(kind) else "u"
            dtype = np.dtype(f"{code}{kind.bit_width // 8}")
            buffer = chunk.buffers()[1]
            parts.append(np.frombuffer(buffer, dtype=dtype, count=len(chunk), offset=chunk.offset * dtype.itemsize))
        else:
            parts.append(np.asarray(chunk.to_numpy(zero_copy_only=False)))
    return np.concatenate(parts) if parts else np.empty(0)
