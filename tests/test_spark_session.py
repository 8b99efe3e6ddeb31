"""The local session's partition sizing (jobs/spark_session.py), checked on how Spark then splits a real file."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from tests.job_modules import load_job

OPEN_COST = 4 * 1024 * 1024  # spark.sql.files.openCostInBytes default
MAX_SPLIT = 128 * 1024 * 1024  # spark.sql.files.maxPartitionBytes default


def splits(size: int, min_partitions: int) -> int:
    """Spark's split count for one file: min(max split, max(open cost, (bytes + open cost) / min partitions))."""
    return math.ceil(size / min(MAX_SPLIT, max(OPEN_COST, (size + OPEN_COST) // min_partitions)))


def test_local_tuning_cuts_the_input_into_splits_for_every_core(spark, tmp_path: Path) -> None:
    """One split per core by default; after tune_local eight per core, down to Spark's 4 MB floor."""
    spark_session = load_job("spark_session")
    data = tmp_path / "lines.txt"
    data.write_bytes((b"x" * 99 + b"\n") * 120_000)
    size = data.stat().st_size
    keys = ("spark.sql.shuffle.partitions", "spark.sql.files.minPartitionNum")
    before = {key: spark.conf.get(key, None) for key in keys}
    try:
        spark.conf.unset("spark.sql.files.minPartitionNum")  # a job run earlier in this session may have tuned it
        plain = spark.read.text(str(data)).rdd.getNumPartitions()
        spark_session.tune_local(spark)
        tuned = spark.read.text(str(data)).rdd.getNumPartitions()
        shuffle = spark.conf.get("spark.sql.shuffle.partitions")
    finally:
        for key, value in before.items():
            if value is None:
                spark.conf.unset(key)
            else:
                spark.conf.set(key, value)
    cores = spark.sparkContext.defaultParallelism
    assert plain == splits(size, cores)
    assert tuned == splits(size, spark_session.SPLITS_PER_CORE * cores) > plain  # the file is big enough to tell
    assert shuffle == str(cores)


def test_a_launcher_adds_java_options_after_the_local_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    """tools/dev/local_run.py passes the class archive this way: the local options must stay, the new ones follow."""
    spark_session = load_job("spark_session")
    started: list[dict[str, Any]] = []
    monkeypatch.setattr(spark_session, "jvm_running", lambda: False)
    monkeypatch.setattr(spark_session.SparkContext, "_ensure_initialized",
                        classmethod(lambda cls, conf=None, **_: started.append(dict(conf.getAll()))))
    local = spark_session.LOCAL_JVM_SETTINGS["spark.driver.extraJavaOptions"]
    spark_session.launch_jvm({"spark.eventLog.enabled": "true"}, extra_java_options="-XX:SharedArchiveFile=a.jsa")
    spark_session.launch_jvm()
    assert [s["spark.driver.extraJavaOptions"] for s in started] == [f"{local} -XX:SharedArchiveFile=a.jsa", local]
    assert started[0]["spark.eventLog.enabled"] == "true" and "spark.eventLog.enabled" not in started[1]
