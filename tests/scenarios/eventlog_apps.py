"""Run small real Spark applications with event logging on, so the doctor's tests read logs Spark itself wrote.

One Python process and one JVM run them one after the other (a new SparkContext per application), because JVM
start-up is the slow part. Usage: python tests/scenarios/eventlog_apps.py OUT_DIR. It writes:

- OUT_DIR/clean/: a healthy application as one zstd file, <appId>.zstd (spark.eventLog.rolling.enabled=false);
- OUT_DIR/troubled/: one stage per problem (skew, spill, a retried task failure, one long task on two cores, GC
  pressure, thousands of tiny tasks) with Spark 4's defaults: a rolling eventlog_v2_<appId>/ directory of zstd
  files, which the tiny tasks push past the 10 MiB minimum file size so it rolls over;
- OUT_DIR/variants/{none,lz4,snappy}/: the troubled events re-encoded as single files by Spark's own codec
  classes (org.apache.spark.io.*CompressionCodec), so each reader is tested on bytes Spark wrote;
- OUT_DIR/round2/: the doctor's second round, one zstd file: a sort-merge join skewed below AQE's skew threshold,
  a repartition by a key of three values with AQE switched off at run time (spark.conf.set, so it shows only in
  the SQL execution's modifiedConfigs and the job's properties), 120 small parquet files written and read back, a
  small broadcast join, a DataFrame cached and used once, a stage with two slow warm-up-like tasks, and a
  cancelled job group;
- OUT_DIR/killed/: an application stopped while a job runs (SparkContext.stop, which is what the JVM's shutdown
  hook calls when the Python driver is killed): ApplicationEnd, then the job's JobFailed;
- OUT_DIR/dead/: an application with a failed job whose driver JVM is killed (SIGKILL) during its next job, the
  way a driver container dies when it is OOM-killed: its rolling directory is left .inprogress;
- OUT_DIR/apps.json: the application id of each.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

from pyspark import TaskContext
from pyspark.sql import SparkSession
from pyspark.sql.functions import broadcast

ROWS_SKEW = 1_000_000
ROWS_SPILL = 200_000
SPILL_EVERY = 20_000  # spark.shuffle.spill.numElementsForceSpillThreshold: a sorter spills after this many rows
ROWS_GC = 12_000_000  # in 4 tasks of 3M, two at a time: as much alive at once as a 512 MB heap holds safely
TINY_TASKS = 3000
LONG_TASK_S = 3.0
SHUFFLE_PARTITIONS = 8
GC_KEYS: dict[int, int] = {}  # reduce partition -> a key that lands in it


def session(name: str, master: str, log_dir: Path, rolling: bool = True, **conf: str) -> SparkSession:
    """A fresh application (a new SparkContext in the same JVM) writing its event log to log_dir.

    The first application's settings become JVM system properties (spark-submit starts the JVM with them), which
    later SparkConfs inherit, so every setting that differs between applications is set on each one.
    """
    log_dir.mkdir(parents=True, exist_ok=True)
    builder = (SparkSession.builder.master(master).appName(name)
               .config("spark.eventLog.enabled", "true")
               .config("spark.eventLog.rolling.enabled", str(rolling).lower())
               .config("spark.eventLog.dir", log_dir.resolve().as_uri())
               .config("spark.ui.enabled", "false")
               .config("spark.ui.showConsoleProgress", "false")
               # Task-end memory peaks come from the executor's poller; at 0 (the default) it polls only at
               # heartbeats, every 10 s, so whether a short application's tasks carry any depends on the machine.
               .config("spark.executor.metrics.pollingInterval", "50ms"))
    for key, value in conf.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("OFF")
    return spark


def clean(out: Path) -> str:
    """Small, evenly partitioned work: nothing for the doctor to warn about."""
    spark = session("doctor-clean", "local[2]", out / "clean", **{
        # These two apply to the one JVM, so to every application below: a small heap and the single-threaded
        # collector make the GC stage's pauses long enough to stand out on any machine.
        "spark.driver.memory": "512m",
        "spark.driver.extraJavaOptions": "-XX:+UseSerialGC",
    }, rolling=False)
    app_id = spark.sparkContext.applicationId
    spark.range(0, 200_000, 1, 4).selectExpr("id % 97 AS k", "id AS v").groupBy("k").agg({"v": "sum"}).collect()
    spark.range(0, 100_000, 1, 4).selectExpr("sum(id)").collect()
    # One group key per reduce partition of the troubled GC stage (HashPartitioning is pmod(hash(key), n)), so that
    # stage holds many values per key without also being skewed.
    for row in spark.range(0, 1000).selectExpr("id", f"pmod(hash(id), {SHUFFLE_PARTITIONS}) AS p").collect():
        GC_KEYS.setdefault(row.p, row.id)
    spark.stop()
    return app_id


def fail_first_attempt(x: int) -> int:
    """Partition 1 fails on its first attempt only, like a flaky source; the retry succeeds."""
    ctx = TaskContext.get()
    if ctx.partitionId() == 1 and ctx.attemptNumber() == 0:
        raise ValueError(f"flaky record {x}: simulated failure on first attempt")
    return x


def sleep_then(x: int) -> int:
    """A task that takes LONG_TASK_S whatever the machine's speed."""
    time.sleep(LONG_TASK_S)
    return x


