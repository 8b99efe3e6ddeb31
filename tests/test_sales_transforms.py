"""The ETL's library modules on tiny inputs: transforms (one shared Spark session) and input handling (no Spark)."""

from __future__ import annotations

import os
import random
import tracemalloc
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest

from tests import sales_reference as ref
from tests.job_modules import load_job

T = load_job("sales_transforms")
sales_input = load_job("sales_input")
etl = load_job("sales_etl")

TEMPLATE = ["ORD-9-000001", "Chicago", "Books", "12.50", "3", "2025-03-04"]


def variant(index: int, value: str) -> str:
    fields = list(TEMPLATE)
    fields[index] = value
    return ",".join(fields)


def fuzzed_lines() -> list[str]:
    rng = random.Random(3)
    dates = {"2025-02-05", "2024-02-29", "2025-02-30", "2025-12-31", "0999-01-01", "2025-13-01", " 2025-02-05 ",
             # ten-byte layouts Spark's date cast accepts besides yyyy-MM-dd (the job's byte checks must refuse them)
             "2025-1-05T", "2025-01-5T", "2025-10-5T", "2025-1-1T0", "2025-1-5 x", "+2025-1-05", "+999-10-10",
             "02025-1-05", "02025-10-5", "002020-1-5", "12025-1-01", "1000000-10", "0001000-10", "-2025-1-01",
             "9999-12-31", "1000-01-01", "2025-01-01T", "2025-01-01 00:00"}
    for _ in range(1500):  # one or two mutations of a good date: the cast alone would accept some of them
        base = list(rng.choice(["2025-02-05", "2024-02-29", "2025-11-30", "1000-10-10"]))
        for _ in range(rng.choice([1, 2])):
            pos = rng.randrange(len(base) + 1)
            op, char = rng.choice(["insert", "replace", "delete"]), rng.choice("0123456789-+ T/x")
            if op == "insert":
                base.insert(pos, char)
            elif pos < len(base):
                base[pos:pos + 1] = [] if op == "delete" else [char]
        dates.add("".join(base))
    amounts = ["12.5", "7", "12.34", "12.345", "12.", ".5", "+3.10", "-3.25", "0", "0.00", "1e2", "1E2", "1.e2",
               "5e-1", "+1E+2", "abc", "NaN", "Infinity", "1.2.3", " 4.50 ", "9999999999999999.99",
               "10000000000000000", '"7.25"', '"1,50"']
    quantities = ["3", "+4", "-1", "0", "2.5", "x", "99999999999", " 2 ", '"2"']
    quoted = ['ORD-1,"Chicago, IL",Books,12.50,3,2025-03-04', 'ORD-1,"Chicago, IL",12.50,3,2025-03-04',
              'ORD-1,"Say ""hi""",Toys,1,1,2025-01-31', 'ORD-1,"",Books,1,1,2025-01-31',
              'ORD-1,"Chicago,Books,1,1,2025-01-31', 'ORD-1,Chicago,Books,1,1,2025-01-31,"x,y"',
              # issue 26: literal quotes in plain fields, text after a closing quote, other scripts' digits
              'ORD-1,TV 55" screens,Books,1,1,2025-01-31', 'ORD-1,Chicago,5" x 7",1,1,2025-01-31',
              'ORD-1,"Chicago" IL,Books,1,1,2025-01-31', 'ORD-1,"Chicago"",Books,1,1,2025-01-31',
              'ORD-1,"Chicago""x",Books,1,1,2025-01-31', 'ORD-1,"Chi""cago",Books,1,1,2025-01-31',
              'ORD-1,Chicago,Books,1,1,"2025-01-31"x', '"ORD-1","Chicago","Books","1","1","2025-01-31"',
              'ORD-1, "Chicago",Books,1,1,2025-01-31', 'ORD-1,""",Books,1,1,2025-01-31',
              'ORD-1,Chicago,Books,١٢,1,2025-01-31', 'ORD-1,Chicago,Books,１２.5,1,2025-01-31',
              'ORD-1,Chicago,Books,12,١,2025-01-31', ",".join(['"x"'] * 21_000)]
    return ([variant(5, d) for d in sorted(dates)] + [variant(3, a) for a in amounts]
            + [variant(4, q) for q in quantities] + quoted
            + [",".join(TEMPLATE[:5]), ",".join([*TEMPLATE, "x"]), variant(1, "   "), variant(2, " Toys ")]
            + [variant(i, "") for i in range(6)])


