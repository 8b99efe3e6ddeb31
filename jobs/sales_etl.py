"""Sales ETL (a job): the tutorial's three aggregations over sales CSV files, with exact money and bad-row handling.

Usage: ``python jobs/sales_etl.py --input DIR_OR_FILE_OR_GLOB --output DIR [--max-reject-ratio 0.01] [--verbose]``

Run directly it starts Spark in local mode; submitted by the Spark operator (``spark-submit
local:///opt/sparkstack/jobs/sales_etl.py ...``) it uses the cluster. This file only parses arguments and wires
extract, transform and load; the parts live in sibling library modules shipped in the same folder:

* ``sales_input``: find the input files and read their headers (extract, on the driver);
* ``sales_transforms``: pure DataFrame -> DataFrame functions (transform);
* ``publish``: staging, lock and the final swap through Hadoop's FileSystem API (load);
* ``spark_session``: the session on the configured master, or local mode.

Exit codes: 0 published, 1 too many rejected rows (or none valid), 2 bad arguments or input, 3 any other failure
(unwritable output, Spark or JVM failure, another run holding the output's lock).
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import sys
import time
import traceback
import urllib.parse
import uuid
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

import publish
import sales_input
import sales_transforms as T  # noqa: N812 - short alias for the transforms
import spark_session
from publish import LockedError, OutputError, OutputPaths, Storage, display
from pyspark import SparkContext
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F  # noqa: N812 - the usual PySpark alias
from sales_input import InputError, InputFile

APP_NAME = "sales-etl"
REJECTED_DIR = "_rejected"
SUMMARY_FILE = publish.SUMMARY_FILE

EXIT_OK = 0
EXIT_REJECTED = 1  # too many bad rows, or no valid row: nothing published
EXIT_INPUT = 2  # unusable arguments or input (argparse uses 2 too)
EXIT_FAILED = 3  # anything else: output not writable, Spark/JVM failure, a concurrent run


# --------------------------------------------------------------------------------------- extract


def read_parsed(spark: SparkSession, files: list[InputFile]) -> DataFrame:
    """Every line of every file, parsed with its file's column layout (one text scan per layout, unioned).

    Text is read rather than CSV so every line's exact text is kept for the reject output at no extra pass.
    A file's header line is skipped wherever it appears in that file. ``input_file_name()`` names each
    line's file without copying it per row, which is cheaper here than the ``_metadata`` column.
    """
    by_layout: dict[tuple[str | None, tuple[int, ...]], list[InputFile]] = {}
    for file in files:
        by_layout.setdefault((file.header, file.positions), []).append(file)
    parsed = None
    for (header, positions), group in by_layout.items():
        lines = spark.read.text([sales_input.spark_path(f.uri) for f in group]).select(
            F.col("value").alias("raw"), F.input_file_name().alias("source_file")
        )
        if header is not None:
            lines = lines.where(F.col("raw") != header)
        layout = T.parse_lines(lines, positions)
        parsed = layout if parsed is None else parsed.unionByName(layout)
    assert parsed is not None  # resolve_input never returns an empty list
    return parsed


_LINE_BREAK = re.compile(rb"\r\n|\r|\n")


def spanning_records(data: bytes, header: bytes | None) -> list[list[bytes]]:
    """Groups of lines that form one CSV record because a quoted field spans them (unbalanced quotes).

    Lines are split as Hadoop's line reader splits them. A record opens on a line with an odd number of
    quote characters and closes on the next such line; one left open at the end of the file runs to the end.
    """
    lines = _LINE_BREAK.split(data)
    if lines and lines[-1] == b"":
        lines.pop()
    records, current = [], None
    for line in lines:
        odd = line.count(b'"') % 2 == 1
        if current is None:
            if odd:
                current = [line]
        else:
            current.append(line)
            if odd:
                records.append(current)
                current = None
    if current is not None:
        records.append(current)
    return [[line for line in record if line != header] for record in records]


def source_uri(source_file: str) -> str:
    """``input_file_name()`` gives a percent-encoded URI (``file:///x%20y.csv``); the plain path form."""
    plain = urllib.parse.unquote(source_file)
    return "file:/" + plain[len("file:///"):] if plain.startswith("file:///") else plain


def join_spanning_records(spark: SparkSession, groups: DataFrame, files: list[InputFile]) -> DataFrame:
    """Make every quoted field that spans lines one rejected record (rare path, only when the scan saw one).

    The scan reads lines, so such a record arrived as several lines. Each affected file is read again whole on
    the driver, its spanning records are found in order, and ``multiline_correction`` replaces their lines'
    contributions by one ``multiline_record`` reject each, counted as the lines it spans.
    """
    by_uri = {f.uri: f for f in files}
    flagged = [r["source_file"] for r in groups.where(F.col("reason") == T.MULTILINE)
               .select("source_file").distinct().collect()]  # policy: allow-collect (a few file names)
    corrections = []
    for source_file in sorted(flagged):
        uri = source_uri(source_file)
        file = by_uri.get(uri) or next(f for f in files if uri.endswith(f.uri.split(":", 1)[1]))
        text = spark.read.text(sales_input.spark_path(file.uri), wholetext=True).select(
            F.base64(F.col("value").cast("binary")).alias("b64")).collect()  # policy: allow-collect (one file)
        data = b"".join(base64.b64decode(r["b64"]) for r in text)
        header = file.header.encode() if file.header is not None else None
        records = spanning_records(data, header)
        members = [(bytearray(line), source_file) for record in records for line in record]
        joined = [(bytearray(b"\n".join(record)), source_file, len(record)) for record in records]
        member_lines = spark.createDataFrame(members, "raw binary, source_file string").select(
            F.col("raw").cast("string").alias("raw"), "source_file")
        record_lines = spark.createDataFrame(joined, "raw binary, source_file string, lines long").select(
            F.col("raw").cast("string").alias("raw"), "source_file", "lines")
        member_groups = T.aggregate(T.parse_lines(member_lines, file.positions))
        corrections.append(T.multiline_correction(member_groups, record_lines))
    corrected = groups
    for correction in corrections:
        corrected = corrected.unionByName(correction)
    return T.regroup(corrected)


# ------------------------------------------------------------------------------------------ counts


@dataclass(frozen=True)
class Counts:
    """The numbers the summary and the reject threshold need."""

    valid: int
    rejected_by_reason: dict[str, int]
    output_rows: dict[str, int]

    @classmethod
    def from_tally(cls, rows: list) -> Counts:
        valid = [r for r in rows if r["reason"] is None]
        rejected: dict[str, int] = {}
        for r in rows:
            if r["reason"] is not None:
                rejected[r["reason"]] = rejected.get(r["reason"], 0) + int(r["rows"])
        output_rows = {
            "city_revenue": len({r["city"] for r in valid}),
            "monthly_categories": len({(r["month"], r["category"]) for r in valid}),
            "cross_tab": len({(r["city"], r["category"]) for r in valid}),
        }
        return cls(sum(int(r["rows"]) for r in valid), rejected, output_rows)


@dataclass
class Summary:
    """What a run did; written as ``_summary.json`` next to the outputs."""

    input: str
    output: str
    status: str = "running"
    files_read: list[str] = field(default_factory=list)
    rows_read: int = 0
    rows_rejected: int = 0
    rows_valid: int = 0
    blank_lines: int = 0
    reject_ratio: float = 0.0
    max_reject_ratio: float = 0.0
    rejected_by_reason: dict[str, int] = field(default_factory=dict)
    output_rows: dict[str, int] = field(default_factory=dict)
    rejected_path: str = ""
    notes: list[str] = field(default_factory=list)
    timings_seconds: dict[str, float] = field(default_factory=dict)
    spark: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(self.__dict__, indent=2, sort_keys=True) + "\n"

    def count(self, counts: Counts, max_reject_ratio: float) -> None:
        """Fill in the counts and the reject ratio the threshold is checked against."""
        self.rows_valid = counts.valid
        by_reason = counts.rejected_by_reason
        self.rejected_by_reason = {r: by_reason[r] for r in T.REASONS if by_reason.get(r)}
        self.rows_rejected = sum(self.rejected_by_reason.values())
        self.blank_lines = by_reason.get(T.BLANK_LINE, 0)
        self.rows_read = self.rows_valid + self.rows_rejected
        self.reject_ratio = self.rows_rejected / self.rows_read if self.rows_read else 0.0
        self.max_reject_ratio = max_reject_ratio


@dataclass
class Timer:
    """Named wall-clock phases for the summary."""

    started: float = field(default_factory=time.perf_counter)
    phases: dict[str, float] = field(default_factory=dict)

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.phases[name] = round(now - self.started - sum(self.phases.values()), 3)

    def total(self) -> dict[str, float]:
        return {**self.phases, "total": round(time.perf_counter() - self.started, 3)}


@dataclass
class Result:
    """A finished run: exit code, summary, and the tables to print (only for a published run)."""

    code: int
    summary: Summary
    tables: str = ""


# -------------------------------------------------------------------------------------------- load


def write_outputs(outputs: dict[str, DataFrame], rejected: DataFrame | None, staging: str) -> list[Future]:
    """Start writing the Parquet outputs and the rejects (JSON lines: readable without Spark).

    Each of these jobs handles a few hundred rows, so its time goes to planning and code generation on the
    driver; started from parallel threads they overlap instead of queueing. The caller waits on the futures.
    """
    writes = [df.write.mode("errorifexists").format("parquet") for df in outputs.values()]
    targets = [f"{staging}/{name}" for name in outputs]
    if rejected is not None:
        writes.append(rejected.write.mode("errorifexists").format("json"))
        targets.append(f"{staging}/{REJECTED_DIR}")
    pool = ThreadPoolExecutor(max_workers=max(1, len(writes)), thread_name_prefix="write")
    futures = [pool.submit(writer.save, target) for writer, target in zip(writes, targets, strict=True)]
    pool.shutdown(wait=False)
    return futures


def result_tables(outputs: dict[str, DataFrame]) -> str:
    """The first two results the way the tutorial's job prints them (printed only once published)."""
    return ("\n=== Revenue by City ===\n" + outputs["city_revenue"]._show_string(10, truncate=False) + "\n"
            + "=== Monthly Category Performance ===\n"
            + outputs["monthly_categories"]._show_string(20, truncate=False) + "\n")


def check_overlap(spec: str, paths: OutputPaths) -> None:
    """Refuse an input that is the output's parent, the output itself, or inside it, or that contains it."""
    root = publish.qualify(sales_input.input_roots(spec))
    final = paths.final
    if root in (paths.parent, final) or root.startswith(final + "/") or final.startswith(root + "/"):
        raise InputError(f"input {spec} overlaps output {display(final)} (the output's parent, the output or "
                         "a directory around it): the run's own staging and failed directories would be read; "
                         "choose an --output outside the input")


def run(spark: SparkSession, input_spec: str, output: str, max_reject_ratio: float,
        timer: Timer | None = None, files: list[InputFile] | None = None) -> Result:
    """Extract, transform and load once, holding the output's lock; publish only a run that passed its checks."""
    timer = timer or Timer()
    paths = OutputPaths.for_output(output, time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8])
    check_overlap(input_spec, paths)
    if files is None:
        listing = sales_input.LOCAL if sales_input.is_local(input_spec) else sales_input.hadoop_listing(spark)
        files = sales_input.resolve_input(input_spec, listing)
    summary = Summary(input=input_spec, output=display(paths.final), files_read=[display(f.uri) for f in files])
    summary.spark = {"master": spark.sparkContext.master, "version": spark.version}
    storage = Storage(spark, paths.final)
    storage.mkdirs(paths.parent)  # the lock file lives next to the output
    lock = publish.Lock(storage, paths)
    note = lock.acquire()
    summary.notes += [note] if note else []
    groups = None
    try:
        summary.notes += publish.remove_leftovers(storage, paths)
        publish.check_output_target(storage, paths)
        # The one scan of the input; everything after works on this small cached result.
        groups = T.aggregate(read_parsed(spark, files)).coalesce(1).cache()
        counts = Counts.from_tally(T.tally(groups).collect())  # policy: allow-collect (one row per reason)
        if counts.rejected_by_reason.get(T.MULTILINE):
            first, groups = groups, join_spanning_records(spark, groups, files).coalesce(1).cache()
            counts = Counts.from_tally(T.tally(groups).collect())  # policy: allow-collect (one row per reason)
            first.unpersist()
        summary.count(counts, max_reject_ratio)
        timer.lap("scan_and_aggregate")
        return _finish(groups, summary, counts, storage, paths, timer)
    finally:
        if groups is not None:
            groups.unpersist()
        if storage.exists(paths.staging):  # only still there if something went wrong
            storage.delete(paths.staging)
        lock.release()


