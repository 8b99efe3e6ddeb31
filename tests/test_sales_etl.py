"""The sales ETL against an independent plain-Python computation of the same results.

Spark tests share the session-scoped ``spark`` fixture; one test runs the job as a process.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import itertools
import json
import math
import os
import random
import re
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from tests.job_modules import load_job

REPO = Path(__file__).resolve().parent.parent
JOBS = REPO / "jobs"
HEADER = "order_id,city,category,amount,quantity,date"
OUTPUT_COLUMNS = {
    "city_revenue": ["city", "total_revenue", "avg_order_value", "total_orders", "total_items"],
    "monthly_categories": ["month", "category", "revenue", "orders"],
    "cross_tab": ["city", "category", "revenue"],
}


etl = load_job("sales_etl")
generate_data = load_job("generate_data")


# ------------------------------------------------------------------ plain-Python reference


NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
INTEGER = re.compile(r"[+-]?\d+")
ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def split_line(line: str) -> list[str]:
    """A line's fields: the csv module's reading for quoted lines, plain commas otherwise."""
    return next(csv.reader([line])) if '"' in line else line.split(",")


def classify(line: str) -> str | None:
    """Why the ETL must reject ``line`` (None when valid), decided without Spark."""
    fields = split_line(line)
    if len(fields) != 6:
        return "wrong_field_count"
    if any(f.strip(" ") == "" for f in fields):
        return "missing_value"
    amount, quantity, date = fields[3].strip(), fields[4].strip(), fields[5]
    if not NUMBER.fullmatch(amount) or not math.isfinite(float(amount)):
        return "bad_amount"
    if not INTEGER.fullmatch(quantity) or not -(2**31) <= int(quantity) < 2**31:
        return "bad_quantity"
    try:
        parsed = dt.date.fromisoformat(date) if ISO_DATE.fullmatch(date) else None
    except ValueError:
        parsed = None
    if parsed is None or parsed.year < 1000:
        return "bad_date"
    return None


def data_lines(directory: Path) -> list[tuple[str, str]]:
    """(file name, raw line) for every non-header line, split as Hadoop's line reader does."""
    result = []
    for path in sorted(directory.glob("*.csv")):
        pieces = re.split(r"\r\n|\r|\n", path.read_bytes().decode())
        if pieces and pieces[-1] == "":
            pieces.pop()
        result += [(path.name, line) for line in pieces if line not in (HEADER, "")]  # blank: not a row
    return result


def expected_results(lines: list[tuple[str, str]]) -> dict:
    """The three aggregations, the counts and the rejects, computed with dicts."""
    city = defaultdict(lambda: [0.0, 0, 0])
    monthly = defaultdict(lambda: [0.0, 0])
    cross = defaultdict(float)
    rejected = Counter()
    for name, line in lines:
        reason = classify(line)
        if reason:
            rejected[(name, reason, line)] += 1
            continue
        _, c, cat, amount, quantity, date = split_line(line)
        amount, quantity, month = float(amount), int(quantity), int(date[5:7])
        city[c][0] += amount
        city[c][1] += 1
        city[c][2] += quantity
        monthly[(month, cat)][0] += amount
        monthly[(month, cat)][1] += 1
        cross[(c, cat)] += amount
    return {
        "city_revenue": {c: (s, s / n, n, q) for c, (s, n, q) in city.items()},
        "monthly_categories": {k: (s, n) for k, (s, n) in monthly.items()},
        "cross_tab": {k: (s,) for k, s in cross.items()},
        "rejected": rejected,
        "rows_read": len(lines),
    }


# ----------------------------------------------------------------------------- helpers


def read_output(spark, out: Path, name: str) -> tuple[list[str], list[tuple]]:
    df = spark.read.parquet(str(out / name))
    return df.columns, [tuple(r) for r in df.collect()]


def read_rejected(out: Path) -> Counter:
    rows = Counter()
    for part in sorted((out / "_rejected").glob("part-*")):
        for text in part.read_text().splitlines():
            row = json.loads(text)
            rows[(Path(row["source_file"].replace("file:", "")).name, row["reason"], row["raw_line"])] += 1
    return rows