@pytest.mark.spark
def test_parse_lines_rejects_and_reads_like_the_reference(spark) -> None:
    lines = fuzzed_lines()
    frame = spark.createDataFrame([(line, "f.csv") for line in lines], "raw string, source_file string")
    got = {r["raw"]: r for r in T.parse_lines(frame).collect()}
    mismatches = [(line, got[line]["reason"], ref.classify(line)) for line in lines
                  if got[line]["reason"] != ref.classify(line)]
    assert not mismatches
    assert {ref.classify(line) for line in lines} >= {None, "multiline_record", "wrong_field_count", "missing_value",
                                                      "bad_amount", "bad_quantity", "bad_date", "bad_quoting"}
    for line in lines:  # valid lines: the same values as the csv + decimal reading
        if ref.classify(line) is None:
            want = ref.parsed(line, tuple(range(6)))
            row = got[line]
            assert (row["city"], row["category"]) == (want["city"], want["category"])
            assert row["amount"] == Decimal(want["amount"]) and row["quantity"] == int(want["quantity"])


@pytest.mark.spark
def test_a_reordered_layout_reads_fields_by_position(spark) -> None:
    positions = (5, 2, 3, 1, 4, 0)  # date,amount,city,category,quantity,order_id
    line = "2025-04-01,9.99,Austin,Toys,2,ORD-1"
    frame = spark.createDataFrame([(line, "f.csv")], "raw string, source_file string")
    row = T.parse_lines(frame, positions).collect()[0]
    assert (row["reason"], row["city"], row["category"], row["amount"], row["month"]) == (
        None, "Austin", "Toys", Decimal("9.99"), 4)


@pytest.mark.spark
def test_transforms_on_a_tiny_frame(spark) -> None:
    rng = random.Random(5)
    lines = [",".join([f"ORD-{i}", rng.choice("ABC"), rng.choice("xy"), f"{rng.uniform(1, 99):.2f}",
                       str(rng.randint(1, 5)), f"2025-{rng.randint(1, 3):02d}-{rng.randint(1, 28):02d}"])
             for i in range(60)]
    bad = variant(3, "abc")
    lines += [bad, bad, variant(4, "0")]
    frame = spark.createDataFrame([(line, "file:///a.csv") for line in lines], "raw string, source_file string")
    groups = T.aggregate(T.parse_lines(frame)).cache()
    path = Path("/nonexistent/a.csv")
    expected = _expected(lines, path)

    city = {r[0]: tuple(r[1:]) for r in T.city_revenue(groups).collect()}
    assert city == expected["city_revenue"]
    monthly = {(r["month"], r["category"]): (r["revenue"], r["orders"]) for r in T.monthly_categories(groups).collect()}
    assert monthly == expected["monthly_categories"]
    cross = {(r["city"], r["category"]): (r["revenue"],) for r in T.cross_tab(groups).collect()}
    assert cross == expected["cross_tab"]
    rejected_rows = T.rejected_rows(groups).collect()
    assert Counter(("a.csv", r["reason"], r["raw_line"]) for r in rejected_rows) == expected["rejected"]
    # Ordered by file, then raw text (UTF-8 byte order, which is code point order): the same file on every run.
    assert [r["raw_line"] for r in rejected_rows] == sorted(r["raw_line"] for r in rejected_rows)
    counts = etl.Counts.from_tally(T.tally(groups).collect())
    assert counts.valid == 60 and counts.output_rows["cross_tab"] == len(expected["cross_tab"])

    # A correction that turns two of the lines into one multi-line record cancels them exactly.
    members = spark.createDataFrame([(lines[0], "file:///a.csv"), (bad, "file:///a.csv")],
                                    "raw string, source_file string")
    records = spark.createDataFrame([(lines[0] + "\n" + bad, "file:///a.csv", 2)],
                                    "raw string, source_file string, lines long")
    fixed = T.regroup(groups.unionByName(T.multiline_correction(T.aggregate(T.parse_lines(members)), records)))
    counts = etl.Counts.from_tally(T.tally(fixed).collect())
    assert counts.valid == 59 and counts.rejected_by_reason == {"bad_amount": 1, "bad_quantity": 1,
                                                               "multiline_record": 2}
    assert Counter(r["reason"] for r in T.rejected_rows(fixed).collect()) == {
        "bad_amount": 1, "bad_quantity": 1, "multiline_record": 1}
    groups.unpersist()