def _finish(groups: DataFrame, summary: Summary, counts: Counts, storage: Storage, paths: OutputPaths,
            timer: Timer) -> Result:
    """Write into staging, then publish (success) or keep the rejects aside (failure)."""
    if summary.rows_read == 0:
        code = EXIT_INPUT
    elif summary.rows_valid == 0 or summary.reject_ratio > summary.max_reject_ratio:
        code = EXIT_REJECTED
    else:
        code = EXIT_OK
    outputs = {} if code else {
        "city_revenue": T.city_revenue(groups),
        "monthly_categories": T.monthly_categories(groups),
        "cross_tab": T.cross_tab(groups),
    }
    any_rejected = summary.rows_rejected > 0
    writes = write_outputs(outputs, T.rejected_rows(groups) if any_rejected else None, paths.staging)
    tables = result_tables(outputs) if outputs else ""
    wait(writes)  # all of them, so none is still writing if one failed and staging is removed
    for write in writes:
        write.result()
    if not any_rejected:
        storage.mkdirs(f"{paths.staging}/{REJECTED_DIR}")  # same layout, without a Spark job
    summary.output_rows = {name: counts.output_rows[name] for name in outputs}
    timer.lap("write")
    summary.status = "failed" if code else "succeeded"
    summary.rejected_path = display(f"{paths.failed if code else paths.final}/{REJECTED_DIR}")
    summary.timings_seconds = timer.total()
    storage.write_text(f"{paths.staging}/{SUMMARY_FILE}", summary.to_json())
    if code:
        publish.keep_failed(storage, paths)
        return Result(code, summary)
    publish.publish(storage, paths)
    return Result(EXIT_OK, summary, tables)


