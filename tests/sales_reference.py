"""An independent plain-Python sales ETL (byte-level CSV state machine + decimal) the Spark job is checked against.

It follows the rules written in docs/jobs.md, not the job's code: lines are split as Hadoop splits them, records
are formed by walking the CSV dialect's states character by character across lines, money is ``decimal``, averages
round half up, names are compared in Unicode NFC.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import unicodedata
from collections import Counter, defaultdict
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

COLUMNS = ("order_id", "city", "category", "amount", "quantity", "date")
HEADER = ",".join(COLUMNS)
AMOUNT = re.compile(r"\+?([0-9]+\.?[0-9]{0,2}|\.[0-9]{1,2})", re.ASCII)
INTEGER = re.compile(r"[+-]?[0-9]+", re.ASCII)
ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)
AMOUNT_LIMIT = Decimal("1e16")  # DECIMAL(18,2)
CENT = Decimal("0.01")
BOM = b"\xef\xbb\xbf"


def physical_lines(data: bytes) -> list[bytes]:
    """Lines as Hadoop's reader gives them: CR, LF or CRLF ends a line; a BOM at the file's start is dropped."""
    data = data[3:] if data.startswith(BOM) else data
    lines, current, i = [], bytearray(), 0
    while i < len(data):
        byte = data[i:i + 1]
        if byte in (b"\r", b"\n"):
            lines.append(bytes(current))
            current = bytearray()
            i += 2 if data[i:i + 2] == b"\r\n" else 1
            continue
        current += byte
        i += 1
    if current:
        lines.append(bytes(current))
    return lines


def read_record(lines: list[bytes], i: int) -> tuple[int, list[bytes], bool, bool]:
    """The record starting at ``lines[i]``: (lines it spans, its fields, text after a closing quote, still open at
    the end of the file). States: start of field, plain field, quoted field, just after a quote inside one."""
    fields: list[bytes] = []
    value = bytearray()
    state, stray, j, pos = "start", False, i, 0
    line = lines[j]
    while True:
        if pos == len(line):
            if state == "quoted":  # the line break belongs to the quoted field
                if j + 1 == len(lines):
                    fields.append(bytes(value))
                    return j - i + 1, fields, stray, True
                j, pos, line = j + 1, 0, lines[j + 1]
                value += b"\n"
                continue
            fields.append(bytes(value))
            return j - i + 1, fields, stray, False
        char = line[pos:pos + 1]
        pos += 1
        if state == "start":
            if char == b'"':
                state = "quoted"
            elif char == b",":
                fields.append(b"")
            else:
                value += char
                state = "plain"
        elif state == "plain":
            if char == b",":
                fields.append(bytes(value))
                value, state = bytearray(), "start"
            else:
                value += char
        elif state == "quoted":
            if char == b'"':
                state = "after_quote"
            else:
                value += char
        else:  # after a quote inside a quoted field
            if char == b'"':
                value += char
                state = "quoted"
            elif char == b",":
                fields.append(bytes(value))
                value, state = bytearray(), "start"
            else:
                stray = True
                value += char
                state = "plain"


def names_of(line: bytes) -> list[str]:
    text = line.decode("utf-8", "replace")
    text = text[1:] if text.startswith("\ufeff") else text
    _, fields, _, _ = read_record([text.encode()], 0)
    return [f.decode().strip(" ").lower() for f in fields]


def is_blank(line: bytes) -> bool:
    return line.strip(b" ") == b""


def header_of(path: Path) -> tuple[bytes | None, tuple[int, ...]]:
    """The file's header line (its first non-blank line, if it names a column) and the column positions."""
    first = next((line for line in physical_lines(path.read_bytes()) if not is_blank(line)), b"")
    names = names_of(first)
    if not set(names) & set(COLUMNS):
        return None, tuple(range(6))
    return first, tuple(names.index(c) for c in COLUMNS)