# HotSpot leaves a method over 8,000 bytes of bytecode to the interpreter (``HugeMethodLimit``, a develop flag
# in src/hotspot/share/runtime/globals.hpp, enforced while DontCompileHugeMethods is on: the default, see
# ``java -XX:+PrintFlagsFinal``). The scan's whole per-row code is one generated method, so a scan over the limit
# runs interpreted: that is what made issue 26's job 1.8x slower (8,179 bytes then, 5,339 before it).
HUGE_METHOD_LIMIT = 8000


@pytest.mark.spark
@pytest.mark.parametrize("layouts", [1, 2], ids=["one-layout", "two-layouts"])
def test_the_scan_stays_small_enough_for_the_jit(spark, tmp_path: Path, layouts: int) -> None:
    """The job's own scan (read_parsed + aggregate) compiles to methods HotSpot will compile to machine code."""
    header = list(T.COLUMNS)
    for n in range(layouts):  # a second file with its columns in another order needs the per-file positions
        names = header[n:] + header[:n]
        row = dict(zip(T.COLUMNS, TEMPLATE, strict=True))
        (tmp_path / f"{n}.csv").write_text(",".join(names) + "\n" + ",".join(row[c] for c in names) + "\n")
    files = sales_input.resolve_input(str(tmp_path))
    scan = T.aggregate(etl.read_parsed(spark, files))
    debug = getattr(getattr(spark._jvm.org.apache.spark.sql.execution.debug, "package$"), "MODULE$")
    adaptive = spark.conf.get("spark.sql.adaptive.enabled")
    spark.conf.set("spark.sql.adaptive.enabled", "false")  # the final plan, whose stages carry their code
    try:
        stages = debug.codegenStringSeq(scan._jdf.queryExecution().executedPlan())
        sizes = [stages.apply(i)._3().maxMethodCodeSize() for i in range(stages.size())]
    finally:
        spark.conf.set("spark.sql.adaptive.enabled", adaptive)
    assert sizes and max(sizes) < HUGE_METHOD_LIMIT * 0.9, (  # a margin, so the next check added fails here
        f"a generated method of {max(sizes)} bytes: HotSpot interprets methods over {HUGE_METHOD_LIMIT} bytes")


