"""The sales ETL end to end, against the independent plain-Python computation in tests/sales_reference.py.

Spark tests share the session-scoped ``spark`` fixture and call the job's ``run``/``main`` in-process; only the
tests about the process itself (exit code, what reaches the terminal) start the job as a subprocess.
Each issue-10 rule has its own small input file in tests/sales_inputs/.
"""

from __future__ import annotations

import gzip
import hashlib
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest

from tests import sales_reference as ref
from tests.job_modules import load_job
from tests.terminal import read_until_closed

REPO = Path(__file__).resolve().parent.parent
JOBS = REPO / "jobs"
DATA = Path(__file__).resolve().parent / "sales_inputs"
OUTPUT_COLUMNS = {
    "city_revenue": ["city", "total_revenue", "avg_order_value", "total_orders", "total_items"],
    "monthly_categories": ["month", "category", "revenue", "orders"],
    "cross_tab": ["city", "category", "revenue"],
}
MONEY_TYPES = {"total_revenue": "decimal(28,2)", "avg_order_value": "decimal(18,2)", "revenue": "decimal(28,2)"}

etl = load_job("sales_etl")
generate_data = load_job("generate_data")


# ----------------------------------------------------------------------------- helpers


def read_output(spark, out: Path, name: str) -> tuple[list[str], list[tuple]]:
    df = spark.read.parquet(str(out / name))
    return df.columns, [tuple(r) for r in df.collect()]


def read_rejected(out: Path) -> Counter:
    rows: Counter = Counter()
    for part in sorted((out / "_rejected").glob("part-*")):
        for text in part.read_text().splitlines():
            row = json.loads(text)
            rows[(Path(row["source_file"].replace("file:", "")).name, row["reason"], row["raw_line"])] += 1
    return rows


def assert_matches(spark, out: Path, expected: dict) -> None:
    """Published outputs equal the reference exactly (Decimal money), with decimal types and the tutorial's order."""
    for name, columns in OUTPUT_COLUMNS.items():
        df = spark.read.parquet(str(out / name))
        assert df.columns == columns
        for column, kind in df.dtypes:
            assert kind == MONEY_TYPES.get(column, kind), (name, column, kind)
        rows = [tuple(r) for r in df.collect()]
        key_len = 1 if name == "city_revenue" else 2
        got = {row[:key_len] if key_len > 1 else row[0]: row[key_len:] for row in rows}
        assert got == expected[name], name
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
    assert summary["blank_lines"] == expected["blank_lines"]
    assert summary["output_rows"] == {name: len(expected[name]) for name in OUTPUT_COLUMNS}


def tree_digest(directory: Path) -> dict[str, str]:
    return {str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(directory.rglob("*")) if p.is_file()}


def inputs(tmp_path: Path, *names: str) -> Path:
    """A fresh input directory holding copies of tests/sales_inputs files."""
    directory = tmp_path / "in"
    directory.mkdir(exist_ok=True)
    for name in names:
        shutil.copy(DATA / name, directory / name)
    return directory


def run_job(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """The shipped entry point as its own process (a JVM start of several seconds: used sparingly)."""
    return subprocess.run([sys.executable, str(JOBS / "sales_etl.py"), *args], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "SPARKSTACK_CDS_DIR": "off", **(env or {})})


# --------------------------------------------------------------------- the tutorial's data