def assert_matches(spark, out: Path, expected: dict) -> None:
    """Published outputs equal the reference: columns, keys, counts exactly, sums to 1e-9."""
    for name, columns in OUTPUT_COLUMNS.items():
        got_columns, rows = read_output(spark, out, name)
        assert got_columns == columns
        key_len = 1 if name == "city_revenue" else 2
        got = {row[:key_len] if key_len > 1 else row[0]: row[key_len:] for row in rows}
        want = expected[name]
        assert got.keys() == want.keys(), name
        for key, values in want.items():
            for g, w in zip(got[key], values, strict=True):
                assert (g == w) if isinstance(w, int) else math.isclose(g, w, rel_tol=1e-9), (name, key)
        revenue = [row[columns.index("total_revenue" if name == "city_revenue" else "revenue")] for row in rows]
        if name == "monthly_categories":  # by month, then revenue descending
            assert [r[0] for r in rows] == sorted(r[0] for r in rows)
            for a, b in itertools.pairwise(rows):
                assert a[0] < b[0] or a[2] >= b[2]
        else:
            assert revenue == sorted(revenue, reverse=True)
    assert read_rejected(out) == expected["rejected"]
    summary = json.loads((out / "_summary.json").read_text())
    assert summary["rows_read"] == expected["rows_read"]
    assert summary["rows_rejected"] == sum(expected["rejected"].values())
    assert summary["rows_valid"] == summary["rows_read"] - summary["rows_rejected"]
    assert summary["output_rows"] == {name: len(expected[name]) for name in OUTPUT_COLUMNS}


def tree_digest(directory: Path) -> dict[str, str]:
    return {str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(directory.rglob("*")) if p.is_file()}


TEMPLATE = ["ORD-9-000001", "Chicago", "Books", "12.50", "3", "2025-03-04"]


def variant(index: int, value: str) -> str:
    fields = list(TEMPLATE)
    fields[index] = value
    return ",".join(fields)


# Valid lines that need CSV quoting rules, and a blank line (not a data row at all).
QUOTED_GOOD = [
    'ORD-9-000002,"Chicago, IL",Books,12.50,3,2025-03-04',
    'ORD-9-000003,"Say ""hi""",Toys,1,1,2025-01-31',
    'ORD-9-000004,"Chicago",Books,"7.25","2",2025-03-04',
]

# One line per way of being bad, with the reason the job must give.
BAD_LINES = [
    (variant(3, "abc"), "bad_amount"),
    (variant(3, "NaN"), "bad_amount"),
    (variant(3, "12,50"), "wrong_field_count"),
    (variant(4, "2.5"), "bad_quantity"),
    (variant(4, "three"), "bad_quantity"),
    (",".join(TEMPLATE[:5]), "wrong_field_count"),
    (",".join([*TEMPLATE, "extra"]), "wrong_field_count"),
    (",".join(TEMPLATE) + ",", "wrong_field_count"),
    ('ORD-9-000001,"Chicago, IL",Books,12.50,3', "wrong_field_count"),
    ('ORD-9-000001,"",Books,12.50,3,2025-03-04', "missing_value"),
    ('ORD-9-000001,Chicago,Books,"12,50",3,2025-03-04', "bad_amount"),
    (variant(5, "2025-02-30"), "bad_date"),
    (variant(5, "2025/03/04"), "bad_date"),
    (variant(5, "2025-3-4"), "bad_date"),
    (variant(5, "04-03-2025"), "bad_date"),
    (variant(5, "2025-03-04T10"), "bad_date"),
    (variant(1, "   "), "missing_value"),
    *[(variant(i, ""), "missing_value") for i in range(6)],
]


