"""Reading a delimited text file (a CSV, a tab-separated interaction log) row by row,
refusing what the pipeline's own readers would misread, each with its file and line.

Python's csv module raises `csv.Error` without a file name on a NUL byte, a field over
its size limit or (strict) an unbalanced quote; a text-mode read raises a bare
`UnicodeDecodeError` on bytes that are not UTF-8; a byte-order mark sticks to the
first column's name; CR-only line ends turn a whole file into one line. Beam's text
reader (CsvExampleGen) splits lines on LF and reads UTF-8 only, so such files are
refused here, before anything runs, instead of being read differently later.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator

import tensorflow as tf

UTF8_BOM = b"\xef\xbb\xbf"
CHUNK_BYTES = 1 << 20
MAX_LINE_BYTES = 8 << 20  # far past csv's 131072-character field limit


class DelimitedTextError(ValueError):
    """A file that cannot be read as UTF-8 delimited text; the message names the file
    and the line."""


def _raw_lines(path: str, handle: tf.io.gfile.GFile) -> Iterator[bytes]:
    """The file's lines as bytes, each with its line end. Read in chunks: GFile's own
    line reading drops every CR, which would hide CR-only line ends. A line over
    MAX_LINE_BYTES is refused as it grows (a file with CR-only line ends is one line)."""
    pending, number = bytearray(), 1
    while chunk := handle.read(CHUNK_BYTES):
        start = 0
        while (end := chunk.find(b"\n", start)) != -1:
            pending += chunk[start : end + 1]
            yield bytes(pending)
            pending.clear()
            number, start = number + 1, end + 1
        pending += chunk[start:]
        if len(pending) > MAX_LINE_BYTES:
            cr = " (it has CR-only line ends?)" if b"\r" in pending else ""
            raise DelimitedTextError(
                f"{path}:{number}: a line over {MAX_LINE_BYTES} bytes{cr}; nothing after it "
                "was read"
            )
    if pending:
        yield bytes(pending)


def _text_lines(path: str, raw_lines: Iterator[bytes]) -> Iterator[str]:
    """Each line as text, once it is UTF-8 with LF or CRLF line ends and no NUL."""
    for number, raw in enumerate(raw_lines, start=1):
        where = f"{path}:{number}"
        if number == 1 and raw.startswith(UTF8_BOM):
            raise DelimitedTextError(
                f"{where}: starts with a byte-order mark (BOM); save the file as UTF-8 without one"
            )
        if b"\x00" in raw:
            raise DelimitedTextError(f"{where}: contains a NUL byte (column {raw.index(0) + 1})")
        if b"\r" in raw.removesuffix(b"\n").removesuffix(b"\r"):
            raise DelimitedTextError(
                f"{where}: a carriage return (CR) inside the line; lines must end in LF or "
                "CRLF, not CR alone"
            )
        try:
            yield raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise DelimitedTextError(
                f"{where}: not UTF-8 (byte 0x{raw[error.start]:02x} at column "
                f"{error.start + 1}); save the file as UTF-8"
            ) from error


def read_rows(path: str, delimiter: str = ",") -> Iterator[tuple[int, list[str]]]:
    """(the line a record starts on, its fields) for each record of `path`, the header
    first; a quoted field may span lines. Raises DelimitedTextError."""
    try:
        with tf.io.gfile.GFile(path, "rb") as handle:
            lines = _text_lines(path, _raw_lines(path, handle))
            reader = csv.reader(lines, delimiter=delimiter, strict=True)
            start = 1
            while True:
                try:
                    row = next(reader)
                except StopIteration:
                    return
                except csv.Error as error:  # a field over the limit, or unpaired quotes
                    hint = "" if "field limit" in str(error) else "; check this record's quotes"
                    raise DelimitedTextError(f"{path}:{start}: {error}{hint}") from error
                yield start, row
                start = reader.line_num + 1
    except tf.errors.OpError as error:  # not found, no permission: GFile's own errors
        raise DelimitedTextError(f"{path}: cannot be read ({error.message})") from error


def finite_number(text: str) -> float | None:
    """The number `text` spells, unless it is not one or not finite ('nan', 'inf',
    '1e400')."""
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None
