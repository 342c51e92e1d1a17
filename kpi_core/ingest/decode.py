"""Bytes to UTF-8 text: the upload bound, encoding detection, and the delimiter / header-row layout.

Japanese exports arrive as CP932, UTF-8 (often with a BOM) or UTF-16 "Unicode text"; European ones as Windows-1252
or Latin-1. Python decodes them because DuckDB's reader only knows UTF-8 without an extension; the result is always
UTF-8 bytes that DuckDB then parses.
"""
from __future__ import annotations

import codecs
import csv
import io
import os
import re
from collections import Counter
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import BinaryIO

import numpy as np

from kpi_core.domain.units import parse_month, parse_number
from kpi_core.errors import WorkbenchError, render  # noqa: F401 - render is shared by the pipeline
from kpi_core.i18n import t

MB = 1024 * 1024
DEFAULT_MAX_BYTES = 200 * MB
HEAD_BYTES = 64 * 1024  # enough lines to find the header and the delimiter
DECODE_CHUNK = 16 * MB
TRANSCODE_CHUNK = 64 * MB  # text held at once while transcoding: up to 2 bytes a character, plus its UTF-8
DELIMITERS = (",", "\t", ";", "|")

ENCODING_LABELS = {
    "utf-8-sig": "UTF-8 (BOM)",
    "utf-8": "UTF-8",
    "utf-16-le": "UTF-16 LE (BOM)",
    "utf-16-be": "UTF-16 BE (BOM)",
    "utf-16-le-nobom": "UTF-16 LE",
    "utf-16-be-nobom": "UTF-16 BE",
    "cp932": "Shift_JIS (CP932)",
    "cp1252": "Windows-1252 (Western European)",
    "latin-1": "Latin-1 (ISO-8859-1)",
}
DELIMITER_LABELS = {",": "comma", "\t": "tab", ";": "semicolon", "|": "pipe"}
CHOOSABLE_ENCODINGS = ("utf-8", "cp932", "utf-16-le", "utf-16-be", "cp1252", "latin-1")  # a reading setting

_BINARY_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"%PDF", "PDF"),
    (b"PK\x03\x04", "ZIP / Excel (.xlsx)"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "Excel 97-2003 (.xls)"),
    (b"\x1f\x8b", "gzip"),
    (b"SQLite format 3\x00", "SQLite"),
)
_BOMS = (
    (codecs.BOM_UTF8, "utf-8", "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16-le", "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be", "utf-16-be"),
)
# C0 controls other than tab, LF, VT, FF and CR never appear in a text export (Ctrl-Z at the very end is stripped).
# VT is FileMaker's line break inside a field and comes with text pasted from e-mail.
_CONTROL = re.compile(rb"[\x00-\x08\x0e-\x1f\x7f]")
# Bytes that CP932 decodes without error but that no Japanese text contains: a sign of some other encoding.
_CP932_IMPLAUSIBLE_CHARS = "\x80\uf8f0\uf8f1\uf8f2\uf8f3"
_CP932_IMPLAUSIBLE = re.compile(f"[{_CP932_IMPLAUSIBLE_CHARS}]")


class IngestError(WorkbenchError):
    """Bad input or a bad mapping: `key` and `values` feed the catalogue (`message(lang)`)."""


Source = bytes | bytearray | memoryview | str | os.PathLike | BinaryIO


# ---------------------------------------------------------------- reading with a bound
def _size_mb(size: int) -> str:
    return f"{size / MB:,.1f}"


def _check_size(size: int, max_bytes: int) -> None:
    if size > max_bytes:
        raise IngestError("ingest.too_large", size_mb=_size_mb(size), limit_mb=_size_mb(max_bytes))


def _stream_size(stream: BinaryIO) -> int | None:
    """The stream's total size without reading it (Streamlit's UploadedFile has `.size`; files can seek)."""
    size = getattr(stream, "size", None)
    if isinstance(size, int):
        return size
    try:
        position = stream.tell()
        end = stream.seek(0, io.SEEK_END)
        stream.seek(position)
        return end - position
    except (AttributeError, OSError, ValueError):
        return None


