"""Proof that graceful decommissioning keeps a lost executor's shuffle: two real runs of Spark 4.0.4, compared.

Each run starts `local-cluster[2,1,1024]` (a standalone master and workers in this JVM, each executor its own JVM),
writes a shuffle on both executors, then stops one executor the way Kubernetes does when decommissioning is on:
the pod's preStop hook runs /opt/decom.sh, which sends the executor JVM SIGPWR (Spark's kubernetes/dockerfiles/
spark/decom.sh). The executor's SIGPWR handler exists only with spark.decommission.enabled (CoarseGrainedExecutor-
Backend); without it the signal ends the JVM, as the kubelet's SIGKILL would after the grace period. Then the same
shuffle is read again and the event log tells whether a stage was recomputed:

    python -m tools.dev.shuffle_proof            # both runs, a table, exit 1 if the outcome is not as claimed
    python -m tools.dev.shuffle_proof --json

With decommissioning on, the executor migrates its shuffle blocks to its peer before exiting, the next job finds
every map output and skips the map stage. With it off, the map outputs on the lost executor are gone and the map
stage runs again (a stage attempt above 0), which on a real cluster can mean hours of recomputation.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from infra.config import ShuffleConfig
from infra.spark.shuffle import shuffle_spark_conf

ROWS = 200_000
PARTITIONS = 8


@dataclass(frozen=True)
class RunResult:
    decommission: bool
    answer: int  # the job's result, before and after the loss (must match)
    answer_after_loss: int
    stages_before_loss: int
    stages_after_loss: int
    recomputed_stages: int  # stages of the job after the loss other than its result stage
    recomputed_tasks: int
    stage_attempts_above_0: int


def _executor_pids(app_id: str) -> list[int]:
    """The executor JVMs of `app_id`: CoarseGrainedExecutorBackend processes started by the local workers."""
    out = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True, check=True).stdout
    return [int(line.split(None, 1)[0]) for line in out.splitlines()
            if "CoarseGrainedExecutorBackend" in line and app_id in line]


def _submitted_stages(event_dir: Path) -> list[list[dict[str, Any]]]:
    """The stages each job submitted (their Stage Info), job by job, from the run's event log."""
    jobs: list[list[dict[str, Any]]] = []
    for log in sorted(p for p in event_dir.rglob("*") if p.is_file()):
        for line in log.read_text(encoding="utf-8").splitlines():
            event = json.loads(line)
            if event.get("Event") == "SparkListenerJobStart":
                jobs.append([])
            elif event.get("Event") == "SparkListenerStageSubmitted":
                jobs[-1].append(event["Stage Info"])
    return jobs


def run(decommission: bool, work: Path) -> RunResult:
    """One run: shuffle, lose an executor through the decommission signal, read the shuffle again."""
    from pyspark.sql import SparkSession

    events = work / ("events-on" if decommission else "events-off")
    events.mkdir(parents=True)
    builder = (SparkSession.builder.master("local-cluster[2,1,1024]").appName(f"shuffle-proof-{decommission}")
               .config("spark.ui.enabled", "false").config("spark.eventLog.enabled", "true")
               .config("spark.eventLog.dir", events.as_uri())
               .config("spark.eventLog.compress", "false").config("spark.eventLog.rolling.enabled", "false")
               .config("spark.executor.memory", "512m").config("spark.driver.memory", "512m"))
    if decommission:
        # The platform's settings for the mode, exactly as the stack writes them (infra/spark/shuffle.py).
        for key, value in shuffle_spark_conf("decommission", ShuffleConfig(mode="decommission")).items():
            builder = builder.config(key, value)
    spark = builder.getOrCreate()
    sc = spark.sparkContext
    try:
        sums = (sc.parallelize(range(ROWS), PARTITIONS).map(lambda i: (i % 1000, i))
                .reduceByKey(lambda a, b: a + b, PARTITIONS).map(lambda kv: kv[1]))
        answer = sums.sum()
        pids = _executor_pids(sc.applicationId)
        if len(pids) != 2:
            raise RuntimeError(f"expected 2 executor JVMs for {sc.applicationId}, found {pids}")
        os.kill(pids[0], signal.SIGPWR)  # what decom.sh does in the preStop hook
        deadline = time.monotonic() + 120
        while pids[0] in _executor_pids(sc.applicationId):
            if time.monotonic() > deadline:
                raise RuntimeError("the signalled executor did not exit within 120 s")
            time.sleep(0.5)
        time.sleep(2)  # let the driver process the executor's removal
        answer_after = sums.sum()
    finally:
        spark.stop()
    before, after = _submitted_stages(events)
    # The job after the loss needs only its result stage; any other stage it submits re-runs map tasks whose
    # shuffle output was lost (the DAGScheduler forgets finished jobs' stages, so a re-run gets a new stage id).
    rerun = after[:-1]
    return RunResult(
        decommission=decommission, answer=answer, answer_after_loss=answer_after,
        stages_before_loss=len(before), stages_after_loss=len(after), recomputed_stages=len(rerun),
        recomputed_tasks=sum(stage["Number of Tasks"] for stage in rerun),
        stage_attempts_above_0=sum(1 for stage in [*before, *after] if stage["Stage Attempt ID"] > 0),
    )


def as_claimed(off: RunResult, on: RunResult) -> bool:
    """The claim: both runs give the right sum before and after the loss; only the run without decommissioning
    re-ran a stage."""
    expected = sum(range(ROWS))
    right = all(r.answer == r.answer_after_loss == expected for r in (off, on))
    return right and off.recomputed_stages > 0 and on.recomputed_stages == 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--keep", type=Path, help="keep both runs' event logs in this (new) folder, e.g. for "
                        "`sparkstack doctor`")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="shuffle-proof-") as tmp:
        work = args.keep or Path(tmp)
        os.environ.setdefault("SPARK_HOME", str(Path(__import__("pyspark").__file__).parent))
        results = [run(False, work / "off"), run(True, work / "on")]
    ok = as_claimed(*results)
    if args.json:
        print(json.dumps({"ok": ok, "runs": [asdict(r) for r in results]}, indent=2))
    else:
        for r in results:
            print(f"decommission={'on ' if r.decommission else 'off'}  answer={r.answer_after_loss}  "
                  f"stages after the loss={r.stages_after_loss}  recomputed stages={r.recomputed_stages} "
                  f"({r.recomputed_tasks} tasks)")
        print("as claimed" if ok else "NOT as claimed")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

