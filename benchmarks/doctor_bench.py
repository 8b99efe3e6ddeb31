"""Benchmark the doctor's reading speed and memory on a generated event log shaped like a real one.

    .venv/bin/python benchmarks/doctor_bench.py [--stages 100] [--tasks 2000] [--workdir build/bench] [--code DIR]

The log is zstd, as Spark 4 writes it by default: per stage, one SQL query whose plan is a sort-merge join over two
shuffles (a long physical plan description, as real plans carry) and its AQE update, a job, and the stage's tasks,
each task end with executor metrics and 31 accumulator updates (11 of them SQL metrics the doctor adds up), then
the query's end. Each run is a fresh process: CPU time and peak resident memory of the whole process are printed,
with MB/s of uncompressed log per CPU second, best of --repeat. On a shared machine the figures move with the load;
compare runs made one after the other (--code: another tree's tools/doctor, e.g. the previous commit's).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

_RUN = """
import resource, sys, time
from tools.doctor.diagnosis import diagnose
from tools.doctor.eventlog import open_log
start = time.process_time()
analysis, findings = diagnose(open_log(sys.argv[1]))
cpu = time.process_time() - start
print(cpu, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, analysis.tasks)
"""


def generate(path: Path, stages: int, tasks: int) -> int:
    """Write the log; return its uncompressed size in bytes."""
    import zstandard

    size = 0
    plan_text = "".join(f"+- Project [col_{i} AS c{i}]\n" for i in range(10_000))
    with path.open("wb") as raw, zstandard.ZstdCompressor(level=3).stream_writer(raw) as out:
        def write(event: dict) -> None:
            nonlocal size
            line = (json.dumps(event, separators=(",", ":")) + "\n").encode()
            size += len(line)
            out.write(line)

        write({"Event": "SparkListenerLogStart", "Spark Version": "4.0.4"})
        write({"Event": "SparkListenerApplicationStart", "App Name": "bench", "App ID": "app-1", "Timestamp": 0})
        for executor in range(8):
            write({"Event": "SparkListenerExecutorAdded", "Timestamp": 1, "Executor ID": str(executor),
                   "Executor Info": {"Host": "h", "Total Cores": 4}})
        for stage in range(stages):
            base = stage * 100
            exchange = [{"nodeName": "Exchange", "metrics": [{"name": "data size", "accumulatorId": base + side}],
                         "children": []} for side in (1, 2)]
            plan = {"nodeName": "SortMergeJoin", "simpleString": "SortMergeJoin [k], [k], Inner",
                    "metrics": [{"name": "number of output rows", "accumulatorId": base}], "children": exchange}
            sql = "org.apache.spark.sql.execution.ui."
            write({"Event": sql + "SparkListenerSQLExecutionStart", "executionId": stage, "description": "q",
                   "physicalPlanDescription": plan_text, "sparkPlanInfo": plan, "time": 1, "modifiedConfigs": {}})
            write({"Event": sql + "SparkListenerSQLAdaptiveExecutionUpdate", "executionId": stage,
                   "physicalPlanDescription": plan_text, "sparkPlanInfo": plan})
            write({"Event": "SparkListenerJobStart", "Job ID": stage, "Submission Time": 1, "Stage IDs": [stage],
                   "Properties": {"spark.sql.execution.id": str(stage), "spark.sql.adaptive.enabled": "true"}})
            info = {"Stage ID": stage, "Stage Attempt ID": 0, "Stage Name": f"stage {stage}",
                    "Number of Tasks": tasks, "Submission Time": 1000, "RDD Info": []}
            write({"Event": "SparkListenerStageSubmitted", "Stage Info": info})
            for index in range(tasks):
                accumulables = [{"ID": base + i, "Name": f"sql metric {i}", "Update": str(i), "Value": str(i),
                                 "Internal": True, "Count Failed Values": True, "Metadata": "sql"}
                                for i in range(1, 12)]
                accumulables += [{"ID": 10_000_000 + i, "Name": f"internal.metrics.m{i}", "Update": i, "Value": i,
                                  "Internal": True, "Count Failed Values": True} for i in range(20)]
                write({"Event": "SparkListenerTaskEnd", "Stage ID": stage, "Stage Attempt ID": 0,
                       "Task Type": "ResultTask", "Task End Reason": {"Reason": "Success"},
                       "Task Info": {"Task ID": stage * tasks + index, "Index": index, "Attempt": 0,
                                     "Launch Time": 1000, "Executor ID": str(index % 8),
                                     "Finish Time": 1300 + index % 7, "Failed": False, "Killed": False,
                                     "Accumulables": accumulables},
                       "Task Executor Metrics": {"JVMHeapMemory": 10**8 + index, "JVMOffHeapMemory": 10**7,
                                                 "TotalGCTime": 5, "MajorGCCount": 1},
                       "Task Metrics": {"Executor Run Time": 290 + index % 5, "JVM GC Time": 1,
                                        "Memory Bytes Spilled": 0, "Disk Bytes Spilled": 0,
                                        "Input Metrics": {"Bytes Read": 1000},
                                        "Shuffle Read Metrics": {"Remote Bytes Read": 10, "Local Bytes Read": 10},
                                        "Shuffle Write Metrics": {"Shuffle Bytes Written": 5},
                                        "Output Metrics": {"Bytes Written": 0}}})
            write({"Event": "SparkListenerStageCompleted", "Stage Info": {**info, "Completion Time": 2000}})
            write({"Event": "SparkListenerJobEnd", "Job ID": stage, "Completion Time": 2000,
                   "Job Result": {"Result": "JobSucceeded"}})
            write({"Event": sql + "SparkListenerSQLExecutionEnd", "executionId": stage, "time": 2000,
                   "errorMessage": ""})
        write({"Event": "SparkListenerApplicationEnd", "Timestamp": 3000, "ExitCode": 0})
    return size


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stages", type=int, default=100)
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=REPO / "build" / "bench")
    parser.add_argument("--code", type=Path, default=REPO,
                        help="the tree whose tools/doctor runs, e.g. an older commit's `git archive` (default: this)")
    args = parser.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    log = args.workdir / "app-bench.zstd"
    size = generate(log, args.stages, args.tasks)
    print(f"log: {log} ({log.stat().st_size / 1e6:,.1f} MB zstd, {size / 1e6:,.1f} MB uncompressed, "
          f"{args.stages * args.tasks:,} tasks)")
    runs = []
    for _ in range(args.repeat):
        out = subprocess.run([sys.executable, "-c", _RUN, str(log.resolve())], cwd=args.code, check=True,
                             capture_output=True, text=True).stdout.split()
        runs.append((float(out[0]), int(out[1]) / 1024))
    cpu, rss = min(runs)
    print(f"doctor: {cpu:.2f} s CPU (best of {args.repeat}), {size / 1e6 / cpu:,.0f} MB/s, peak RSS {rss:,.0f} MB")
    print(f"load average: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
