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
import contextlib
import json
import logging
import os
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
SCRATCH_DIR = "_spanning"  # in staging, removed before publishing: lines of records spanning lines
SUMMARY_FILE = publish.SUMMARY_FILE

EXIT_OK = 0
EXIT_REJECTED = 1  # too many bad rows, or no valid row: nothing published
EXIT_INPUT = 2  # unusable arguments or input (argparse uses 2 too)
EXIT_FAILED = 3  # anything else: output not writable, Spark/JVM failure, a concurrent run


# --------------------------------------------------------------------------------------- extract

# Local files are read through Hadoop's raw local filesystem. The default, checksummed one looks for a ``.crc``
# sidecar named after the file, and Hadoop's ``Path`` takes a name with a ``:`` (``a:b.csv``) for a URI with a
# scheme, so such a file failed mid-scan (``URISyntaxException: Relative path in absolute URI: .a:b.csv.crc``).
# The options reach the Hadoop configuration of this read only; other schemes ignore them.
RAW_LOCAL = {"fs.file.impl": "org.apache.hadoop.fs.RawLocalFileSystem", "fs.file.impl.disable.cache": "true"}
HEADER_LIMIT = 10_000  # rejected lines naming a column that are checked for a header out of place


def read_lines(spark: SparkSession, uris: list[str]) -> DataFrame:
    return spark.read.options(**RAW_LOCAL).text([sales_input.spark_path(u) for u in uris])


def source_uri(source_file: str) -> str:
    """``input_file_name()`` gives a percent-encoded URI (``file:///x%20y.csv``); the plain path form."""
    plain = urllib.parse.unquote(source_file)
    return "file:/" + plain[len("file:///"):] if plain.startswith("file:///") else plain


def file_for(source_file: str, files: list[InputFile]) -> InputFile:
    """The input file behind a URI as Spark reports it."""
    uri = source_uri(source_file)
    return next((f for f in files if f.uri == uri), None) or next(
        f for f in files if uri.endswith(f.uri.split(":", 1)[1]))


def read_parsed(spark: SparkSession, files: list[InputFile]) -> DataFrame:
    """Every line of every file, parsed with its file's column layout, in one text scan.

    Text is read rather than CSV so every line's exact text is kept for the reject output at no extra pass.
    Header lines are skipped (``sales_input.skipped_headers``). When all files share one column order (the
    usual case, however the headers are spelled) the positions are constants; otherwise each line looks its
    file's layout up in a small literal map keyed by ``input_file_name()``, which names each line's file without
    copying it per row (cheaper here than the ``_metadata`` column).
    """
    reader = read_lines(spark, [f.uri for f in files])
    lines = reader.select(F.col("value").alias("raw"), F.input_file_name().alias("source_file"))
    if len({f.positions for f in files}) == 1:
        headers = sales_input.skipped_headers(files[0], files)
        return T.parse_lines(lines.where(~F.col("raw").isin(headers)) if headers else lines, files[0].positions)
    entries = []
    for spark_uri in reader.inputFiles():
        file = file_for(spark_uri, files)
        headers = sales_input.skipped_headers(file, files) or ["\n"]  # no line contains a line break
        entries += [F.lit(spark_uri), F.struct(F.array(*map(F.lit, file.positions)).alias("positions"),
                                               F.array(*map(F.lit, headers)).alias("headers"))]
    layout = F.create_map(*entries)[F.col("source_file")]
    lines = lines.select("raw", "source_file", layout.alias("_layout"))
    lines = lines.where(~F.array_contains(F.col("_layout.headers"), F.col("raw")))
    return T.parse_lines(lines, F.col("_layout.positions"))


def join_spanning_records(spark: SparkSession, groups: DataFrame, files: list[InputFile],
                          listing: sales_input.Listing, storage: Storage, scratch: str) -> DataFrame:
    """Make every quoted field that spans lines one rejected record (rare path, only when the scan saw one).

    The scan reads lines, so such a record arrived as several lines. Each affected file is streamed again on
    the driver (never held whole in memory): the lines of its spanning records are written to a scratch file
    that Spark reads back, so ``multiline_correction`` can replace their contributions by one
    ``multiline_record`` reject each, counted as the lines it spans.
    """
    flagged = [r["source_file"] for r in groups.where(F.col("reason") == T.MULTILINE)
               .select("source_file").distinct().collect()]  # policy: allow-collect (a few file names)
    corrected = groups
    for number, source_file in enumerate(sorted(flagged)):
        file = file_for(source_file, files)
        headers = {h.encode() for h in sales_input.skipped_headers(file, files)}
        members_uri = f"{scratch}/members-{number}.txt"
        with storage.writer(members_uri) as write:
            records = sales_input.record_texts(sales_input.spanning_lines(listing.lines(file.uri), headers), write)
        member_lines = read_lines(spark, [members_uri]).select(
            F.expr("substring(value, 2)").alias("raw"), F.lit(source_file).alias("source_file"))
        joined = [(bytearray(text), source_file, count) for text, count in records]
        record_lines = spark.createDataFrame(joined, "raw binary, source_file string, lines long").select(
            F.col("raw").cast("string").alias("raw"), "source_file", "lines")
        member_groups = T.aggregate(T.parse_lines(member_lines, file.positions))
        corrected = corrected.unionByName(T.multiline_correction(member_groups, record_lines))
    return T.regroup(corrected)