@pytest.mark.spark
def test_tutorial_data_matches_plain_python(spark, tutorial_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "output"
    result = etl.run(spark, str(tutorial_data), str(out), 0.01)
    assert result.code == 0 and result.summary.status == "succeeded"
    expected = ref.expected_results(sorted(tutorial_data.glob("*.csv")))
    assert expected["rows_read"] == 150_000
    assert_matches(spark, out, expected)
    assert result.summary.files_read == [str(p) for p in sorted(tutorial_data.glob("*.csv"))]
    assert sorted(p.name for p in out.iterdir()) == ["_rejected", "_summary.json", *sorted(OUTPUT_COLUMNS)]
    assert "=== Revenue by City ===" in result.tables

    # Re-running on the same input gives byte-identical Parquet files (the docs promise it).
    again = tmp_path / "again"
    assert etl.run(spark, str(tutorial_data), str(again), 0.01).code == 0
    for name in OUTPUT_COLUMNS:
        parts = [sorted((o / name).glob("part-*.parquet")) for o in (out, again)]
        assert len(parts[0]) == 1 and parts[0][0].read_bytes() == parts[1][0].read_bytes()


# ------------------------------------------------------------------- issue 10, one rule each


@pytest.mark.spark
def test_money_is_exact_decimal(spark, tmp_path: Path) -> None:
    """0.10 + 0.20 is 0.30, averages round half up, and an amount with 3 decimals, too big, NaN or 1e2 is rejected."""
    out = tmp_path / "out"
    assert etl.run(spark, str(DATA / "money.csv"), str(out), 1.0).code == 0
    expected = ref.expected_results([DATA / "money.csv"])
    assert_matches(spark, out, expected)
    city = {r[0]: r[1:] for r in read_output(spark, out, "city_revenue")[1]}
    assert city["Boston"][:2] == (Decimal("9999999999999999.99") + Decimal("0.05"), Decimal("3333333333333333.35"))
    cross = {(r[0], r[1]): r[2] for r in read_output(spark, out, "cross_tab")[1]}
    assert cross[("Austin", "Books")] == Decimal("0.30")
    assert Counter(reason for _, reason, _ in read_rejected(out)) == {"bad_amount": 5}


@pytest.mark.spark
def test_the_header_decides(spark, tmp_path: Path) -> None:
    """A reordered header (any case, spaces) maps columns by name; a file without a header keeps the order."""
    data = inputs(tmp_path, "header_reordered.csv", "headerless.csv")
    out = tmp_path / "out"
    assert etl.run(spark, str(data), str(out), 0.0).code == 0
    expected = ref.expected_results(sorted(data.iterdir()))
    assert expected["rows_read"] == 4 and not expected["rejected"]
    assert_matches(spark, out, expected)
    assert {r[0]: r[3] for r in read_output(spark, out, "city_revenue")[1]} == {"Austin": 2, "Boston": 1, "Denver": 1}


@pytest.mark.parametrize("ratio", ["-0.01", "1.01", "2"])
def test_a_reject_ratio_outside_0_to_1_is_refused(ratio: str, capsys: pytest.CaptureFixture[str]) -> None:
    """A share of rows above 1 would let a run of nothing but bad rows publish."""
    with pytest.raises(SystemExit) as exit_info:
        etl.parse_args(["--input", "in", "--output", "out", "--max-reject-ratio", ratio])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1].endswith("error: --max-reject-ratio must be between 0 and 1")
    assert [etl.parse_args(["--input", "in", "--output", "out", "--max-reject-ratio", edge]).max_reject_ratio
            for edge in ("0", "1")] == [0.0, 1.0]


@pytest.mark.parametrize(("reported", "plain"), [
    ("file:///data/raw/x%20y.csv", "file:/data/raw/x y.csv"),  # Spark's input_file_name() of a local file
    ("file:/data/raw/sales.csv", "file:/data/raw/sales.csv"),
    ("s3a://bucket/raw/x%20y.csv", "s3a://bucket/raw/x y.csv"),
])
def test_a_reported_source_file_is_matched_in_its_plain_form(reported: str, plain: str) -> None:
    assert etl.source_uri(reported) == plain


