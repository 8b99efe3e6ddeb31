"""Library module, not a job: Spark session set-up shared by the jobs in this folder.

Only files with a ``main()`` entry point are jobs; this one is imported by ``sales_etl.py`` (it sits next
to it in the jobs ConfigMap, and Python puts the script's own directory on ``sys.path``).
Standard library and PySpark only, Python 3.10+.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

from pyspark import SparkConf, SparkContext
from pyspark.sql import SparkSession

# Only applied when this process starts the JVM itself (a local run, never under spark-submit): a small
# heap is plenty because the aggregation result is tiny, and the throughput collector beats G1 here.
LOCAL_JVM_SETTINGS: dict[str, str] = {
    "spark.driver.memory": "512m",
    "spark.driver.extraJavaOptions": "-XX:+UseParallelGC -Xms64m",
    "spark.ui.enabled": "false",
}
SPLITS_PER_CORE = 8


def jvm_running() -> bool:
    """True under spark-submit (the JVM started this Python) or once a gateway exists."""
    return SparkContext._gateway is not None or "PYSPARK_GATEWAY_PORT" in os.environ


def launch_jvm(extra: Mapping[str, str] | None = None, extra_java_options: str = "") -> None:
    """Start the local JVM with the local settings plus ``extra`` (a no-op when a JVM already runs).

    JVM options can only be chosen before the JVM starts, so a launcher that wants more of them (the
    class archive, the event log of ``tools/dev/local_run.py``) calls this before the job's ``main()``.
    """
    if jvm_running():
        return
    settings = {**LOCAL_JVM_SETTINGS, **(extra or {})}
    if extra_java_options:
        settings["spark.driver.extraJavaOptions"] += " " + extra_java_options
    SparkContext._ensure_initialized(conf=SparkConf(loadDefaults=False).setAll(list(settings.items())))


def start_spark(app_name: str) -> SparkSession:
    """A session on the configured master, or on ``local[*]`` when none is configured.

    Under spark-submit (the operator) the JVM is already running with ``spark.master`` set and nothing
    here changes it. Run directly with python, this process starts the JVM with the local settings.
    """
    launch_jvm()
    # Under spark-submit this connects to its JVM (PYSPARK_GATEWAY_PORT); without the connection SparkConf() would
    # be a Python-only conf that never sees spark-submit's spark.master, and local[*] would replace k8s://.
    SparkContext._ensure_initialized()
    builder = SparkSession.builder.appName(app_name)
    if not SparkConf().contains("spark.master"):  # now reflects spark-submit's or the launcher's settings
        builder = builder.master("local[*]")
    interactive = sys.stderr.isatty()
    spark = builder.config("spark.ui.showConsoleProgress", str(interactive).lower()).getOrCreate()
    if spark.sparkContext.master.startswith("local"):
        tune_local(spark)
    return spark


def tune_local(spark: SparkSession) -> None:
    """Partition sizes for a few local cores; a cluster keeps Spark's defaults and its application's sparkConf.

    A few thousand result groups need a couple of shuffle partitions, not the default 200. The input is cut into
    about eight splits per core instead of splits of up to 128 MB: with a few large splits the cores rarely finish
    together (the first ones run while the JIT still compiles), so one core idles through the last seconds of the
    scan. Spark's split size is min(maxPartitionBytes, max(openCostInBytes, bytes / minPartitionNum))
    (``FilePartition.maxSplitBytes``, spark-sql 4.0.4), so small inputs keep 4 MB splits.
    """
    cores = spark.sparkContext.defaultParallelism
    spark.conf.set("spark.sql.shuffle.partitions", str(cores))
    spark.conf.set("spark.sql.files.minPartitionNum", str(SPLITS_PER_CORE * cores))