def classify_fields(fields: list[bytes], stray: bool, positions: tuple[int, ...]) -> str | None:
    try:
        texts = [f.decode("utf-8") for f in fields]
    except UnicodeDecodeError:
        return "bad_encoding"
    if stray:
        return "bad_quoting"
    if len(texts) != 6:
        return "wrong_field_count"
    value = {name: texts[pos].strip(" ") for name, pos in zip(COLUMNS, positions, strict=True)}
    if any(v == "" for v in value.values()):
        return "missing_value"
    if not AMOUNT.fullmatch(value["amount"]) or not 0 < Decimal(value["amount"]) < AMOUNT_LIMIT:
        return "bad_amount"
    if not INTEGER.fullmatch(value["quantity"]) or not 0 < int(value["quantity"]) < 2**31:
        return "bad_quantity"
    try:
        date = dt.date.fromisoformat(value["date"]) if ISO_DATE.fullmatch(value["date"]) else None
    except ValueError:
        date = None
    if date is None or date.year < 1000:
        return "bad_date"
    return None


def classify(raw: bytes | str, positions: tuple[int, ...] = tuple(range(6))) -> str | None:
    """Why one line must be rejected (None: valid; 'blank_line' is not a row), decided without Spark."""
    raw = raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else raw
    if is_blank(raw):
        return "blank_line"
    _, fields, stray, still_open = read_record([raw], 0)
    if still_open:
        return "multiline_record"
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return "bad_encoding"
    return classify_fields(fields, stray, positions)


def parsed(line: str, positions: tuple[int, ...]) -> dict[str, str]:
    _, fields, _, _ = read_record([line.encode()], 0)
    return {name: fields[pos].decode().strip(" ") for name, pos in zip(COLUMNS, positions, strict=True)}


def distinct_files(paths: list[Path]) -> list[Path]:
    """One path per file (device and inode), the first in sorted order: a symlink beside its target is read once."""
    seen, out = set(), []
    for path in sorted(paths, key=str):
        status = os.stat(path)
        if (status.st_dev, status.st_ino) not in seen:
            seen.add((status.st_dev, status.st_ino))
            out.append(path)
    return out


def expected_results(paths: list[Path]) -> dict:
    """The three outputs, the rejects, the counts and any header out of place, with dicts and Decimals."""
    city = defaultdict(lambda: [Decimal(0), 0, 0])
    monthly = defaultdict(lambda: [Decimal(0), 0])
    cross: dict = defaultdict(Decimal)
    rejected: Counter = Counter()
    rows_read = blank = 0
    header_error = None
    paths = distinct_files(paths)
    layouts = {path: header_of(path) for path in paths}
    for path in paths:
        positions = layouts[path][1]
        same_order = {h for h, p in layouts.values() if h is not None and p == positions}
        skip = same_order | {BOM + h for h in same_order}  # a header repeated from a file that had a mark
        numbered = [(n, line) for n, line in enumerate(physical_lines(path.read_bytes()), start=1) if line not in skip]
        lines = [line for _, line in numbered]
        i = 0
        while i < len(lines):
            if is_blank(lines[i]):
                blank += 1
                i += 1
                continue
            span, fields, stray, still_open = read_record(lines, i)
            raw = b"\n".join(lines[i:i + span])
            reason = "multiline_record" if span > 1 or still_open else classify_fields(fields, stray, positions)
            named = reason not in (None, "multiline_record") and len(set(names_of(raw)) & set(COLUMNS)) >= 2
            if named and header_error is None:
                header_error = (path.name, numbered[i][0])
            rows_read += span
            i += span
            if reason:
                rejected[(path.name, reason, raw.decode("utf-8", "replace"))] += 1
                continue
            value = {name: fields[pos].decode().strip(" ") for name, pos in zip(COLUMNS, positions, strict=True)}
            name, category = (unicodedata.normalize("NFC", value[k]) for k in ("city", "category"))
            amount, quantity, month = Decimal(value["amount"]), int(value["quantity"]), int(value["date"][5:7])
            city[name][0] += amount
            city[name][1] += 1
            city[name][2] += quantity
            monthly[(month, category)][0] += amount
            monthly[(month, category)][1] += 1
            cross[(name, category)] += amount
    return {
        "city_revenue": {c: (s, (s / n).quantize(CENT, ROUND_HALF_UP), n, q) for c, (s, n, q) in city.items()},
        "monthly_categories": {k: (s, n) for k, (s, n) in monthly.items()},
        "cross_tab": {k: (s,) for k, s in cross.items()},
        "rejected": rejected,
        "rows_read": rows_read,
        "blank_lines": blank,
        "header_error": header_error,
        "files": [p.name for p in paths],
    }