@pytest.mark.parametrize("local_input", [True, False])
def test_an_object_store_output_is_refused_before_the_jvm_starts(tmp_path: Path, local_input: bool,
                                                                  capsys: pytest.CaptureFixture[str],
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """S3A has no atomic rename and no exclusive create: the safe publish cannot hold there (jobs/publish.py).
    Refused before Spark starts whether the input is local or itself in the object store."""
    def no_spark(name: str) -> None:
        raise AssertionError("Spark started before the output was checked")

    monkeypatch.setattr(etl.spark_session, "start_spark", no_spark)
    data = str(inputs(tmp_path, "headerless.csv")) if local_input else "s3a://bucket/raw/sales"
    assert etl.main(["--input", data, "--output", "s3a://bucket/curated/sales"]) == etl.EXIT_INPUT
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "s3a://bucket/curated/sales is in an object store" in err


def test_a_header_with_an_unknown_column_fails_before_any_work(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    data = inputs(tmp_path, "header_unknown.csv", "headerless.csv")
    assert etl.main(["--input", str(data), "--output", str(tmp_path / "out")]) == etl.EXIT_INPUT
    err = capsys.readouterr().err.strip()
    assert "header_unknown.csv" in err and "missing amount" in err and "unknown 'price'" in err
    assert len(err.splitlines()) == 1 and not (tmp_path / "out").exists()


@pytest.mark.spark
def test_csv_quoting_applies_to_every_row(spark, tmp_path: Path) -> None:
    """"Quoted City" and Quoted City are one group though no row is rejected; 5 real fields is a reject."""
    out = tmp_path / "out"
    data = inputs(tmp_path, "quoting.csv")
    assert etl.run(spark, str(data), str(out), 1.0).code == 0
    expected = ref.expected_results([data / "quoting.csv"])
    assert_matches(spark, out, expected)
    city = {r[0]: r[3] for r in read_output(spark, out, "city_revenue")[1]}
    assert city == {"Quoted City": 3, 'Say "hi"': 1}
    assert read_rejected(out) == {("quoting.csv", "wrong_field_count", 'Q-4,"Chicago, IL",4.00,1,2025-01-08'): 1}

    clean = tmp_path / "clean"  # no row rejected at all: the quoted name still joins the plain one
    assert etl.run(spark, str(DATA / "quoting_clean.csv"), str(clean), 0.0).code == 0
    assert [(r[0], r[1], r[3]) for r in read_output(spark, clean, "city_revenue")[1]] == [
        ("Quoted City", Decimal("3.00"), 2)]


@pytest.mark.spark
def test_a_quoted_field_spanning_lines_is_one_rejected_record(spark, tmp_path: Path) -> None:
    out = tmp_path / "out"
    data = inputs(tmp_path, "multiline.csv")
    result = etl.run(spark, str(data), str(out), 1.0)
    assert result.code == 0
    expected = ref.expected_results([data / "multiline.csv"])
    assert_matches(spark, out, expected)
    assert sorted(raw for _, _, raw in read_rejected(out)) == [
        'L-2,"New\nYork",Books,2.00,1,2025-01-06',
        'L-4,"Note:\nL-9,Austin,Books,9.00,9,2025-09-09\nend",Books,4.00,1,2025-01-08',
    ]
    assert result.summary.rejected_by_reason == {"multiline_record": 5}  # counted as the lines they span
    assert result.summary.rows_read == 8 and result.summary.rows_valid == 3


@pytest.mark.spark
def test_input_files_are_read_as_named(spark, tmp_path: Path) -> None:
    """Every *.csv / *.csv.gz read once whatever its name; hidden and _-prefixed files skipped; a glob once."""
    data = tmp_path / "in"
    data.mkdir()
    rows = {name: f"N-{i},City{i},Books,{i}.00,1,2025-01-0{i}\n" for i, name in enumerate(
        ["sales[1].csv", "sales1.csv", "x{y}.csv", "a b,c%20+#.csv", "upper.CSV"], start=1)}
    for name, row in rows.items():
        (data / name).write_text(ref.HEADER + "\n" + row)
    with gzip.open(data / "packed.csv.gz", "wt") as packed:
        packed.write(ref.HEADER + "\nN-6,City6,Books,6.00,1,2025-01-06\n")
    for skipped in ("_skip.csv", ".hidden.csv", "notes.txt"):
        (data / skipped).write_text(ref.HEADER + "\nS-1,Skipped,Books,1.00,1,2025-01-01\n")
    out = tmp_path / "out"
    result = etl.run(spark, str(data), str(out), 0.0)
    assert result.code == 0
    names = sorted([*rows, "packed.csv.gz"])
    assert sorted(Path(p).name for p in result.summary.files_read) == names
    assert {r[0]: r[3] for r in read_output(spark, out, "city_revenue")[1]} == {f"City{i}": 1 for i in range(1, 7)}

    glob_out = tmp_path / "glob-out"
    result = etl.run(spark, str(data / "sales[[]1].csv"), str(glob_out), 0.0)  # the glob names sales[1].csv only
    assert [Path(p).name for p in result.summary.files_read] == ["sales[1].csv"]
    assert [r[0] for r in read_output(spark, glob_out, "city_revenue")[1]] == ["City1"]


@pytest.mark.spark
def test_nothing_is_published_from_nothing(spark, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert etl.run(spark, str(DATA / "headerless.csv"), str(out), 0.0).code == 0
    before = tree_digest(out)
    capsys.readouterr()
    code = etl.main(["--input", str(DATA / "all_rejected.csv"), "--output", str(out), "--max-reject-ratio", "1"])
    assert code == etl.EXIT_REJECTED
    captured = capsys.readouterr()
    assert "no valid rows" in captured.err and "=== Revenue" not in captured.out
    assert tree_digest(out) == before
    assert json.loads((tmp_path / "out.failed" / "_summary.json").read_text())["rows_rejected"] == 2


@pytest.mark.spark
def test_documented_policies(spark, tmp_path: Path) -> None:
    """Zero/negative amounts and quantities rejected, duplicate order ids both counted, spaces around values
    ignored, a line that is not UTF-8 rejected as bad_encoding."""
    out = tmp_path / "out"
    data = inputs(tmp_path, "policies.csv")
    assert etl.run(spark, str(data), str(out), 1.0).code == 0
    expected = ref.expected_results([data / "policies.csv"])
    assert_matches(spark, out, expected)
    assert {r[0]: r[3] for r in read_output(spark, out, "city_revenue")[1]} == {"Austin": 3, "München": 1}
    assert Counter(reason for _, reason, _ in read_rejected(out)) == {
        "bad_amount": 2, "bad_quantity": 2, "bad_encoding": 1}


# ------------------------------------------------------------- issue 26: odd files, one run


HEADER_SPELLINGS = ["ORDER_ID,City,CATEGORY,Amount,Quantity,DATE",
                    " order_id , city , category , amount , quantity , date ",
                    '"order_id","city","category","amount","quantity","date"',
                    "Order_Id,CITY,Category,AMOUNT,quantity,Date"]


def odd_files(directory: Path) -> None:
    """Every odd-file case of issue 26 that still publishes, in one input directory."""
    directory.mkdir()
    for name in ("quotes.csv", "digits.csv", "bom.csv", "spaces_before_header.csv", "nfc.csv", "multiline.csv",
                 "header_reordered.csv"):
        shutil.copy(DATA / name, directory / name)
    (directory / "link.csv").symlink_to(directory / "bom.csv")  # the same file under a second name
    (directory / "sales:2025-03.csv").write_text(ref.HEADER + "\nC-1,Colon City,Books,9.00,1,2025-03-09\n")
    wide = ",".join(['"x"'] * 25_000)  # wider than Spark's CSV parser's column cap (20,480)
    (directory / "wide.csv").write_text(ref.HEADER + f"\n{wide}\nW-1,Wide,Books,1.00,1,2025-01-05\n")
    for i in range(40):  # many spellings of the same column order
        header = HEADER_SPELLINGS[i % len(HEADER_SPELLINGS)]
        header = header.replace("city", "city" + " " * (i // len(HEADER_SPELLINGS)))
        (directory / f"spelled_{i:02d}.csv").write_text(f"{header}\nS-{i},Spelled,Books,1.00,1,2025-04-01\n")


@pytest.mark.spark
def test_odd_files_match_the_reference(spark, tmp_path: Path) -> None:
    """Issue 26, items 2-6, 9-11 and 15 in one run: each file's rows as the csv + decimal reference reads them."""
    data, out = tmp_path / "in", tmp_path / "out"
    odd_files(data)
    result = etl.run(spark, str(data), str(out), 1.0)
    assert result.code == 0
    expected = ref.expected_results(sorted(data.iterdir()))
    assert expected["header_error"] is None
    assert_matches(spark, out, expected)
    assert sorted(Path(p).name for p in result.summary.files_read) == sorted(expected["files"])
    assert "link.csv" not in expected["files"] and any("link.csv" in n for n in result.summary.notes)  # item 2

    city = {r[0]: r[1:] for r in read_output(spark, out, "city_revenue")[1]}
    assert city["Bomtown"][2] == 2  # item 5: the BOM header is a header, and the linked copy is not read twice
    assert city["São Paulo"][:3] == (Decimal("3.00"), Decimal("1.50"), 2)  # item 15: NFC and NFD are one city
    assert city["são paulo"][2] == 1  # case stays significant
    assert city["Colon City"][2] == 1  # item 10
    assert city["Spelled"][2] == 40 and city["Denver"][2] == 2  # item 11 (and a spaces-only line before a header)
    cross = {(r[0], r[1]): r[2] for r in read_output(spark, out, "cross_tab")[1]}
    assert cross[("Austin", 'TV 55" screens')] == Decimal("100.00")  # item 6: a literal quote in a plain field
    rejected = read_rejected(out)
    assert rejected[("quotes.csv", "bad_quoting", 'Q-4,"Chicago" IL,Books,3.00,1,2025-01-08')] == 1  # item 4
    assert sum(n for (f, reason, _), n in rejected.items() if f == "digits.csv" and reason == "bad_amount") == 3
    assert sum(n for (f, reason, _), n in rejected.items() if f == "wide.csv") == 1  # item 9: one reject
    assert result.summary.rejected_by_reason["multiline_record"] == 5 + 2  # multiline.csv, and Q-7 to the end

    # The driver streams files through Hadoop too (for s3a:// and hdfs://): the same lines as the reference's.
    hadoop = etl.sales_input.hadoop_listing(spark)
    for name in ("bom.csv", "multiline.csv"):
        assert list(hadoop.lines(f"file:{data / name}")) == ref.physical_lines((data / name).read_bytes())

    # Item 11: all 49 files are one text scan, however many header spellings and column orders they have.
    files = etl.sales_input.resolve_input(str(data))
    plan = etl.read_parsed(spark, files)._jdf.queryExecution().optimizedPlan()
    assert plan.collectLeaves().size() == 1


@pytest.mark.spark
@pytest.mark.parametrize("name, line", [("title_line.csv", 2), ("layout_appended.csv", 3)])
def test_a_header_out_of_place_stops_the_run(spark, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                             name: str, line: int) -> None:
    """Item 1: a header below a title line, or a second layout appended, is never read as data: exit 2."""
    data = inputs(tmp_path, name)
    assert ref.expected_results([data / name])["header_error"] == (name, line)
    capsys.readouterr()
    code = etl.main(["--input", str(data), "--output", str(tmp_path / "out"), "--max-reject-ratio", "1"])
    err = capsys.readouterr().err.strip()
    assert code == etl.EXIT_INPUT, err
    assert len(err.splitlines()) == 1 and name in err and f"line {line} " in err
    assert not (tmp_path / "out").exists()


@pytest.mark.spark
def test_a_damaged_gzip_is_one_error_wherever_the_damage_is(spark, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    """Item 12: damage in the first bytes (found on the driver) or deep inside (found by the scan): exit 2."""
    rows = "".join(f"G-{i},Gzip City,Books,1.00,1,2025-01-05\n" for i in range(20_000))  # about 700 KB
    for name, keep in (("early.csv.gz", 20), ("late.csv.gz", None)):
        data = tmp_path / name.split(".")[0]
        data.mkdir()
        packed = gzip.compress((ref.HEADER + "\n" + rows).encode())
        (data / name).write_bytes(packed[:keep or len(packed) - 50])
        capsys.readouterr()
        code = etl.main(["--input", str(data), "--output", str(tmp_path / "out"), "--max-reject-ratio", "1"])
        err = capsys.readouterr().err.strip()
        assert code == etl.EXIT_INPUT, err
        assert len(err.splitlines()) == 1 and f"input file {data / name} cannot be read" in err, err


# --------------------------------------------------------------------------- clean failures


@pytest.mark.spark
def test_too_many_rejects_fail_and_keep_the_previous_output(spark, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    good, out = tmp_path / "good", tmp_path / "output"
    generate_data.main(["--output", str(good), "--files", "1", "--rows-per-file", "98"])
    assert etl.main(["--input", str(good), "--output", str(out)]) == 0
    before = tree_digest(out)
    bad = inputs(tmp_path, "money.csv")

    capsys.readouterr()
    assert etl.main(["--input", str(bad), "--output", str(out), "--max-reject-ratio", "0.01"]) == etl.EXIT_REJECTED
    captured = capsys.readouterr()
    failed = tmp_path / "output.failed"
    assert "5 of 12 rows rejected" in captured.err and str(failed / "_rejected") in captured.err
    assert "=== Revenue" not in captured.out
    assert tree_digest(out) == before
    assert sum(read_rejected(failed).values()) == 5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["good", "in", "output", "output.failed"]


@pytest.mark.spark
def test_a_concurrent_run_is_refused_and_leftovers_are_cleaned(spark, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    lock = tmp_path / ".out.lock"
    lock.write_text(json.dumps({"host": os.uname().nodename, "pid": os.getpid()}))  # a live run holds it
    capsys.readouterr()
    assert etl.main(["--input", str(DATA / "headerless.csv"), "--output", str(out)]) == etl.EXIT_FAILED
    err = capsys.readouterr().err
    assert "another run is writing" in err and f"rm {lock}" in err and not out.exists()

    lock.write_text(json.dumps({"host": os.uname().nodename, "pid": 2**22 + 1}))  # its process is gone
    staging, previous = tmp_path / ".out.staging-20250101T000000-dead", tmp_path / ".out.previous"
    for leftover in (staging, previous):
        leftover.mkdir()
        (leftover / "_summary.json").write_text("{}")
    result = etl.run(spark, str(DATA / "headerless.csv"), str(out), 0.0)
    assert result.code == 0 and any("stale lock" in n for n in result.summary.notes)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # lock released, leftovers gone


@pytest.mark.spark
def test_reading_the_outputs_parent_is_refused(spark, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shutil.copy(DATA / "headerless.csv", tmp_path / "sales.csv")
    assert etl.main(["--input", str(tmp_path), "--output", str(tmp_path / "out")]) == etl.EXIT_INPUT
    assert "overlaps output" in capsys.readouterr().err and not (tmp_path / "out").exists()
    link = tmp_path.parent / f"{tmp_path.name}-link"  # item 14: the same directory through a symlink
    link.symlink_to(tmp_path)
    try:
        assert etl.main(["--input", str(link), "--output", str(tmp_path / "out")]) == etl.EXIT_INPUT
        assert "overlaps output" in capsys.readouterr().err and not (tmp_path / "out").exists()
    finally:
        link.unlink()


@pytest.mark.parametrize("make_input, fragment", [
    (lambda d: d / "missing", "does not exist"),
    (lambda d: d, "contains no *.csv or *.csv.gz files"),
    (lambda d: d / "*.nothing", "matches no files"),
])
def test_bad_input_paths_are_named(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                   make_input, fragment: str) -> None:
    path = str(make_input(tmp_path))
    assert etl.main(["--input", path, "--output", str(tmp_path / "out")]) == etl.EXIT_INPUT
    err = capsys.readouterr().err
    assert path in err and fragment in err


@pytest.mark.spark
def test_an_unwritable_output_exits_3_with_one_line(tmp_path: Path) -> None:
    """Exit 3, one line naming the cause, no tables and no traceback; --verbose adds the traceback."""
    (tmp_path / "file").write_text("a file, not a directory")
    args = ["--input", str(DATA / "headerless.csv"), "--output", str(tmp_path / "file" / "out")]
    proc = run_job(*args)
    assert proc.returncode == 3, proc.stderr[-2000:]
    lines = [line for line in proc.stderr.splitlines() if line.startswith("sales-etl")]
    assert len(lines) == 1 and "nothing published" in lines[0] and "file" in lines[0]
    assert "Traceback" not in proc.stderr and "=== Revenue" not in proc.stdout and proc.stdout == ""
    verbose = run_job(*args, "--verbose")
    assert verbose.returncode == 3 and "Traceback" in verbose.stderr


@pytest.mark.spark
def test_local_launcher_run_in_a_terminal(tmp_path: Path) -> None:
    """The documented local command: progress bar, tables, summary; event log kept; first run saves a class archive."""
    cds, events, data = tmp_path / "cds", tmp_path / "events", tmp_path / "in"
    generate_data.main(["--output", str(data), "--files", "2", "--rows-per-file", "5000"])
    code, text = run_in_terminal(
        [str(Path(sys.executable).parent / "sparkstack"), "run", "jobs/sales_etl.py", "--input", str(data),
         "--output", str(tmp_path / "out")],
        {**os.environ, "SPARKSTACK_CDS_DIR": str(cds), "SPARKSTACK_EVENT_DIR": str(events)},
    )
    assert code == 0, text[-3000:]
    assert "=== Revenue by City ===" in text and "=== Monthly Category Performance ===" in text
    assert "[Stage " in text  # Spark's console progress bar
    summary = json.loads((tmp_path / "out" / "_summary.json").read_text())
    assert summary["rows_read"] == 10_000 and summary["spark"]["master"] == "local[*]"
    assert text.index("=== Revenue") < text.index('"rows_read": 10000') < text.index("published")
    assert [p.suffix for p in cds.iterdir()] == [".jsa"]  # complete archive only, no leftovers
    assert len(list(events.iterdir())) == 1  # one application's event log


def test_the_shipped_job_has_no_local_only_settings() -> None:
    """The class archive and the event log belong to the local launcher, never to what the cluster runs."""
    for path in JOBS.glob("*.py"):
        text = path.read_text()
        assert "SharedArchiveFile" not in text and "ArchiveClassesAtExit" not in text, path
        assert "eventLog" not in text, path


def run_in_terminal(cmd: list[str], env: dict[str, str]) -> tuple[int, str]:
    """Run ``cmd`` with a pseudo-terminal as stdout and stderr, as a user's shell would."""
    controller, terminal = os.openpty()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=terminal, stderr=terminal, env=env, cwd=REPO)
    os.close(terminal)
    output = read_until_closed(controller)
    return proc.wait(timeout=300), output.decode(errors="replace")


@pytest.mark.spark
def test_a_configured_master_is_used_and_another_process_writes_the_same_rows(spark, tmp_path: Path) -> None:
    """Only without a configured master does the job pick local[*] (spark-submit's --master wins). Its outputs
    hold the same rows in the same order as this test process's run (item 13: across two JVMs)."""
    proc = run_job("--input", str(DATA / "quoting.csv"), "--output", str(tmp_path / "out"), "--max-reject-ratio", "1",
                   env={"PYSPARK_SUBMIT_ARGS": "--master local[1] pyspark-shell"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((tmp_path / "out" / "_summary.json").read_text())
    assert summary["spark"]["master"] == "local[1]" and summary["rows_valid"] == 4
    assert "[Stage " not in proc.stderr  # no progress bar when not on a terminal
    assert etl.run(spark, str(DATA / "quoting.csv"), str(tmp_path / "here"), 1.0).code == 0
    for name in OUTPUT_COLUMNS:
        there, here = (spark.read.parquet(str(tmp_path / o / name)) for o in ("out", "here"))
        assert there.dtypes == here.dtypes
        assert [tuple(r) for r in there.collect()] == [tuple(r) for r in here.collect()] != []


@pytest.mark.spark
def test_a_dead_jvm_exits_3_with_one_line(tmp_path: Path) -> None:
    """Item 7: the JVM killed mid-run gives exit 3 and one line, no traceback, and nothing published."""
    data = tmp_path / "in"
    generate_data.main(["--output", str(data), "--files", "1", "--rows-per-file", "300000", "--scale"])
    proc = subprocess.Popen([sys.executable, str(JOBS / "sales_etl.py"), "--input", str(data), "--output",
                             str(tmp_path / "out")], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "SPARKSTACK_CDS_DIR": "off"})
    lock = tmp_path / ".out.lock"
    for _ in range(1200):  # the lock exists once the session runs and the scan is about to start
        if lock.exists() or proc.poll() is not None:
            break
        time.sleep(0.1)
    assert lock.exists(), proc.communicate(timeout=60)
    for pid in java_descendants(proc.pid):
        os.kill(pid, signal.SIGKILL)
    out, err = proc.communicate(timeout=120)
    lines = [line for line in err.splitlines() if line.startswith("sales-etl")]
    assert proc.returncode == 3, err[-3000:]
    assert len(lines) == 1 and "nothing published" in lines[0], err[-3000:]
    assert "Traceback" not in err and out == "" and not (tmp_path / "out").exists()


def java_descendants(root: int) -> list[int]:
    """The java processes below ``root`` (PySpark's JVM runs under spark-submit's shell scripts)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            todo.append(child)
            try:
                if b"java" in (Path("/proc") / str(child) / "cmdline").read_bytes().split(b"\0")[0]:
                    found.append(child)
            except OSError:
                pass
    return found