def read_source(source: Source, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
    """The bytes of `source` (bytes, a path or a binary stream), refusing anything above `max_bytes`
    before reading it whenever the size can be known in advance."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        _check_size(len(source), max_bytes)
        return bytes(source)
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        try:
            _check_size(path.stat().st_size, max_bytes)
            return path.read_bytes()
        except (FileNotFoundError, IsADirectoryError, PermissionError):
            raise IngestError("ingest.file_not_found", path=str(path)) from None
    size = _stream_size(source)
    if size is not None:
        _check_size(size, max_bytes)
    data = source.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise IngestError("ingest.too_large_stream", limit_mb=_size_mb(max_bytes))
    return bytes(data)


# ---------------------------------------------------------------- encoding
@dataclass
class Decoded:
    """The file as UTF-8: `buffer[start:end]` (no BOM, no copy when the file already was UTF-8).

    `verified` is False when only the head was checked as UTF-8: DuckDB checks the rest while parsing, and a
    failure there sends the file back through `decode(..., full=True)`.
    """

    buffer: bytes
    start: int
    end: int
    encoding: str
    verified: bool = True

    @property
    def view(self) -> memoryview:
        return memoryview(self.buffer)[self.start:self.end]


UTF8_HEAD = 1 << 20  # bytes checked in Python when DuckDB will check the rest
_CONTROL_BYTES = bytes([*range(9), *range(14, 32), 127])


def _line_of(data: bytes | memoryview, position: int) -> int:
    return bytes(memoryview(data)[:position]).count(b"\n") + 1


def _undecodable(data: bytes | memoryview, exc: UnicodeDecodeError, offset: int = 0) -> IngestError:
    position = offset + exc.start
    return IngestError("ingest.unknown_encoding", line=_line_of(data, position), byte=f"0x{data[position]:02X}")


def _transcode(data: bytes | memoryview, codec: str) -> bytes:
    """Decode in large chunks (bounded memory) and re-encode as UTF-8. A file of one chunk costs no copy beyond the
    decoder's and the encoder's: its slice is a view and joining one part returns that part."""
    decoder = codecs.getincrementaldecoder(codec)("strict")
    parts = []
    view = memoryview(data)
    for start in range(0, len(data), TRANSCODE_CHUNK):
        chunk = view[start:start + TRANSCODE_CHUNK]
        try:
            text = decoder.decode(chunk, final=start + TRANSCODE_CHUNK >= len(data))
        except UnicodeDecodeError as exc:
            raise _undecodable(data, exc, start) from None
        # a substring test per character is many times faster than a regular expression over 16 MB of text
        if codec == "cp932" and any(char in text for char in _CP932_IMPLAUSIBLE_CHARS):
            bad = _CP932_IMPLAUSIBLE.search(text)
            line = text.count("\n", 0, bad.start()) + _line_of(data, start)
            raise IngestError("ingest.unknown_encoding", line=line, byte=f"U+{ord(bad.group()):04X}")
        parts.append(text.encode("utf-8"))
    return b"".join(parts)


def _binary_kind(data: bytes) -> str | None:
    for signature, kind in _BINARY_SIGNATURES:
        if data.startswith(signature):
            return kind
    return None


def _utf16_without_bom(head: bytes) -> str | None:
    """'utf-16-le' / 'utf-16-be' when NULs sit in every other byte as in ASCII-heavy UTF-16 text."""
    sample = head[: len(head) // 2 * 2]
    if len(sample) < 4:
        return None
    odd_zero = sample[1::2].count(0) / (len(sample) / 2)
    even_zero = sample[0::2].count(0) / (len(sample) / 2)
    if odd_zero > 0.3 and even_zero < 0.05:
        return "utf-16-le"
    if even_zero > 0.3 and odd_zero < 0.05:
        return "utf-16-be"
    return None


# The names people type for --encoding (compared in lower case, "_" and " " read as "-").
_CODEC_ALIASES = {
    **dict.fromkeys(("utf8", "utf-8", "utf-8-sig", "utf8-sig", "utf-8-bom", "utf8-bom"), "utf-8"),
    **dict.fromkeys(("cp932", "shift-jis", "shiftjis", "sjis", "s-jis", "x-sjis", "ms932", "windows-31j",
                     "ms-kanji", "cp943", "cp943c"), "cp932"),
    **dict.fromkeys(("utf-16", "utf16", "ucs-2", "unicode", "utf-16-le", "utf-16le", "utf16le"), "utf-16-le"),
    **dict.fromkeys(("utf-16-be", "utf-16be", "utf16be"), "utf-16-be"),
    **dict.fromkeys(("cp1252", "windows-1252", "win-1252", "win1252", "1252", "ansi", "ms-ansi"), "cp1252"),
    **dict.fromkeys(("latin-1", "latin1", "l1", "iso-8859-1", "iso8859-1", "iso-8859-15", "iso8859-15", "latin-9",
                     "8859-1"), "latin-1"),
}


def codec_name(encoding: str) -> str | None:
    """The codec for an encoding name as typed ('Shift_JIS', 'latin1', 'Windows-1252'...), or None."""
    return _CODEC_ALIASES.get(re.sub(r"[_\s]+", "-", encoding.strip().lower()))


def _utf8(data: bytes, offset: int, label: str, full: bool) -> Decoded:
    """UTF-8 as it is: checked whole, or only its head and its last line (the reader checks the rest; a file cut
    short mid-character is said as such)."""
    _validate_utf8(data, offset, None if full else offset + UTF8_HEAD)
    if not full and len(data) - offset > UTF8_HEAD:
        _validate_utf8(data, max(offset + UTF8_HEAD, data.rfind(b"\n", 0, len(data) - 1) + 1))
    return Decoded(data, offset, len(data), label, verified=full or len(data) - offset <= UTF8_HEAD)


def _forced(data: bytes, encoding: str, full: bool) -> Decoded:
    """Decode with the encoding the user chose (a BOM of that family is still honoured)."""
    codec = codec_name(encoding)
    if codec is None:
        raise IngestError("ingest.bad_encoding_choice", encoding=encoding)
    for bom, bom_codec, label in _BOMS:
        if data.startswith(bom) and bom_codec.split("-")[:2] == codec.split("-")[:2]:
            return _with_bom(data, bom, bom_codec, label, full)
    if codec == "utf-8":
        return _utf8(data, 0, "utf-8", full)
    return _whole(_transcode(data, codec), codec + "-nobom" if codec.startswith("utf-16") else codec)


def _whole(buffer: bytes, label: str) -> Decoded:
    return Decoded(buffer, 0, len(buffer), label)


def _with_bom(data: bytes, bom: bytes, codec: str, label: str, full: bool) -> Decoded:
    if codec == "utf-8":
        return _utf8(data, len(bom), label, full)
    return _whole(_transcode(memoryview(data)[len(bom):], codec), label)


def decode(data: bytes, encoding: str | None = None, full: bool = False) -> Decoded:
    """Detect the encoding (or use `encoding`) and return the text as UTF-8. With `full`, UTF-8 is checked
    to the end here rather than by DuckDB. Raises IngestError for empty, binary or undecodable data."""
    if not re.search(rb"[^\s\x00]", data):
        raise IngestError("ingest.empty")
    kind = _binary_kind(data)
    if kind:
        raise IngestError("ingest.binary", kind=kind)
    decoded = _forced(data, encoding, full) if encoding else _detect(data, full)
    _strip_eof_marker(decoded)
    _check_control_bytes(decoded)
    _check_markup(decoded)
    if not re.search(rb"\S", decoded.view):
        raise IngestError("ingest.empty")
    if decoded.buffer.find(b"\n", decoded.start, decoded.end) < 0 and \
            decoded.buffer.find(b"\r", decoded.start, decoded.end) >= 0:  # classic Mac line ends
        return _whole(bytes(decoded.view).replace(b"\r", b"\n"), decoded.encoding)
    return decoded


def _check_control_bytes(decoded: Decoded) -> None:
    """C0 control bytes in the head mean binary data. Only the head is searched: binary files show it at once,
    and a stray control character deep in a large text export is data, not a reason to refuse the file."""
    head = bytes(decoded.buffer[decoded.start:min(decoded.end, decoded.start + UTF8_HEAD)])
    if len(head.translate(None, _CONTROL_BYTES)) != len(head):
        position = _CONTROL.search(head).start()
        raise IngestError("ingest.binary_content", line=_line_of(head, position), byte=f"0x{head[position]:02X}")


_MARKUP = re.compile(rb"\s*<(!doctype\s+html|html|table|\?xml|workbook|head|body)\b", re.IGNORECASE)


def _check_markup(decoded: Decoded) -> None:
    """A web page or an XML spreadsheet saved with a .csv / .xls name: report tools' "Excel" exports often are."""
    match = _MARKUP.match(bytes(decoded.buffer[decoded.start:decoded.start + 1024]))
    if match:
        kind = "XML" if match.group(1).lower() in (b"?xml", b"workbook") else "HTML"
        raise IngestError("ingest.markup", kind=kind)


def _detect(data: bytes, full: bool) -> Decoded:
    for bom, codec, label in _BOMS:
        if data.startswith(bom):
            return _with_bom(data, bom, codec, label, full)
    if b"\x00" in data[:4096]:
        codec = _utf16_without_bom(data[:4096])
        if codec is None:
            raise IngestError("ingest.binary", kind="?")
        return _whole(_transcode(data, codec), codec + "-nobom")
    return _utf8_or_cp932(data, full)


def _validate_utf8(data: bytes, offset: int, stop: int | None = None) -> None:
    """Strict UTF-8 from `offset` to `stop` (a character cut at `stop` is fine)."""
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    view = memoryview(data)
    end = len(data) if stop is None else min(stop, len(data))
    whole = end == len(data)  # a character cut at the very end of the file is an error, not a cut
    for start in range(offset, end, DECODE_CHUNK):
        try:
            decoder.decode(view[start:min(start + DECODE_CHUNK, end)], final=whole and start + DECODE_CHUNK >= end)
        except UnicodeDecodeError as exc:
            if exc.reason == "unexpected end of data":  # only raised at the end of the file
                raise IngestError("ingest.truncated", line=_line_of(data, start + exc.start)) from None
            raise _undecodable(data, exc, start) from None


def _utf8_or_cp932(data: bytes, full: bool) -> Decoded:
    """UTF-8, else CP932, else Windows-1252 / Latin-1. Many Western files are valid CP932 byte for byte (as
    mojibake): the Western reading is taken first when the non-ASCII bytes look like accented letters in words."""
    try:
        return _utf8(data, 0, "utf-8", full)
    except IngestError as utf8_error:
        if utf8_error.key == "ingest.truncated":  # UTF-8 to its last, cut character: not CP932
            raise
        # UTF-8 with a damaged byte is not a Western file: most of its non-ASCII bytes form UTF-8 characters
        damaged_utf8 = _utf8_share(data) >= UTF8_DAMAGED
        western = 0.0 if damaged_utf8 else max(_western_share(data), _lone_katakana_share(data))
        if western >= WESTERN_OVER_CP932:
            return _western(data)
        try:
            return _whole(_transcode(data, "cp932"), "cp932")
        except IngestError as cp932_error:
            if not damaged_utf8 and max(western, _isolated_share(data)) >= WESTERN_WHEN_NOT_CP932:
                return _western(data)
            # Report whichever decoder got further: that is where the file stops being text.
            first = max((utf8_error, cp932_error), key=lambda e: e.values["line"])
            raise first from None


# Share of non-ASCII bytes that read, in Windows-1252, as letters next to an ASCII letter ("Größe", "ação"):
# Japanese CP932 text scores below 0.25 (its bytes come in pairs and runs, mostly symbols in Windows-1252),
# Western text near 1.
WESTERN_OVER_CP932 = 0.5
WESTERN_WHEN_NOT_CP932 = 0.3  # not CP932 either: a lower bar, or single high bytes between ASCII ("12 €", "3 °C")
WESTERN_SAMPLE = 256 * 1024  # bytes judged, from the first non-ASCII byte on
_NON_ASCII = re.compile(rb"[\x80-\xff]")
UTF8_DAMAGED = 0.5
_UTF8_CHAR = re.compile(rb"[\xC2-\xDF][\x80-\xBF]|[\xE0-\xEF][\x80-\xBF]{2}|[\xF0-\xF4][\x80-\xBF]{3}")


def _sample(data: bytes) -> bytes:
    """WESTERN_SAMPLE bytes from just before the first non-ASCII byte: where the encodings differ."""
    first = _NON_ASCII.search(data)
    start = max(first.start() - 1, 0) if first else 0
    return data[start:start + WESTERN_SAMPLE]


def _utf8_share(data: bytes) -> float:
    """Share of the non-ASCII bytes (of the sample) that are parts of well-formed UTF-8 characters."""
    sample = _sample(data)
    _, _, count = _high_bytes(sample)
    if not count:
        return 0.0
    return sum(len(m) for m in _UTF8_CHAR.findall(sample)) / count


@cache
def _byte_classes() -> tuple[np.ndarray, np.ndarray]:
    western_letter = np.array([b >= 0x80 and bytes([b]).decode("cp1252", "ignore").isalpha() for b in range(256)])
    ascii_letter = np.array([chr(b).isascii() and chr(b).isalpha() for b in range(256)])
    return western_letter, ascii_letter


def _high_bytes(data: bytes) -> tuple[np.ndarray, np.ndarray, int]:
    sample = np.frombuffer(_sample(data), dtype=np.uint8)
    high = sample >= 0x80
    return sample, high, int(high.sum())


def _western_share(data: bytes) -> float:
    sample, _, count = _high_bytes(data)
    if not count:
        return 0.0
    western_letter, ascii_letter = _byte_classes()
    letters = ascii_letter[sample]
    near_letter = np.zeros(len(sample), dtype=bool)
    near_letter[1:] |= letters[:-1]
    near_letter[:-1] |= letters[1:]
    return float((western_letter[sample] & near_letter).sum()) / count


def _isolated_share(data: bytes) -> float:
    """Share of non-ASCII bytes with ASCII on both sides (single-byte text); CP932 text has pairs and runs."""
    _, high, count = _high_bytes(data)
    if not count:
        return 0.0
    padded = np.concatenate(([False], high, [False]))
    return float((high & ~padded[:-2] & ~padded[2:]).sum()) / count


def _lone_katakana_share(data: bytes) -> float:
    """Share of non-ASCII bytes that CP932 could only read as a half-width katakana standing alone between ASCII
    ("Ø Wert", "12 °C"). Japanese text writes half-width katakana in runs; its other characters are byte pairs
    (whose second byte may be ASCII, as in ソ = 83 5C, so a lone lead byte proves nothing)."""
    sample, high, count = _high_bytes(data)
    if not count:
        return 0.0
    padded = np.concatenate(([False], high, [False]))
    lone = high & ~padded[:-2] & ~padded[2:] & (sample >= 0xA1) & (sample <= 0xDF)
    return float(lone.sum()) / count


def _western(data: bytes) -> Decoded:
    """Windows-1252, or Latin-1 when the file uses bytes Windows-1252 leaves undefined."""
    try:
        return _whole(_transcode(data, "cp1252"), "cp1252")
    except IngestError:
        return _whole(_transcode(data, "latin-1"), "latin-1")


def _strip_eof_marker(decoded: Decoded) -> None:
    """Old DOS tools end files with Ctrl-Z."""
    while decoded.end > decoded.start and decoded.buffer[decoded.end - 1] == 0x1A:
        decoded.end -= 1


# ---------------------------------------------------------------- layout: delimiter and header row
@dataclass
class Layout:
    delimiter: str
    header_line: int  # 1-based physical line of the header in the file
    header_offset: int  # byte offset of the header line in the UTF-8 text
    columns: list[str]  # header cells as written (stripped)
    title_lines: list[tuple[int, str]]  # lines above the header, skipped on purpose


def _head_text(utf8: memoryview) -> tuple[str, bool]:
    """The first HEAD_BYTES decoded (cut at a character boundary) and whether the file is longer."""
    head = bytes(utf8[:HEAD_BYTES])
    return head.decode("utf-8", errors="ignore"), len(utf8) > HEAD_BYTES


def _records(text: str, delimiter: str, truncated: bool) -> list[tuple[int, list[str]]]:
    """(start line, cells) of each CSV record in `text`; the last, possibly cut record is dropped if truncated."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    records = []
    start = 1
    try:
        for cells in reader:
            records.append((start, cells))
            start = reader.line_num + 1
    except csv.Error:
        pass
    if truncated and records:
        records.pop()
    return records


def _non_empty(cells: list[str]) -> list[str]:
    return [c.strip() for c in cells if c.strip()]


def _is_number(text: str) -> bool:
    try:
        return parse_number(text) is not None
    except ValueError:
        return False


def _is_month(text: str) -> bool:
    try:
        return parse_month(text) is not None
    except ValueError:
        return False


def _looks_like_header(cells: list[str], width: int) -> bool:
    filled = _non_empty(cells)
    if len(cells) != width or len(filled) < 2 or len(filled) * 2 < width:
        return False
    if filled[0].endswith((":", "：")):  # "出力日: ..." style report metadata
        return False
    numbers = sum(1 for c in filled if _is_number(c) and not _is_month(c))
    return numbers * 2 < len(filled)


# Report metadata above the table ("出力日,2026/04/05,,", "集計期間,2025/04/01,～,2026/03/31") is not its header.
# The labels of a report's own metadata, above its table or in its footer (ingest_table.FOOTER_REGEX).
REPORT_LABELS = r"出力日時?|作成日時?|抽出日時?|抽出条件|出力者|作成者|生成者|生成日時?|集計期間"
_METADATA_LABEL = re.compile(
    rf"^({REPORT_LABELS}|対象期間|期間|レポート名?|帳票名|"
    r"report(\s*name)?|period|date\s*range|run\s*date|exported|created)$", re.IGNORECASE)


def _is_metadata(cells: list[str], width: int) -> bool:
    """A label and a value with the rest blank, or a known metadata label followed by a date or a number (a header
    whose first column is 作成日 is followed by more names)."""
    filled = _non_empty(cells)
    if width >= 3 and len(filled) == 2 and [c.strip() for c in cells[:2]] == filled:
        return True
    return len(filled) >= 2 and bool(_METADATA_LABEL.match(filled[0].rstrip(":："))) and (
        _is_month(filled[1]) or _is_number(filled[1]))


def _width_score(records: list[tuple[int, list[str]]]) -> tuple[int, int]:
    """(records agreeing on the most common field count >= 2, that count)."""
    counts = Counter(len(cells) for _, cells in records if len(cells) >= 2)
    if not counts:
        return 0, 0
    width, agreeing = max(counts.items(), key=lambda item: (item[1], item[0]))
    return agreeing, width


def detect_layout(utf8: memoryview, delimiter: str | None = None, header_line: int | None = None) -> Layout:
    """Find the delimiter and the header row (skipping title lines above it). Either may be given instead."""
    text, truncated = _head_text(utf8)
    if delimiter is None:
        parsed = {d: _records(text, d, truncated) for d in DELIMITERS}
        scored = [(_width_score(parsed[d]), -i, d) for i, d in enumerate(DELIMITERS)]
        (agreeing, _), _, delimiter = max(scored)
        if agreeing == 0:
            raise IngestError("ingest.no_table")
        records = parsed[delimiter]
    else:
        records = _records(text, delimiter, truncated)
    _, width = _width_score(records)
    header = _pick_header(records, width, header_line)
    start, cells = header
    lines = text.split("\n")
    title_lines = [(n + 1, lines[n].rstrip("\r")) for n in range(start - 1) if lines[n].strip(" \r\t,;")]
    offset = len("\n".join(lines[: start - 1]).encode("utf-8")) + (1 if start > 1 else 0)
    return Layout(delimiter, start, offset, [c.strip() for c in cells], title_lines)


def _pick_header(records: list[tuple[int, list[str]]], width: int, header_line: int | None) -> tuple[int, list[str]]:
    if header_line is not None:
        for record in records:
            if record[0] == header_line:
                if len(record[1]) < 2:
                    raise IngestError("ingest.header_not_table", line=header_line)
                return record
        raise IngestError("ingest.header_not_found", line=header_line)
    if width < 2:
        raise IngestError("ingest.no_table")
    # The first header-like record that is not report metadata, else the last header-like one; judged lazily:
    # the header is near the top, and judging every record of the head costs more than the rest of the layout.
    last = None
    for record in records:
        if _looks_like_header(record[1], width):
            if not _is_metadata(record[1], width):
                return record
            last = record
    if last is not None:
        return last
    for record in records:  # rows that do not match their header are reported later as ragged
        if _looks_like_header(record[1], len(record[1])):
            return record
    for record in records:  # a header of numbers only (e.g. years) is still a header if nothing else is
        if len(record[1]) == width:
            return record
    raise IngestError("ingest.no_table")


def encoding_label(encoding: str) -> str:
    return ENCODING_LABELS.get(encoding, encoding)


def delimiter_label(delimiter: str, lang: str) -> str:
    return t(f"ingest.delimiter.{DELIMITER_LABELS.get(delimiter, 'other')}", lang)
