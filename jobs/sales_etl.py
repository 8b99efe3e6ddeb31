"""Sales ETL: the tutorial's three aggregations over sales CSV files, with bad-row handling.

Usage: ``python jobs/sales_etl.py --input DIR_OR_GLOB --output DIR [--max-reject-ratio 0.01]``

Run directly it starts Spark in local mode; submitted by the Spark operator it uses the cluster.

Layout of the code, so each part can be tested on its own:

* extract: ``resolve_input`` and ``read_lines`` turn the input argument into raw text lines;
* transform: pure DataFrame -> DataFrame functions (``parse_lines``, ``aggregate``,
  ``city_revenue``, ``monthly_categories``, ``cross_tab``, ``rejected_rows``);
* load: ``write_outputs`` writes into a staging directory and ``publish`` swaps it in only
  when the whole run succeeded, so a failed run never changes the previous good output.

Performance: the CSV is scanned once. Every line is parsed and validated, then one hash
aggregation at the finest grain (city, category, month) produces at most a few thousand groups.
Rejected lines travel through the same aggregation as their own groups (keyed by their raw text),
so counts, rejects and all three outputs come from that single pass; the small result is cached.
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

import pyspark
from pyspark import SparkConf, SparkContext
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F  # noqa: N812 - the usual PySpark alias
from pyspark.sql.utils import AnalysisException

APP_NAME = "sales-etl"
HEADER_LINE = "order_id,city,category,amount,quantity,date"
FIELDS = HEADER_LINE.split(",")
REJECTED_DIR = "_rejected"
SUMMARY_FILE = "_summary.json"

# Why a line was rejected; the first failing check wins, in this order.
FIELD_COUNT = "wrong_field_count"
MISSING = "missing_value"
BAD_AMOUNT = "bad_amount"
BAD_QUANTITY = "bad_quantity"
BAD_DATE = "bad_date"
REASONS = (FIELD_COUNT, MISSING, BAD_AMOUNT, BAD_QUANTITY, BAD_DATE)
# Empty lines are not data rows (Spark's CSV reader skips them too); they are counted, not rejected.
BLANK_LINE = "blank_line"

EXIT_OK = 0
EXIT_REJECTED = 1  # too many bad rows: nothing published
EXIT_INPUT = 2  # unusable arguments or input path (same code as argparse errors)

# Only used when this process starts the JVM itself (a local run): a small heap is plenty because
# the aggregation result is tiny, and the throughput collector beats G1 on this batch workload.
LOCAL_JVM_SETTINGS = {
    "spark.driver.memory": "512m",
    "spark.driver.extraJavaOptions": "-XX:+UseParallelGC -Xms64m",
    "spark.ui.enabled": "false",
}


class InputError(Exception):
    """The input argument names nothing readable; the message names the path."""


# --------------------------------------------------------------------------------------- extract


def resolve_input(spec: str) -> list[str]:
    """Turn ``--input`` (a directory, a file or a glob) into the paths Spark should read.

    Local paths are checked here so a typo fails with the path in the message instead of a long
    Spark stack trace. A directory means its ``*.csv`` files, as in the tutorial. URIs with a
    scheme (s3a://, hdfs://) are passed through; Spark reports those itself.
    """
    if "://" in spec and not spec.startswith("file://"):
        return [spec]
    local = spec[len("file://"):] if spec.startswith("file://") else spec
    path = Path(local)
    if path.is_dir():
        files = sorted(str(p) for p in path.glob("*.csv") if p.is_file())
        if not files:
            raise InputError(f"input directory {spec} contains no *.csv files")
        return files
    if glob.has_magic(local):
        files = sorted(p for p in glob.glob(local) if os.path.isfile(p))
        if not files:
            raise InputError(f"input pattern {spec} matches no files")
        return files
    if path.is_file():
        return [str(path)]
    raise InputError(f"input path {spec} does not exist")


def read_lines(spark: SparkSession, paths: list[str]) -> DataFrame:
    """Raw text lines (``raw``) with their file (``source_file``), header lines dropped.

    Reading text instead of CSV keeps every line's exact text for the reject output and costs no
    inference pass. Header lines are recognised by their exact text, in any file.
    ``input_file_name()`` hands out the task's file name without copying it per row, which makes
    it measurably cheaper here than the ``_metadata.file_path`` column.
    """
    lines = spark.read.text(paths).select(
        F.col("value").alias("raw"), F.input_file_name().alias("source_file")
    )
    return lines.where(F.col("raw") != HEADER_LINE)


# ------------------------------------------------------------------------------------- transform


def _blank(value: Column) -> Column:
    """Missing: absent, empty, only spaces, or an empty quoted field ("" in CSV).

    Trim only runs for values starting with a space, keeping the common case cheap.
    """
    return (
        value.isNull() | (value == "") | (value == '""') | (value.startswith(" ") & (F.trim(value) == ""))
    )


# Quoted lines go through Spark's CSV parser (RFC 4180 quoting: "" escapes a quote); one extra
# column catches a seventh field, and the field count is recovered from the commas outside fields.
_QUOTED_SCHEMA = ", ".join(f"f{i} STRING" for i in range(len(FIELDS) + 1))
_QUOTED_OPTIONS = {"mode": "PERMISSIVE", "escape": '"'}


def _commas(text: Column) -> Column:
    return F.length(text) - F.length(F.translate(text, ",", ""))


def split_fields(lines: DataFrame, csv_rules: bool = False) -> DataFrame:
    """Add the line's fields (``_order_id`` .. ``_date``) and their count ``_n`` to each line.

    The hot path splits on commas, which is right for every line without a quote character (all
    of the tutorial's data). ``csv_rules`` parses with Spark's CSV parser instead, so "Chicago, IL"
    is one field; it is only used for the few lines that contain quotes (see ``with_quoted_lines``).
    """
    if not csv_rules:
        parts = F.split("raw", ",", -1)
        return lines.select(
            "*", F.size(parts).alias("_n"), *[F.get(parts, i).alias(f"_{name}") for i, name in enumerate(FIELDS)]
        )
    quoted = F.from_csv("raw", _QUOTED_SCHEMA, _QUOTED_OPTIONS)
    parsed = lines.select("*", quoted.alias("_csv"))
    values = [F.col(f"_csv.f{i}") for i in range(len(FIELDS) + 1)]
    count = _commas(F.col("raw")) - _commas(F.concat_ws("", *values)) + 1
    return parsed.select(
        "raw", "source_file", count.alias("_n"), *[values[i].alias(f"_{name}") for i, name in enumerate(FIELDS)]
    )


def _strict_date(text: Column) -> Column:
    """Parse ``yyyy-MM-dd`` strictly: null for other layouts, impossible dates and years < 1000.

    ``try_cast(... as date)`` rejects impossible dates (2025-02-30) but is lenient about layout
    (" 2025-2-5", "2025-02-5T", "+202-01-05"). The layout is pinned with checks that allocate
    nothing per row: ten bytes, dashes at 5 and 8, a four-digit year, and a day written with two
    digits. A regex or a pattern-based parser costs several times more at 15M rows.
    """
    date = text.try_cast("date")
    layout_ok = (
        (F.octet_length(text) == 10)
        & (F.instr(text, "-") == 5)
        & (F.locate("-", text, 6) == 8)
        & (F.year(date) >= 1000)
        & ((F.dayofmonth(date) >= 10) | (F.locate("0", text, 9) == 9))
    )
    return F.when(layout_ok, date)


def parse_lines(lines: DataFrame, csv_rules: bool = False) -> DataFrame:
    """Split and type each line and give the reason it is rejected (null for a valid line).

    Uses try_* conversions, which return null instead of failing the job (Spark 4 runs with
    ANSI mode on, where plain casts throw). A line is rejected when its field count is not six,
    a value is missing, amount is not a finite number, quantity not an integer, or date not a
    real ``yyyy-MM-dd`` date. The fast path splits on commas; ``with_quoted_lines`` then gives the
    few rejected lines that contain quotes a second parse with CSV rules.
    """
    fields = split_fields(lines, csv_rules)
    amount = F.col("_amount").try_cast("double")
    quantity = F.col("_quantity").try_cast("int")
    date = _strict_date(F.col("_date"))
    any_blank = _blank(F.col(f"_{FIELDS[0]}"))
    for name in FIELDS[1:]:
        any_blank = any_blank | _blank(F.col(f"_{name}"))
    reason = (
        F.when(F.col("raw") == "", F.lit(BLANK_LINE))
        .when(F.col("_n") != len(FIELDS), F.lit(FIELD_COUNT))
        .when(any_blank, F.lit(MISSING))
        .when(amount.isNull() | F.isnan(amount) | amount.isin(float("inf"), float("-inf")), F.lit(BAD_AMOUNT))
        .when(quantity.isNull(), F.lit(BAD_QUANTITY))
        .when(date.isNull(), F.lit(BAD_DATE))
    )
    return fields.select(
        "raw", "source_file", reason.alias("reason"),
        F.col("_order_id").alias("order_id"), F.col("_city").alias("city"),
        F.col("_category").alias("category"), amount.alias("amount"), quantity.alias("quantity"),
        date.alias("date"), F.month(date).alias("month"),
    )


def aggregate(parsed: DataFrame) -> DataFrame:
    """One aggregation for everything: valid rows by (city, category, month), rejects by line.

    Valid rows have null ``reason``/``raw``/``source_file``; rejected rows have null city,
    category and month and are grouped by their raw text and file, with ``orders`` counting
    how often that exact line occurred. The result is small whatever the input size (at most
    cities x categories x 12 valid groups plus one group per distinct bad line).
    """
    ok = F.col("reason").isNull()
    keyed = parsed.select(
        F.when(ok, F.col("city")).alias("city"),
        F.when(ok, F.col("category")).alias("category"),
        F.when(ok, F.col("month")).alias("month"),
        "reason",
        F.when(~ok, F.col("raw")).alias("raw"),
        F.when(~ok, F.col("source_file")).alias("source_file"),
        F.when(ok, F.col("amount")).alias("amount"),
        F.when(ok, F.col("quantity")).alias("quantity"),
    )
    return keyed.groupBy("city", "category", "month", "reason", "raw", "source_file").agg(
        F.sum("amount").alias("revenue"),
        F.count(F.lit(1)).alias("orders"),
        F.sum("quantity").cast("long").alias("items"),
    )


def _unquote(value: Column) -> Column:
    """A comma-free field written in CSV quotes ("New York") stands for its content."""
    quoted = value.startswith('"') & value.endswith('"') & (F.length(value) >= 2)
    inner = F.substring(value, F.lit(2), F.length(value) - 2)
    return F.when(quoted, F.regexp_replace(inner, '""', '"')).otherwise(value)


def _needs_csv_rules() -> Column:
    return F.col("reason").isNotNull() & (F.col("reason") != BLANK_LINE) & F.col("raw").contains('"')


def any_quoted_rejects(groups: DataFrame) -> bool:
    """Cheap on the cached aggregate: is there anything for ``with_quoted_lines`` to do?"""
    return bool(groups.where(_needs_csv_rules()).limit(1).count())


def with_quoted_lines(first: DataFrame) -> DataFrame:
    """Apply CSV quoting rules after the scan, on the small aggregated result only.

    The scan splits on commas, which is right for unquoted lines and cheapest per row. A quoted
    field holding a comma ("Chicago, IL") or a quoted number makes its line a reject there; those
    rejects are parsed again here with Spark's CSV parser. Valid groups keyed by a quoted city or
    category get the unquoted name. Groups may then repeat a key; every consumer sums over keys.
    """
    retry = _needs_csv_rules()
    pending = first.where(retry).select(
        "raw", "source_file", F.explode(F.array_repeat(F.lit(1), F.col("orders").cast("int"))).alias("_copy")
    ).drop("_copy")
    reparsed = aggregate(parse_lines(pending, csv_rules=True))
    kept = first.where(~retry | F.col("reason").isNull()).withColumns(
        {"city": _unquote(F.col("city")), "category": _unquote(F.col("category"))}
    )
    return kept.unionByName(reparsed)


def _valid(groups: DataFrame) -> DataFrame:
    return groups.where(F.col("reason").isNull())


def _ordered(df: DataFrame, *order: Column | str) -> DataFrame:
    """A single, fully ordered partition: same rows, same order and same files on every run."""
    return df.coalesce(1).sortWithinPartitions(*order)


def city_revenue(groups: DataFrame) -> DataFrame:
    """Revenue by city (tutorial: ``city_revenue``), largest first."""
    result = _valid(groups).groupBy("city").agg(
        F.sum("revenue").alias("total_revenue"),
        (F.sum("revenue") / F.sum("orders")).alias("avg_order_value"),
        F.sum("orders").alias("total_orders"),
        F.sum("items").alias("total_items"),
    )
    return _ordered(result, F.desc("total_revenue"), "city")


def monthly_categories(groups: DataFrame) -> DataFrame:
    """Revenue and orders by month and category (tutorial: ``monthly_categories``)."""
    result = _valid(groups).groupBy("month", "category").agg(
        F.sum("revenue").alias("revenue"), F.sum("orders").alias("orders")
    )
    return _ordered(result, "month", F.desc("revenue"), "category")


def cross_tab(groups: DataFrame) -> DataFrame:
    """Revenue by city and category (tutorial: ``cross_tab``)."""
    result = _valid(groups).groupBy("city", "category").agg(F.sum("revenue").alias("revenue"))
    return _ordered(result, F.desc("revenue"), "city", "category")


def rejected_rows(groups: DataFrame) -> DataFrame:
    """One row per rejected input line: file, reason and the exact raw text."""
    rejected = groups.where(F.col("reason").isNotNull() & (F.col("reason") != BLANK_LINE)).select(
        "source_file", "reason", F.col("raw").alias("raw_line"),
        F.explode(F.array_repeat(F.lit(1), F.col("orders").cast("int"))).alias("_copy"),
    )
    return _ordered(rejected.drop("_copy"), "source_file", "raw_line")


def tally(groups: DataFrame) -> DataFrame:
    """Row counts per reason and per valid (city, category, month) key: a few thousand rows.

    One small collect of this gives the summary's counts and every output's row count, without
    a separate Spark job per number.
    """
    return groups.groupBy("reason", "city", "category", "month").agg(F.sum("orders").alias("rows"))


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


# ------------------------------------------------------------------------------------------ load


@dataclass
class Summary:
    """What a run did; written as ``_summary.json`` next to the outputs."""

    input: str
    output: str
    status: str = "running"
    rows_read: int = 0
    rows_rejected: int = 0
    rows_valid: int = 0
    blank_lines: int = 0
    reject_ratio: float = 0.0
    max_reject_ratio: float = 0.0
    rejected_by_reason: dict[str, int] = field(default_factory=dict)
    output_rows: dict[str, int] = field(default_factory=dict)
    rejected_path: str = ""
    timings_seconds: dict[str, float] = field(default_factory=dict)
    spark: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(self.__dict__, indent=2, sort_keys=True) + "\n"


def write_outputs(outputs: dict[str, DataFrame], rejected: DataFrame | None, staging: str) -> list[Future]:
    """Start writing the Parquet outputs and the rejects (JSON lines: readable without Spark).

    Each of these jobs handles a few hundred rows, so its time goes to planning and code
    generation on the driver; started from parallel threads they overlap instead of queueing.
    The caller waits on the returned futures.
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


def qualify(location: str) -> str:
    """A Hadoop URI for ``--output``: local paths become absolute ``file:`` URIs."""
    if "://" in location:
        return location.rstrip("/")
    return "file:" + os.path.abspath(location)


def display(uri: str) -> str:
    """How a location is shown to people: local paths without the ``file:`` scheme."""
    return uri[len("file:"):] if uri.startswith("file:") else uri


@dataclass(frozen=True)
class OutputPaths:
    """The published directory and its siblings used to publish it safely.

    Spark's overwrite mode deletes the old output before writing, so instead every run writes
    into a fresh staging sibling; success swaps it in with renames, failure keeps it under
    ``<output>.failed`` for inspection, leaving the published output untouched either way.
    """

    final: str
    staging: str
    previous: str
    failed: str

    @classmethod
    def for_output(cls, output: str, run_id: str) -> OutputPaths:
        final = qualify(output)
        parent, _, name = final.rpartition("/")
        if not name or parent.endswith(":/"):  # "/" or "s3a://bucket": no sibling to stage in
            raise InputError(f"output {output} must be a directory below a filesystem or bucket root")
        return cls(
            final=final,
            staging=f"{parent}/.{name}.staging-{run_id}",
            previous=f"{parent}/.{name}.previous",
            failed=f"{parent}/{name}.failed",
        )


class Storage:
    """Directory operations through Hadoop's FileSystem API, the layer Spark writes with.

    One code path for the local disk, the cluster's volume and object stores (s3a://). On the
    local disk the raw filesystem is used so that ``_summary.json`` gets no ``.crc`` sidecar.
    """

    def __init__(self, spark: SparkSession, uri: str) -> None:
        jvm = spark.sparkContext._jvm
        self._path = jvm.org.apache.hadoop.fs.Path
        fs = self._path(uri).getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
        self._fs = fs.getRawFileSystem() if uri.startswith("file:") else fs

    def exists(self, uri: str) -> bool:
        return bool(self._fs.exists(self._path(uri)))

    def names(self, uri: str) -> list[str] | None:
        """Entries of a directory (None for a file)."""
        if not self._fs.getFileStatus(self._path(uri)).isDirectory():
            return None
        return [entry.getPath().getName() for entry in self._fs.listStatus(self._path(uri))]

    def rename(self, source: str, target: str) -> None:
        """Rename; the target must not exist (Hadoop would move the source *into* it)."""
        if self.exists(target) or not self._fs.rename(self._path(source), self._path(target)):
            raise OSError(f"could not rename {display(source)} to {display(target)}")

    def mkdirs(self, uri: str) -> None:
        self._fs.mkdirs(self._path(uri))

    def delete(self, uri: str) -> None:
        self._fs.delete(self._path(uri), True)

    def write_text(self, uri: str, text: str) -> None:
        stream = self._fs.create(self._path(uri), True)
        try:
            stream.write(bytearray(text.encode()))
        finally:
            stream.close()


def check_output_target(storage: Storage, paths: OutputPaths) -> None:
    """Refuse to replace something this job did not write (a mistyped ``--output``)."""
    if not storage.exists(paths.final):
        return
    names = storage.names(paths.final)
    if names is None or (names and SUMMARY_FILE not in names):
        raise InputError(f"output path {display(paths.final)} exists and is not an earlier output of this job")


def recover_interrupted_publish(storage: Storage, paths: OutputPaths) -> None:
    """If a run died between its two renames, put the previous output back first."""
    if storage.exists(paths.previous):
        if not storage.exists(paths.final):
            storage.rename(paths.previous, paths.final)
        else:
            storage.delete(paths.previous)


def publish(storage: Storage, paths: OutputPaths) -> None:
    """Swap the finished staging directory in place of the published output."""
    if storage.exists(paths.final):
        storage.rename(paths.final, paths.previous)
    storage.rename(paths.staging, paths.final)
    storage.delete(paths.previous)


def keep_failed(storage: Storage, paths: OutputPaths) -> None:
    """Move a failed run's staging directory to ``<output>.failed`` (replacing an older one)."""
    storage.delete(paths.failed)
    storage.rename(paths.staging, paths.failed)


# ------------------------------------------------------------------------------------------- run


@dataclass(frozen=True)
class ClassArchive:
    """A class-data-sharing archive (JDK dynamic CDS) that makes local runs start faster.

    Spark loads some 20,000 classes before the first result; mapping them from an archive cuts
    about 3 s off a local run, a fifth of the 15M-row benchmark. The first local run dumps the
    archive when its JVM exits; later runs map it. It lives in ``$SPARKSTACK_CDS_DIR`` (default
    ``~/.cache/sparkstack``; ``off`` disables it) under a name keyed by the java binary and the
    Spark installation, since the JVM only accepts an archive made with the same JDK and class
    path. Only used when this process starts the JVM, never under spark-submit.
    """

    path: Path
    java: str
    creating: bool

    @property
    def pending(self) -> Path:
        return self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")

    @classmethod
    def locate(cls) -> ClassArchive | None:
        setting = os.environ.get("SPARKSTACK_CDS_DIR", "")
        java = _java_binary()
        jvm_running = SparkContext._gateway is not None or "PYSPARK_GATEWAY_PORT" in os.environ
        if setting == "off" or java is None or jvm_running:
            return None
        base = Path(setting) if setting else Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        directory = base if setting else base / "sparkstack"
        spark_home = os.environ.get("SPARK_HOME") or os.path.dirname(os.path.abspath(pyspark.__file__))
        key = hashlib.sha256(f"{os.path.realpath(java)}|{spark_home}|{pyspark.__version__}".encode())
        path = directory / f"spark-{pyspark.__version__}-{key.hexdigest()[:12]}.jsa"
        return cls(path, java, creating=not path.is_file())

    def jvm_options(self) -> str:
        # -Xlog:cds=off: an archive the JVM cannot use is skipped; that is not worth a warning.
        if self.creating:
            return f"-XX:ArchiveClassesAtExit={self.pending} -Xlog:cds=off -Xlog:cds+dynamic=off"
        return f"-XX:SharedArchiveFile={self.path} -Xlog:cds=off -Xlog:cds+dynamic=off"

    def finish(self) -> None:
        """After the JVM exited: keep a freshly dumped archive only if a JVM starts with it.

        A truncated archive would crash every later start, so it is checked before it is
        renamed into place (atomically, in case another run finishes at the same time).
        """
        if not self.creating or not self.pending.is_file():
            return
        check = subprocess.run([self.java, f"-XX:SharedArchiveFile={self.pending}", "-version"],
                               capture_output=True, timeout=120, check=False)
        if check.returncode == 0:
            os.replace(self.pending, self.path)
        else:
            self.pending.unlink()
        for stale in self.path.parent.glob(f"{self.path.name}.*.tmp"):  # from interrupted runs
            if time.time() - stale.stat().st_mtime > 3600:
                stale.unlink(missing_ok=True)


def _java_binary() -> str | None:
    """The java that spark-submit will run: $JAVA_HOME/bin/java, else the one on PATH."""
    home = os.environ.get("JAVA_HOME")
    candidate = os.path.join(home, "bin", "java") if home else shutil.which("java")
    return candidate if candidate and os.access(candidate, os.X_OK) else None


def start_spark(archive: ClassArchive | None = None) -> SparkSession:
    """Get a session on the configured master, or on ``local[*]`` when none is configured.

    Under spark-submit (the operator) the JVM is already running with ``spark.master`` set. Run
    directly with python, this process starts the JVM, so only here can the local driver's heap,
    GC and class archive be chosen.
    """
    settings = dict(LOCAL_JVM_SETTINGS)
    if archive is not None:
        archive.path.parent.mkdir(parents=True, exist_ok=True)
        settings["spark.driver.extraJavaOptions"] += " " + archive.jvm_options()
    launch = SparkConf(loadDefaults=False).setAll(list(settings.items()))
    SparkContext._ensure_initialized(conf=launch)  # starts or attaches to the JVM
    builder = SparkSession.builder.appName(APP_NAME)
    if not SparkConf().contains("spark.master"):  # now reflects spark-submit's settings
        builder = builder.master("local[*]")
    interactive = sys.stderr.isatty()
    spark = builder.config("spark.ui.showConsoleProgress", str(interactive).lower()).getOrCreate()
    if spark.sparkContext.master.startswith("local"):
        # A few thousand result groups: a couple of shuffle partitions, not the default 200.
        spark.conf.set("spark.sql.shuffle.partitions", str(spark.sparkContext.defaultParallelism))
    return spark


def stop_spark(spark: SparkSession, archive: ClassArchive | None) -> None:
    """Stop Spark; when this run dumps a class archive, wait for the JVM to write it."""
    spark.stop()
    if archive is None or not archive.creating:
        return
    print(f"sales-etl: first local run, saving the JVM's loaded classes to {archive.path} "
          "so later runs start faster (SPARKSTACK_CDS_DIR=off disables this)", file=sys.stderr)
    jvm_process = getattr(SparkContext._gateway, "proc", None)
    if jvm_process is not None and jvm_process.stdin is not None:
        jvm_process.stdin.close()  # the gateway JVM exits when its stdin closes
        try:
            jvm_process.wait(timeout=300)
        except subprocess.TimeoutExpired:
            return
    archive.finish()


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


def show_results(outputs: dict[str, DataFrame]) -> None:
    """Print the first two results the way the tutorial's job logs them."""
    print("\n=== Revenue by City ===")
    outputs["city_revenue"].show(10, truncate=False)
    print("=== Monthly Category Performance ===")
    outputs["monthly_categories"].show(20, truncate=False)


def count_summary(summary: Summary, counts: Counts, max_reject_ratio: float) -> None:
    """Fill in the counts and the reject ratio the threshold is checked against."""
    summary.rows_valid = counts.valid
    by_reason = counts.rejected_by_reason
    summary.rejected_by_reason = {reason: by_reason[reason] for reason in REASONS if reason in by_reason}
    summary.rows_rejected = sum(summary.rejected_by_reason.values())
    summary.blank_lines = by_reason.get(BLANK_LINE, 0)
    summary.rows_read = summary.rows_valid + summary.rows_rejected
    summary.reject_ratio = summary.rows_rejected / summary.rows_read if summary.rows_read else 0.0
    summary.max_reject_ratio = max_reject_ratio


def run(spark: SparkSession, input_spec: str, output: str, max_reject_ratio: float,
        timer: Timer | None = None) -> tuple[int, Summary]:
    """Extract, transform and load once; publish only if the reject ratio is acceptable."""
    timer = timer or Timer()
    paths = OutputPaths.for_output(output, time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8])
    summary = Summary(input=input_spec, output=display(paths.final))
    summary.spark = {"master": spark.sparkContext.master, "version": spark.version}
    storage = Storage(spark, paths.final)
    recover_interrupted_publish(storage, paths)
    check_output_target(storage, paths)
    files = resolve_input(input_spec)
    try:
        # The one scan of the input; everything after works on this small cached result.
        groups = aggregate(parse_lines(read_lines(spark, files))).coalesce(1).cache()
        counts = Counts.from_tally(tally(groups).collect())
        if any_quoted_rejects(groups):
            first, groups = groups, with_quoted_lines(groups).coalesce(1).cache()
            counts = Counts.from_tally(tally(groups).collect())
            first.unpersist()
        count_summary(summary, counts, max_reject_ratio)
    except AnalysisException as exc:
        raise InputError(f"cannot read input {input_spec}: {exc}") from exc
    timer.lap("scan_and_aggregate")
    try:
        return _finish(groups, summary, counts, storage, paths, timer)
    finally:
        groups.unpersist()
        storage.delete(paths.staging)  # only still there if something went wrong


def _finish(
    groups: DataFrame, summary: Summary, counts: Counts, storage: Storage, paths: OutputPaths, timer: Timer
) -> tuple[int, Summary]:
    """Write into staging, then publish (success) or keep the rejects aside (failure)."""
    failed = summary.rows_read == 0 or summary.reject_ratio > summary.max_reject_ratio
    outputs = {} if failed else {
        "city_revenue": city_revenue(groups),
        "monthly_categories": monthly_categories(groups),
        "cross_tab": cross_tab(groups),
    }
    any_rejected = summary.rows_rejected > 0
    writes = write_outputs(outputs, rejected_rows(groups) if any_rejected else None, paths.staging)
    if not failed:
        show_results(outputs)
    wait(writes)  # all of them, so none is still writing if one failed and staging is removed
    for write in writes:
        write.result()
    if not any_rejected:
        storage.mkdirs(f"{paths.staging}/{REJECTED_DIR}")  # same layout, without a Spark job
    summary.output_rows = {name: counts.output_rows[name] for name in outputs}
    timer.lap("write")
    summary.status = "failed" if failed else "succeeded"
    summary.rejected_path = display(f"{paths.failed if failed else paths.final}/{REJECTED_DIR}")
    summary.timings_seconds = timer.total()
    storage.write_text(f"{paths.staging}/{SUMMARY_FILE}", summary.to_json())
    if failed:
        keep_failed(storage, paths)
        return EXIT_REJECTED, summary
    publish(storage, paths)
    return EXIT_OK, summary


def failure_message(summary: Summary) -> str:
    """Why nothing was published, with the counts and where the rejected rows are."""
    if summary.rows_read == 0:
        return f"sales-etl: no data rows in {summary.input}; nothing published"
    return (
        f"sales-etl: {summary.rows_rejected:,} of {summary.rows_read:,} rows rejected "
        f"({summary.reject_ratio:.2%} > max {summary.max_reject_ratio:.2%}); nothing published, "
        f"{summary.output} left unchanged. Rejected rows: {summary.rejected_path}"
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Tutorial sales aggregations with bad-row handling.")
    parser.add_argument("--input", required=True, help="directory of *.csv files, a file, or a glob")
    parser.add_argument("--output", required=True, help="output directory (replaced only on success)")
    parser.add_argument("--max-reject-ratio", type=float, default=0.01,
                        help="fail when more than this share of rows is rejected (default 0.01)")
    args = parser.parse_args(argv)
    if not 0.0 <= args.max_reject_ratio <= 1.0:
        parser.error("--max-reject-ratio must be between 0 and 1")
    return args


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run, and report; the return value is the process exit code."""
    args = parse_args(argv)
    try:
        resolve_input(args.input)  # fail fast, before starting a JVM
    except InputError as exc:
        print(f"sales-etl: {exc}", file=sys.stderr)
        return EXIT_INPUT
    timer = Timer()
    archive = ClassArchive.locate()
    owned = SparkContext._active_spark_context is None  # else a caller's session: leave it running
    spark = start_spark(archive)
    timer.lap("spark_start")
    try:
        code, summary = run(spark, args.input, args.output, args.max_reject_ratio, timer)
    except InputError as exc:
        print(f"sales-etl: {exc}", file=sys.stderr)
        return EXIT_INPUT
    finally:
        if owned:
            stop_spark(spark, archive)
    print(summary.to_json(), end="")
    if code != EXIT_OK:
        print(failure_message(summary), file=sys.stderr)
    else:
        print(f"sales-etl: published {summary.output}")
    return code


if __name__ == "__main__":
    sys.exit(main())