def make_bad_dataset(directory: Path, rows_per_file: int = 200) -> list[tuple[str, str]]:
    """Small tutorial-style files with every kind of bad line spliced in (one twice)."""
    generate_data.main(["--output", str(directory), "--files", "2", "--rows-per-file", str(rows_per_file)])
    injected = []
    for file_num, path in enumerate(sorted(directory.glob("*.csv"))):
        lines = path.read_bytes().decode().split("\r\n")[:-1]
        bad = [line for line, _ in BAD_LINES[file_num::2]] + ([BAD_LINES[0][0]] if file_num == 0 else [])
        if file_num == 1:
            lines[1:1] = [*QUOTED_GOOD, ""]
        for offset, line in enumerate(bad):
            lines.insert(1 + offset * 7, line)  # first data line, middle, ...
            injected.append((path.name, line))
        path.write_bytes(("\r\n".join(lines) + "\r\n").encode())
    return injected


# ------------------------------------------------------------------------------- tests


@pytest.mark.spark
def test_tutorial_data_matches_plain_python(spark, tutorial_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "output"
    code, summary = etl.run(spark, str(tutorial_data), str(out), 0.01)
    assert code == 0 and summary.status == "succeeded"
    expected = expected_results(data_lines(tutorial_data))
    assert expected["rows_read"] == 150_000
    assert_matches(spark, out, expected)
    assert set(summary.timings_seconds) >= {"scan_and_aggregate", "write", "total"}
    assert sorted(p.name for p in out.iterdir()) == ["_rejected", "_summary.json", *sorted(OUTPUT_COLUMNS)]


@pytest.mark.spark
def test_bad_rows_are_set_aside_and_counted(spark, tmp_path: Path) -> None:
    data = tmp_path / "input"
    injected = make_bad_dataset(data)
    lines = data_lines(data)
    expected = expected_results(lines)
    for line, reason in BAD_LINES:  # the reference agrees with the intended reasons
        assert classify(line) == reason, line
    assert Counter((name, line) for name, _, line in expected["rejected"].elements()) == Counter(injected)

    out = tmp_path / "output"
    code, summary = etl.run(spark, str(data), str(out), 1.0)
    assert code == 0
    assert_matches(spark, out, expected)
    assert summary.rejected_by_reason == dict(Counter(r for _, r, _ in expected["rejected"].elements()))
    assert summary.rows_read == expected["rows_read"] and summary.blank_lines == 1
    assert expected["city_revenue"]["Chicago, IL"][2] == 1  # the quoted line counted, under its real city


@pytest.mark.spark
def test_too_many_rejects_fail_and_keep_the_previous_output(spark, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    good, bad, out = tmp_path / "good", tmp_path / "bad", tmp_path / "output"
    generate_data.main(["--output", str(good), "--files", "2", "--rows-per-file", "300"])
    assert etl.main(["--input", str(good), "--output", str(out)]) == 0
    before = tree_digest(out)
    make_bad_dataset(bad)
    rejected = sum(1 for _, line in data_lines(bad) if classify(line))
    total = len(data_lines(bad))

    capsys.readouterr()
    assert etl.main(["--input", str(bad), "--output", str(out), "--max-reject-ratio", "0.01"]) != 0
    message = capsys.readouterr().err
    failed = tmp_path / "output.failed"
    assert f"{rejected:,} of {total:,} rows rejected" in message
    assert str(failed / "_rejected") in message
    assert tree_digest(out) == before
    assert sum(read_rejected(failed).values()) == rejected
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad", "good", "output", "output.failed"]

    # The same bad data passes with a looser threshold, and then replaces the output.
    assert etl.main(["--input", str(bad), "--output", str(out), "--max-reject-ratio", "0.1"]) == 0
    assert tree_digest(out) != before


@pytest.mark.spark
def test_rerun_gives_identical_output(spark, tutorial_data: Path, tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    for out in (first, second):
        assert etl.run(spark, str(tutorial_data), str(out), 0.01)[0] == 0
    for name in OUTPUT_COLUMNS:
        assert read_output(spark, first, name) == read_output(spark, second, name)
        parts = [sorted((o / name).glob("part-*.parquet")) for o in (first, second)]
        assert len(parts[0]) == 1
        assert parts[0][0].read_bytes() == parts[1][0].read_bytes()


@pytest.mark.spark
def test_parse_lines_rejects_like_the_reference(spark) -> None:
    rng = random.Random(3)
    dates = {"2025-02-05", "2024-02-29", "2025-02-30", "2025-12-31", "0999-01-01", "2025-13-01"}
    for _ in range(300):  # mutations of a good date: the cast alone would accept some of them
        base = list(rng.choice(["2025-02-05", "2024-02-29", "2025-11-30"]))
        pos = rng.randrange(len(base) + 1)
        op, char = rng.choice(["insert", "replace", "delete"]), rng.choice("0123456789-+ T/x")
        if op == "insert":
            base.insert(pos, char)
        elif pos < len(base):
            base[pos:pos + 1] = [] if op == "delete" else [char]
        dates.add("".join(base))
    amounts = ["12.5", "7", "-3.25", "1e2", "abc", "NaN", "Infinity", "1.2.3", ".5", "5."]
    quantities = ["3", "+4", "-1", "2.5", "x", "99999999999", "0"]
    lines = ([variant(5, d) for d in sorted(dates)] + [variant(3, a) for a in amounts]
             + [variant(4, q) for q in quantities] + [line for line, _ in BAD_LINES if '"' not in line])
    # (quoted lines get their final reason after the scan, in with_quoted_lines: see the dataset test)
    frame = spark.createDataFrame([(line, "f.csv") for line in lines], "raw string, source_file string")
    got = {r["raw"]: r["reason"] for r in etl.parse_lines(frame).collect()}
    mismatches = [(line, got[line], classify(line)) for line in lines if got[line] != classify(line)]
    assert not mismatches
    assert len({classify(line) for line in lines}) == 6  # every reason and valid lines were exercised


@pytest.mark.spark
def test_transforms_on_a_tiny_frame(spark) -> None:
    rng = random.Random(5)
    lines = [",".join([f"ORD-{i}", rng.choice("ABC"), rng.choice("xy"), f"{rng.uniform(1, 99):.2f}",
                       str(rng.randint(1, 5)), f"2025-{rng.randint(1, 3):02d}-{rng.randint(1, 28):02d}"])
             for i in range(60)]
    lines += [BAD_LINES[0][0], BAD_LINES[0][0], BAD_LINES[9][0]]
    frame = spark.createDataFrame([(line, "a.csv") for line in lines], "raw string, source_file string")
    groups = etl.aggregate(etl.parse_lines(frame)).cache()
    expected = expected_results([("a.csv", line) for line in lines])

    city = {r[0]: tuple(r[1:]) for r in etl.city_revenue(groups).collect()}
    assert city.keys() == expected["city_revenue"].keys()
    for key, (total, avg, orders, items) in expected["city_revenue"].items():
        assert math.isclose(city[key][0], total) and math.isclose(city[key][1], avg)
        assert city[key][2:] == (orders, items)
    monthly = {(r["month"], r["category"]): (r["revenue"], r["orders"])
               for r in etl.monthly_categories(groups).collect()}
    assert monthly.keys() == expected["monthly_categories"].keys()
    assert all(math.isclose(monthly[k][0], v[0]) and monthly[k][1] == v[1]
               for k, v in expected["monthly_categories"].items())
    cross = {(r["city"], r["category"]): r["revenue"] for r in etl.cross_tab(groups).collect()}
    assert cross.keys() == expected["cross_tab"].keys()
    assert all(math.isclose(cross[k], v[0]) for k, v in expected["cross_tab"].items())
    rejected = Counter((r["source_file"], r["reason"], r["raw_line"])
                       for r in etl.rejected_rows(groups).collect())
    assert rejected == expected["rejected"]
    counts = etl.Counts.from_tally(etl.tally(groups).collect())
    assert counts.valid == 60 and counts.output_rows["cross_tab"] == len(expected["cross_tab"])
    groups.unpersist()


@pytest.mark.spark
def test_header_only_input_fails(spark, tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "sales_0.csv").write_text(HEADER + "\r\n")
    code, summary = etl.run(spark, str(tmp_path / "in"), str(tmp_path / "out"), 0.01)
    assert code != 0 and summary.rows_read == 0
    assert not (tmp_path / "out").exists()
    assert "no data rows" in etl.failure_message(summary)


@pytest.mark.parametrize("make_input, fragment", [
    (lambda d: d / "missing", "does not exist"),
    (lambda d: d, "contains no *.csv files"),
    (lambda d: d / "*.nothing", "matches no files"),
])
def test_bad_input_paths_are_named(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                   make_input, fragment: str) -> None:
    path = str(make_input(tmp_path))
    assert etl.main(["--input", path, "--output", str(tmp_path / "out")]) == etl.EXIT_INPUT
    err = capsys.readouterr().err
    assert path in err and fragment in err


@pytest.mark.spark
def test_publishing_guards(spark, tmp_path: Path) -> None:
    foreign = tmp_path / "home"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("not an ETL output")
    paths = etl.OutputPaths.for_output(str(foreign), "x")
    with pytest.raises(etl.InputError, match="not an earlier output"):
        etl.check_output_target(etl.Storage(spark, paths.final), paths)
    with pytest.raises(etl.InputError, match="below a filesystem or bucket root"):
        etl.OutputPaths.for_output("s3a://bucket", "x")

    # A run that died between its two renames: the previous output comes back.
    paths = etl.OutputPaths.for_output(str(tmp_path / "out"), "x")
    previous, final = Path(etl.display(paths.previous)), Path(etl.display(paths.final))
    previous.mkdir()
    (previous / "_summary.json").write_text("{}")
    etl.recover_interrupted_publish(etl.Storage(spark, paths.final), paths)
    assert (final / "_summary.json").exists() and not previous.exists()


def run_in_terminal(cmd: list[str], env: dict[str, str]) -> tuple[int, str]:
    """Run ``cmd`` with a pseudo-terminal as stdout and stderr, as a user's shell would."""
    controller, terminal = os.openpty()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=terminal, stderr=terminal, env=env)
    os.close(terminal)
    chunks = []
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # EIO once the child side is closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(controller)
    return proc.wait(timeout=300), b"".join(chunks).decode(errors="replace")


@pytest.mark.spark
def test_command_line_run_in_a_terminal(tutorial_data: Path, tmp_path: Path) -> None:
    """The documented local command: progress bar, tables, summary; the first run saves a class archive."""
    cds = tmp_path / "cds"
    code, text = run_in_terminal(
        [sys.executable, str(JOBS / "sales_etl.py"), "--input", str(tutorial_data), "--output", str(tmp_path / "out")],
        {**os.environ, "SPARKSTACK_CDS_DIR": str(cds)},
    )
    assert code == 0, text[-3000:]
    assert "=== Revenue by City ===" in text and "=== Monthly Category Performance ===" in text
    assert "[Stage " in text  # Spark's console progress bar
    summary = json.loads((tmp_path / "out" / "_summary.json").read_text())
    assert summary["rows_read"] == 150_000 and summary["spark"]["master"] == "local[*]"
    assert '"rows_read": 150000' in text and "published" in text
    assert [p.suffix for p in cds.iterdir()] == [".jsa"]  # complete archive only, no leftovers


@pytest.mark.spark
def test_a_configured_master_is_used(tmp_path: Path) -> None:
    """Only without a configured master does the job pick local[*] (spark-submit's --master wins)."""
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "sales_0.csv").write_text(HEADER + "\r\n" + ",".join(TEMPLATE) + "\r\n")
    env = {**os.environ, "SPARKSTACK_CDS_DIR": "off", "PYSPARK_SUBMIT_ARGS": "--master local[1] pyspark-shell"}
    proc = subprocess.run([sys.executable, str(JOBS / "sales_etl.py"), "--input", str(tmp_path / "in"),
                           "--output", str(tmp_path / "out")], capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((tmp_path / "out" / "_summary.json").read_text())
    assert summary["spark"]["master"] == "local[1]" and summary["rows_valid"] == 1
    assert "[Stage " not in proc.stderr  # no progress bar when not on a terminal