def _expected(lines: list[str], path: Path) -> dict:
    """The reference over the same lines, written as a file (the reference reads files)."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        file = Path(tmp) / path.name
        file.write_text("\n".join(lines) + "\n")
        return ref.expected_results([file])


# ------------------------------------------------------------------------- input handling, no Spark


def test_header_layouts(tmp_path: Path) -> None:
    layout = sales_input.layout
    assert layout("file:/x.csv", "\ufeff Date ,AMOUNT,\"City\",category,Quantity,order_id").positions == (
        5, 2, 3, 1, 4, 0)
    assert layout("file:/x.csv", "ORD-1,Chicago,Books,1.00,1,2025-01-01").header is None
    with pytest.raises(sales_input.InputError, match="repeated city"):
        layout("file:/x.csv", "order_id,city,city,amount,quantity,date")
    assert sales_input.first_line(b"\r\n\nhead,er\r\nrow") == "head,er"
    assert sales_input.first_line(b"\xef\xbb\xbf  \n \nhead,er\nrow") == "head,er"  # spaces-only lines are blank
    assert sales_input.spark_path("file:/d/a[1]{b}*?.csv") == r"file:/d/a\[1\]\{b\}\*\?.csv"


def test_spanning_records_are_found_in_order() -> None:
    data = b'h\r\nA,"x\r\ny",1\r\nB\r\nC,"p\n\nq\nr",2\nD,TV 55" x,"a""\nb",3\nE,"c"d,"e\nf"\nG,"open\nH\n'
    lines = list(sales_input.iter_lines([data[i:i + 5] for i in range(0, len(data), 5)]))  # chunks cut anywhere
    assert lines == ref.physical_lines(data)
    written: list[bytes] = []
    records = sales_input.record_texts(sales_input.spanning_lines(lines, {b"h"}), written.append)
    assert records == [(b'A,"x\ny",1', 2), (b'C,"p\n\nq\nr",2', 4), (b'D,TV 55" x,"a""\nb",3', 2),
                       (b'E,"c"d,"e\nf"', 2), (b'G,"open\nH', 2)]
    assert b"".join(written).count(b"\n") == 12 and all(w.startswith(b"#") for w in written)
    expected = []  # the reference's records, from its own state machine
    body = [line for line in lines if line != b"h"]
    i = 0
    while i < len(body):
        span = ref.read_record(body, i)[0]
        if span > 1:
            expected.append((b"\n".join(body[i:i + span]), span))
        i += span
    assert records == expected


def test_records_spanning_lines_are_found_with_bounded_memory(tmp_path: Path) -> None:
    """Item 7: a large file with one quoted line break is streamed, never held whole (the JVM ran out of memory)."""
    path = tmp_path / "big.csv"
    row = b"X-1,Austin,Books,1.00,1,2025-01-05\n"
    with path.open("wb") as file:
        file.write(ref.HEADER.encode() + b'\nL-1,"New\nYork",Books,1.00,1,2025-01-05\n')
        for _ in range(40):
            file.write(row * 30_000)  # about 40 MB in all
    written = 0

    def sink(data: bytes) -> None:
        nonlocal written
        written += len(data)

    tracemalloc.start()
    try:
        lines = sales_input.LOCAL.lines(f"file:{path}")
        records = sales_input.record_texts(sales_input.spanning_lines(lines, set()), sink)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert records == [(b'L-1,"New\nYork",Books,1.00,1,2025-01-05', 2)] and written == 41
    assert peak < 12 * 2**20, peak  # the file is 40 MB

    # A quote left open swallows the rest of the file: its raw text is cut, its lines all counted.
    with path.open("ab") as file:
        file.write(b'L-2,"open\n' + row * 60_000)
    records = sales_input.record_texts(sales_input.spanning_lines(sales_input.LOCAL.lines(f"file:{path}"), set()), sink)
    assert records[1][1] == 60_001 and len(records[1][0]) < sales_input.RECORD_TEXT_LIMIT + 100
    assert records[1][0].endswith(b"[... cut: 60,001 lines in all]")


def test_files_are_read_once_by_identity(tmp_path: Path) -> None:
    """Item 2: a symlink or hard link beside its target is the same file; a copy is another file."""
    (tmp_path / "b.csv").write_text(ref.HEADER + "\nA-1,X,Y,1.00,1,2025-01-05\n")
    (tmp_path / "a.csv").symlink_to(tmp_path / "b.csv")
    os.link(tmp_path / "b.csv", tmp_path / "c.csv")
    (tmp_path / "d.csv").write_bytes((tmp_path / "b.csv").read_bytes())
    files = sales_input.resolve_input(str(tmp_path))
    assert [(Path(f.uri).name, [Path(a).name for a in f.aliases]) for f in files] == [
        ("a.csv", ["b.csv", "c.csv"]), ("d.csv", [])]
    assert [p.name for p in ref.distinct_files(list(tmp_path.iterdir()))] == ["a.csv", "d.csv"]