def troubled(out: Path) -> str:
    """One stage per problem, in this order (stage ids in the comments, as the tests expect them)."""
    spark = session("doctor-troubled", "local[2,4]", out / "troubled", **{  # 2 cores, 4 attempts per task
        "spark.sql.adaptive.enabled": "false",  # keep the skewed partitions as they are
        "spark.sql.shuffle.partitions": str(SHUFFLE_PARTITIONS),
        "spark.shuffle.spill.numElementsForceSpillThreshold": str(SPILL_EVERY),
        "spark.eventLog.rolling.maxFileSize": "10m",  # the smallest Spark accepts; the default is 128m
    })
    sc = spark.sparkContext
    app_id = sc.applicationId

    # stages 0 (map) and 1 (skewed reduce): 90 % of the rows share one key
    (spark.range(0, ROWS_SKEW, 1, 4)
     .selectExpr("CASE WHEN id % 10 < 9 THEN 0 ELSE id % 1000 END AS k", "id AS v", "uuid() AS pad")
     .repartition(8, "k").write.format("noop").mode("overwrite").save())
    # stage 2: a sort that spills every SPILL_EVERY rows
    (spark.range(0, ROWS_SPILL, 1, 4).selectExpr("id", "rand(7) AS r", "uuid() AS pad")
     .sortWithinPartitions("r").write.format("noop").mode("overwrite").save())
    # stage 3: one task fails once and is retried
    sc.parallelize(range(8), 4).map(fail_first_attempt).count()
    # stage 4: one long task while the second core idles
    sc.parallelize([0], 1).map(sleep_then).count()
    # stages 5 (map) and 6 (reduce): collect_list keeps millions of boxed values alive in a 512 MB heap; the
    # 8 keys fill the 8 reduce partitions evenly
    keys = ", ".join(str(GC_KEYS[p]) for p in range(SHUFFLE_PARTITIONS))
    key = f"element_at(array({keys}), CAST(id % {SHUFFLE_PARTITIONS} AS INT) + 1) AS k"
    (spark.range(0, ROWS_GC, 1, 4).selectExpr(key, "id AS v")
     .groupBy("k").agg({"v": "collect_list"}).selectExpr("k", "size(`collect_list(v)`)").collect())
    # stages 7 (tiny tasks) and 8 (the final sum)
    spark.range(0, TINY_TASKS, 1, TINY_TASKS).selectExpr("sum(id)").collect()
    spark.stop()
    return app_id


SMJ_ROWS = 600_000  # ~20 MiB in the hot join partition: above the doctor's 16 MiB floor, below AQE's 256 MB
FEW_KEYS_ROWS = 600_000
WARMUP_SLOW_S, WARMUP_FAST_S = 1.1, 0.3
SMALL_FILES = 120  # more than DataFlint's 100