def failure_message(summary: Summary) -> str:
    """Why nothing was published, with the counts and where the rejected rows are."""
    if summary.rows_read == 0:
        return f"sales-etl: no data rows in {summary.input}; nothing published, {summary.output} left unchanged"
    if summary.rows_valid == 0:
        return (f"sales-etl: no valid rows in {summary.input} (all {summary.rows_rejected:,} rejected); nothing "
                f"published, {summary.output} left unchanged. Rejected rows: {summary.rejected_path}")
    return (
        f"sales-etl: {summary.rows_rejected:,} of {summary.rows_read:,} rows rejected "
        f"({summary.reject_ratio:.2%} > max {summary.max_reject_ratio:.2%}); nothing published, "
        f"{summary.output} left unchanged. Rejected rows: {summary.rejected_path}"
    )


def cause(exc: BaseException) -> str:
    """One line naming what went wrong: for a Java exception its class and message, not the Python wrapper."""
    java = getattr(exc, "java_exception", None)
    text = str(java.toString()) if java is not None else f"{type(exc).__name__}: {exc}"
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Tutorial sales aggregations with exact money and bad-row handling.")
    parser.add_argument("--input", required=True, help="directory of *.csv / *.csv.gz files, a file, or a glob")
    parser.add_argument("--output", required=True, help="output directory (replaced only on success)")
    parser.add_argument("--max-reject-ratio", type=float, default=0.01,
                        help="fail when more than this share of rows is rejected (default 0.01)")
    parser.add_argument("--verbose", action="store_true", help="print the full traceback of a failure")
    args = parser.parse_args(argv)
    if not 0.0 <= args.max_reject_ratio <= 1.0:
        parser.error("--max-reject-ratio must be between 0 and 1")
    return args


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run, and report; the return value is the process exit code."""
    args = parse_args(argv)
    timer = Timer()
    spark, owned = None, False
    try:
        files = None
        if sales_input.is_local(args.input):  # fail fast, before starting a JVM
            OutputPaths.for_output(args.output, "check")
            files = sales_input.resolve_input(args.input)
        owned = SparkContext._active_spark_context is None  # else a caller's session: leave it running
        spark = spark_session.start_spark(APP_NAME)
        timer.lap("spark_start")
        result = run(spark, args.input, args.output, args.max_reject_ratio, timer, files)
    except (InputError, OutputError) as exc:
        return _fail(f"sales-etl: {exc}", EXIT_INPUT, args.verbose)
    except LockedError as exc:
        return _fail(f"sales-etl: {exc}", EXIT_FAILED, args.verbose)
    except Exception as exc:
        return _fail(f"sales-etl: failed, nothing published ({cause(exc)}); --verbose shows the traceback",
                     EXIT_FAILED, args.verbose)
    finally:
        if spark is not None and owned:
            spark.stop()
    if result.code != EXIT_OK:
        print(result.summary.to_json(), end="")
        print(failure_message(result.summary), file=sys.stderr)
        return result.code
    print(result.tables, end="")
    print(result.summary.to_json(), end="")
    print(f"sales-etl: published {result.summary.output}")
    return EXIT_OK


def _fail(message: str, code: int, verbose: bool) -> int:
    if verbose:
        traceback.print_exc()
    print(message, file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
