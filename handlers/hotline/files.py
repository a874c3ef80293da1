"""Reading a hotline export: CSV (UTF-8 with or without BOM, or GB18030, detected) or XLSX.

What the file is comes from its first bytes, not its name: an .xlsx is a zip archive, an old .xls an
OLE2 file (refused, with what to do), UTF-16 text (Excel's "Unicode text") is refused the same way.
CSV text is UTF-8 when it decodes as UTF-8 (a BOM is dropped), else GB18030 (which includes GBK and
GB2312), else refused. The header row is the first row with anything in it; every row after it comes
with its line number in the file (the first line of a CSV record that spans several), as a person
finds it in an editor or in Excel.

XLSX goes through openpyxl in read-only mode, which streams the sheet instead of building it in memory
(100,000 rows stay a few megabytes); cells keep their types (a date cell arrives as a datetime).
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from handlers.texts import hotline as texts

ZIP_MAGIC = b"PK\x03\x04"
OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
CSV_FIELD_LIMIT = 16 * 1024 * 1024  # the standard limit (128 KiB) would stop at one long complaint


class FileUnreadable(ValueError):
    """The file itself cannot be read; the message (Chinese) says why."""


@dataclass
class Table:
    kind: str  # csv | xlsx
    encoding: str | None  # CSV: how the text was decoded
    sheet: str | None  # XLSX: the sheet read
    headers: list[str]
    rows: Iterator[tuple[int, list[Any]]]  # (line number, cells), header excluded, blank rows skipped
    estimated_rows: int | None  # for a progress bar: an upper bound, or None


def clean_header(value: Any) -> str:
    return str(value if value is not None else "").replace("\ufeff", "").strip()


def _blank(cells: list[Any] | tuple[Any, ...]) -> bool:
    return all(cell is None or (isinstance(cell, str) and not cell.strip()) for cell in cells)


@contextlib.contextmanager
def open_table(path: str | Path, sheet: str | None = None) -> Iterator[Table]:
    path = Path(path)
    try:
        with path.open("rb") as handle:
            head = handle.read(8)
    except FileNotFoundError as exc:
        raise FileUnreadable(texts.NOT_FOUND) from exc
    except OSError as exc:
        raise FileUnreadable(exc.strerror or str(exc)) from exc
    if head.startswith(ZIP_MAGIC):
        with _open_xlsx(path, sheet) as table:
            yield table
        return
    if sheet is not None:
        raise FileUnreadable(texts.SHEET_FOR_CSV)
    if head.startswith(OLE2_MAGIC):
        raise FileUnreadable(texts.OLD_XLS)
    yield _open_csv(path)


def decode(data: bytes) -> tuple[str, str]:
    """The text and how it was decoded."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise FileUnreadable(texts.UTF16)
    if data.startswith(codecs.BOM_UTF8):
        try:
            return data[len(codecs.BOM_UTF8) :].decode("utf-8"), "UTF-8（带 BOM）"
        except UnicodeDecodeError as exc:
            raise FileUnreadable(texts.UNKNOWN_ENCODING) from exc
    try:
        return data.decode("utf-8"), "UTF-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030"), "GB18030"
    except UnicodeDecodeError as exc:
        raise FileUnreadable(texts.UNKNOWN_ENCODING) from exc


def _open_csv(path: Path) -> Table:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise FileUnreadable(exc.strerror or str(exc)) from exc
    text, encoding = decode(data)
    if not text.strip():
        raise FileUnreadable(texts.EMPTY_FILE)
    first_line = text.split("\n", 1)[0]
    delimiter = "\t" if "\t" in first_line and "," not in first_line else ","
    csv.field_size_limit(CSV_FIELD_LIMIT)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    start = ended = 0  # the line the current record starts on, the one the previous record ended on
    headers: list[str] | None = None
    try:
        for record in reader:
            start, ended = ended + 1, reader.line_num
            if not _blank(record):
                headers = [clean_header(cell) for cell in record]
                break
    except csv.Error as exc:
        raise FileUnreadable(texts.csv_broken(ended + 1, str(exc))) from exc
    if headers is None:
        raise FileUnreadable(texts.NO_HEADER)

    def rows() -> Iterator[tuple[int, list[Any]]]:
        nonlocal ended
        try:
            for record in reader:
                start, ended = ended + 1, reader.line_num
                if not _blank(record):
                    yield start, record
        except csv.Error as exc:
            raise FileUnreadable(texts.csv_broken(ended + 1, str(exc))) from exc

    lines = text.count("\n") + (not text.endswith("\n"))
    return Table("csv", encoding, None, headers, rows(), max(0, lines - start))


@contextlib.contextmanager
def _open_xlsx(path: Path, sheet: str | None) -> Iterator[Table]:
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError, ValueError) as exc:
        raise FileUnreadable(texts.not_a_workbook(str(exc) or type(exc).__name__)) from exc
    try:
        if sheet is not None and sheet not in workbook.sheetnames:
            raise FileUnreadable(texts.no_such_sheet(sheet, workbook.sheetnames))
        worksheet = workbook[sheet] if sheet is not None else workbook.worksheets[0]
        cells = enumerate(worksheet.iter_rows(values_only=True), start=1)
        headers: list[str] | None = None
        for _, row in cells:
            if not _blank(row):
                headers = [clean_header(cell) for cell in row]
                break
        if headers is None:
            raise FileUnreadable(texts.NO_HEADER)

        def rows() -> Iterator[tuple[int, list[Any]]]:
            for line, row in cells:
                if not _blank(row):
                    yield line, list(row)

        yield Table("xlsx", None, worksheet.title, headers, rows(), worksheet.max_row)
    finally:
        workbook.close()