def warm_up_like(x: int) -> int:
    """Tasks 0 and 1 are slow, like the first tasks on fresh JVMs; the rest are short; no data to speak of."""
    time.sleep(WARMUP_SLOW_S if TaskContext.get().partitionId() < 2 else WARMUP_FAST_S)
    return x


def sleep_long(x: int) -> int:
    time.sleep(30)
    return x


def round2(out: Path) -> str:
    """The problems of issue 20 that a local run can make for real (stage ids in the comments)."""
    spark = session("doctor-round2", "local[2]", out / "round2", rolling=False, **{
        "spark.sql.adaptive.enabled": "true",
        "spark.sql.adaptive.coalescePartitions.enabled": "false",  # keep 8 partitions, so the skew shows
        "spark.sql.autoBroadcastJoinThreshold": "-1",  # a sort-merge join
        "spark.sql.shuffle.partitions": str(SHUFFLE_PARTITIONS),
        "spark.shuffle.spill.numElementsForceSpillThreshold": str(2**31 - 1),  # no forced spill here
    })
    sc = spark.sparkContext
    app_id = sc.applicationId
    # sort-merge join, AQE on: 90 % of the left rows share key 0; the hot partition is well below
    # spark.sql.adaptive.skewJoin.skewedPartitionThresholdInBytes (256 MB), so AQE leaves it whole
    left = spark.range(0, SMJ_ROWS, 1, 4).selectExpr("CASE WHEN id % 10 < 9 THEN 0 ELSE id % 1000 END AS k",
                                                      "uuid() AS pad")
    right = spark.range(0, 1000, 1, 2).selectExpr("id AS k", "id * 2 AS w")
    left.join(right, "k").write.format("noop").mode("overwrite").save()
    # three evenly sized keys in 8 partitions: five partitions are empty (median 0); AQE off at run time
    spark.conf.set("spark.sql.adaptive.enabled", "false")
    (spark.range(0, FEW_KEYS_ROWS, 1, 4).selectExpr("id % 3 AS k", "uuid() AS pad", "uuid() AS pad2")
     .repartition(8, "k").write.format("noop").mode("overwrite").save())
    spark.conf.unset("spark.sql.adaptive.enabled")
    # SMALL_FILES parquet files of a few KB written, then read back: small files both ways
    small = out / "round2-small-files"
    (spark.range(0, SMALL_FILES * 1000, 1, 4).selectExpr("id", "id * 3 AS v").repartition(SMALL_FILES)
     .write.mode("overwrite").parquet(str(small)))
    spark.read.parquet(str(small)).selectExpr("sum(v)").collect()
    # a small broadcast join (far under the broadcast check's 1 GiB)
    (spark.range(0, 100_000, 1, 2).join(broadcast(spark.range(0, 500).selectExpr("id", "id AS w")), "id")
     .write.format("noop").mode("overwrite").save())
    # a DataFrame cached and used by one action only: the cache buys nothing
    cached = spark.range(0, 200_000, 1, 2).selectExpr("id", "uuid() AS pad").persist()
    cached.selectExpr("count(pad)").collect()
    cached.unpersist()
    # two slow tasks among eight, no key at all
    sc.parallelize(range(8), 8).map(warm_up_like).count()
    # a job cancelled by its group: a failed job without a failed task
    def cancelled() -> None:
        sc.setJobGroup("doomed", "cancelled on purpose", interruptOnCancel=True)
        with contextlib.suppress(Exception):
            sc.parallelize(range(2), 2).map(sleep_long).count()

    worker = threading.Thread(target=cancelled, daemon=True)
    worker.start()
    wait_for_running_job(sc)
    sc.cancelJobGroup("doomed")
    worker.join(60)
    spark.stop()
    return app_id


