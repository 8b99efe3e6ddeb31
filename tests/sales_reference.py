"""An independent plain-Python sales ETL (csv + decimal modules) that the Spark job's outputs are checked against.

It follows the rules written in docs/jobs.md, not the job's code: the csv module for quoting and records that
span lines, ``decimal`` for money, half-up rounding for averages.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections import Counter, defaultdict
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

COLUMNS = ("order_id", "city", "category", "amount", "quantity", "date")
HEADER = ",".join(COLUMNS)
AMOUNT = re.compile(r"\+?([0-9]+\.?[0-9]{0,2}|\.[0-9]{1,2})")
INTEGER = re.compile(r"[+-]?[0-9]+")
ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
AMOUNT_LIMIT = Decimal("1e16")  # DECIMAL(18,2)
CENT = Decimal("0.01")


def fields_of(line: str) -> list[str]:
    return next(csv.reader([line]), [""])


def classify(raw: bytes | str, positions: tuple[int, ...] = tuple(range(6))) -> str | None:
    """Why one line must be rejected (None: valid; 'blank_line' is not a row), decided without Spark."""
    if raw in (b"", ""):
        return "blank_line"
    if isinstance(raw, bytes):
        if raw.count(b'"') % 2:
            return "multiline_record"
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            return "bad_encoding"
    else:
        line = raw
        if line.count('"') % 2:
            return "multiline_record"
    fields = fields_of(line)
    if len(fields) != 6:
        return "wrong_field_count"
    value = {name: fields[pos].strip(" ") for name, pos in zip(COLUMNS, positions, strict=True)}
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


def parsed(line: str, positions: tuple[int, ...]) -> dict[str, str]:
    fields = fields_of(line)
    return {name: fields[pos].strip(" ") for name, pos in zip(COLUMNS, positions, strict=True)}


def header_positions(first: str) -> tuple[int, ...] | None:
    names = [f.strip().lower() for f in fields_of(first.lstrip("\ufeff"))]
    if not set(names) & set(COLUMNS):
        return None
    return tuple(names.index(c) for c in COLUMNS)


def file_records(path: Path) -> list[tuple[bytes, int]]:
    """A file's data records as (raw bytes, lines it spans), header lines dropped.

    Records come from the csv module (which joins a quoted field across lines); each record's raw text is
    rebuilt from the physical lines it covers, split the way Hadoop splits lines.
    """
    data = path.read_bytes()
    lines = re.split(rb"\r\n|\r|\n", data)
    if lines and lines[-1] == b"":
        lines.pop()
    first = next((line for line in lines if line), b"")
    try:
        header = first if header_positions(first.decode()) is not None else None
    except UnicodeDecodeError:
        header = None
    out, i = [], 0
    while i < len(lines):
        line = lines[i]
        if header is not None and line == header:
            i += 1
            continue
        span = 1
        if line.count(b'"') % 2:  # the csv module decides where this quoted record ends
            text = b"\n".join(lines[i:]).decode("utf-8", "replace")
            record_text = ""
            for span in range(1, len(lines) - i + 1):
                record_text = "\n".join(text.split("\n")[:span])
                try:
                    rows = list(csv.reader(io.StringIO(record_text, newline=""), strict=True))
                except csv.Error:
                    continue
                if len(rows) == 1:
                    break
        out.append((b"\n".join(lines[i:i + span]), span))
        i += span
    return out


def expected_results(paths: list[Path]) -> dict:
    """The three outputs, the rejects and the counts, computed with dicts and Decimals."""
    city = defaultdict(lambda: [Decimal(0), 0, 0])
    monthly = defaultdict(lambda: [Decimal(0), 0])
    cross: dict = defaultdict(Decimal)
    rejected: Counter = Counter()
    rows_read = blank = 0
    for path in paths:
        first = next((line for line in re.split(rb"\r\n|\r|\n", path.read_bytes()) if line), b"")
        try:
            positions = header_positions(first.decode()) or tuple(range(6))
        except UnicodeDecodeError:
            positions = tuple(range(6))
        for raw, span in file_records(path):
            reason = "multiline_record" if span > 1 else classify(raw, positions)
            if reason == "blank_line":
                blank += 1
                continue
            rows_read += span
            if reason:
                rejected[(path.name, reason, raw.decode("utf-8", "replace"))] += 1
                continue
            value = parsed(raw.decode(), positions)
            amount, quantity, month = Decimal(value["amount"]), int(value["quantity"]), int(value["date"][5:7])
            city[value["city"]][0] += amount
            city[value["city"]][1] += 1
            city[value["city"]][2] += quantity
            monthly[(month, value["category"])][0] += amount
            monthly[(month, value["category"])][1] += 1
            cross[(value["city"], value["category"])] += amount
    return {
        "city_revenue": {c: (s, (s / n).quantize(CENT, ROUND_HALF_UP), n, q) for c, (s, n, q) in city.items()},
        "monthly_categories": {k: (s, n) for k, (s, n) in monthly.items()},
        "cross_tab": {k: (s,) for k, s in cross.items()},
        "rejected": rejected,
        "rows_read": rows_read,
        "blank_lines": blank,
    }