def check_header_lines(groups: DataFrame, files: list[InputFile], listing: sales_input.Listing) -> None:
    """Stop (exit 2) at a rejected line that names two or more columns: a header that is not its file's first
    line (a title above it, a second layout appended), under which the rows would be read by the wrong layout."""
    names = "(?i)(" + "|".join(sales_input.COLUMNS) + ")"
    candidates = groups.where(~F.col("reason").isin(T.BLANK_LINE, T.MULTILINE)
                              & F.col("raw").rlike(names)).select("raw", "source_file").limit(HEADER_LIMIT)
    for row in sorted(candidates.collect()):  # policy: allow-collect (at most HEADER_LIMIT short lines)
        if not sales_input.looks_like_header(row["raw"]):
            continue
        file = file_for(row["source_file"], files)
        number = next((n for n, line in enumerate(listing.lines(file.uri), start=1)
                       if line.decode(errors="replace") == row["raw"]), None)
        where = f"line {number}" if number else "a line"
        first = "the file has no header" if file.header is None else f"its header is {file.header!r}"
        raise InputError(
            f"input file {display(file.uri)}: {where} ({row['raw']!r}) is a header that is not the file's first "
            f"line, and {first}; its rows would be read with the wrong columns. Put one header on the file's first "
            "line (blank lines may precede it) and remove the other, or split the file by layout")


def damaged_input(exc: BaseException) -> InputError | None:
    """A scan that failed because an input file ends early or is corrupt (a truncated gzip): the same error as
    when the damage is found while reading the file's first bytes on the driver."""
    java = getattr(exc, "java_exception", None)
    try:
        chain, cause = [], java
        while cause is not None and len(chain) < 20:
            chain.append(cause)
            cause = cause.getCause()
        names = {str(c.getClass().getName()) for c in chain}
        if not names & set(sales_input.DAMAGE_EXCEPTIONS):
            return None
        found = re.search(r"reading file (\S+?)\.?\s", str(java.getMessage()) + " ")
        detail = str(chain[-1].toString())
    except Exception:  # not a Java failure, or the JVM is gone
        return None
    return sales_input.damaged(source_uri(found.group(1)), detail) if found else None


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
    root, final, parent = (_real(u) for u in (publish.qualify(sales_input.input_roots(spec)), paths.final,
                                              paths.parent))
    if root in (parent, final) or root.startswith(final + "/") or final.startswith(root + "/"):
        raise InputError(f"input {spec} overlaps output {display(final)} (the output's parent, the output or "
                         "a directory around it): the run's own staging and failed directories would be read; "
                         "choose an --output outside the input")


def _real(uri: str) -> str:
    """A local location with symlinks resolved (an input that is a link to the output's parent overlaps it)."""
    return "file:" + os.path.realpath(uri[len("file:"):]) if uri.startswith("file:") else uri


def run(spark: SparkSession, input_spec: str, output: str, max_reject_ratio: float,
        timer: Timer | None = None, files: list[InputFile] | None = None) -> Result:
    """Extract, transform and load once, holding the output's lock; publish only a run that passed its checks."""
    timer = timer or Timer()
    paths = OutputPaths.for_output(output, time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8])
    check_overlap(input_spec, paths)
    listing = sales_input.LOCAL if sales_input.is_local(input_spec) else sales_input.hadoop_listing(spark)
    if files is None:
        files = sales_input.resolve_input(input_spec, listing)
    summary = Summary(input=input_spec, output=display(paths.final), files_read=[display(f.uri) for f in files])
    summary.notes += [f"read {display(f.uri)} once; the same file is also named "
                      f"{', '.join(display(a) for a in f.aliases)}" for f in files if f.aliases]
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
        try:
            counts = Counts.from_tally(T.tally(groups).collect())  # policy: allow-collect (one row per reason)
        except Exception as exc:
            problem = damaged_input(exc)
            if problem is None:
                raise
            raise problem from exc
        if counts.rejected_by_reason.get(T.MULTILINE):
            scratch = f"{paths.staging}/{SCRATCH_DIR}"
            first = groups
            groups = join_spanning_records(spark, groups, files, listing, storage, scratch).coalesce(1).cache()
            counts = Counts.from_tally(T.tally(groups).collect())  # policy: allow-collect (one row per reason)
            first.unpersist()
        if set(counts.rejected_by_reason) - {T.BLANK_LINE, T.MULTILINE}:  # a header out of place is a reject
            check_header_lines(groups, files, listing)
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
    storage.delete(f"{paths.staging}/{SCRATCH_DIR}")  # records spanning lines, read back by the scan's groups
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
    if not args.verbose:  # a JVM that dies mid-call makes py4j log a traceback; the one-line cause comes below
        py4j_log = logging.getLogger("py4j")
        py4j_log.addHandler(logging.NullHandler())
        py4j_log.propagate = False
    timer = Timer()
    spark, owned = None, False
    try:
        files = None
        OutputPaths.for_output(args.output, "check")  # fail fast, before starting a JVM (any input)
        if sales_input.is_local(args.input):  # URIs are listed through Hadoop's FileSystem once Spark runs
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
            with contextlib.suppress(Exception):  # the JVM is already gone (killed, out of memory): reported above
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