def wait_for_running_job(sc, timeout_s: float = 60) -> None:  # sc: a SparkContext
    """Until the tracker reports an active job (and a running stage), so a cancel or stop meets it."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        tracker = sc.statusTracker()
        if tracker.getActiveJobsIds() and tracker.getActiveStageIds():
            time.sleep(0.5)  # let its tasks start
            return
        time.sleep(0.1)
    raise SystemExit("no job started")


def killed(out: Path) -> str:
    """A job runs when the application is stopped: SparkContext.stop, as the JVM's shutdown hook runs it."""
    spark = session("doctor-killed", "local[2]", out / "killed", rolling=False)
    sc = spark.sparkContext
    app_id = sc.applicationId
    sc.parallelize(range(4), 2).count()

    def doomed() -> None:
        with contextlib.suppress(Exception):
            sc.parallelize(range(2), 2).map(sleep_long).count()

    threading.Thread(target=doomed, daemon=True).start()
    wait_for_running_job(sc)
    spark.stop()
    return app_id


def always_fail(x: int) -> int:
    raise RuntimeError("input file is corrupt")


def reencode(spark: SparkSession, troubled_dir: Path, out: Path) -> None:
    """Decompress the troubled rolling files with Spark's zstd codec and write them again with lz4, snappy, none."""
    jvm = spark.sparkContext._jvm
    conf = spark.sparkContext._jsc.sc().conf()
    codecs = jvm.org.apache.spark.io
    source = next(troubled_dir.glob("eventlog_v2_*"))
    app_id = source.name.removeprefix("eventlog_v2_")
    files = sorted(source.glob("events_*"), key=lambda f: int(f.name.split("_")[1]))
    for name, codec in (("none", None), ("lz4", codecs.LZ4CompressionCodec(conf)),
                        ("snappy", codecs.SnappyCompressionCodec(conf))):
        target = out / name
        target.mkdir(parents=True, exist_ok=True)
        sink = jvm.java.io.FileOutputStream(str(target / (app_id if codec is None else f"{app_id}.{name}")))
        stream = sink if codec is None else codec.compressedContinuousOutputStream(sink)
        for events in files:
            source_stream = codecs.ZStdCompressionCodec(conf).compressedInputStream(
                jvm.java.io.FileInputStream(str(events)))
            source_stream.transferTo(stream)
            source_stream.close()
        stream.close()


def wait_for_job_start(log_dir: Path, job_id: int, timeout_s: float = 60) -> None:
    """Wait until the event log holds the job's start (Spark flushes the log on every SparkListenerJobStart)."""
    import zstandard

    needle = f'"Event":"SparkListenerJobStart","Job ID":{job_id},'.encode()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for events in log_dir.glob("eventlog_v2_*/events_*"):
            with events.open("rb") as raw:
                data = zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True).read()
            if needle in data:
                return
        time.sleep(0.2)
    raise SystemExit(f"job {job_id} never appeared in {log_dir}")


def dead(out: Path, ids: dict[str, str]) -> None:
    """A failed job, then the driver JVM is killed while the next job runs; never returns."""
    spark = session("doctor-dead", "local[2]", out / "dead")
    sc = spark.sparkContext
    ids["dead"] = sc.applicationId
    reencode(spark, out / "troubled", out / "variants")
    (out / "apps.json").write_text(json.dumps(ids))
    with contextlib.suppress(Exception):  # the job is meant to fail
        sc.parallelize(range(2), 2).map(always_fail).count()
    threading.Thread(target=lambda: sc.parallelize(range(2), 2).map(lambda x: time.sleep(60)).count(),
                     daemon=True).start()
    wait_for_job_start(out / "dead", job_id=1)
    os.kill(sc._jvm.java.lang.ProcessHandle.current().pid(), signal.SIGKILL)
    os._exit(0)


if __name__ == "__main__":
    out_dir = Path(sys.argv[1])
    apps = {"clean": clean(out_dir)}
    apps["troubled"] = troubled(out_dir)
    apps["round2"] = round2(out_dir)
    apps["killed"] = killed(out_dir)
    dead(out_dir, apps)
