"""What one stage attempt gathers while it runs (`Running`) and the summary it is folded into when it ends
(`StageSummary`), plus what the application's executors and cached RDDs did: O(1) per task, O(executors) per
stage. `tools/doctor/log_summary.py` fills them from the event stream.
"""

from __future__ import annotations

from array import array
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

# Executor memory metrics kept as peaks (ExecutorMetricType in spark-core_2.13-4.0.4.jar names them): per stage and
# executor from each task end's "Task Executor Metrics" (always logged) and SparkListenerStageExecutorMetrics (only
# with spark.eventLog.logStageExecutorMetrics=true, off by default). The process-tree RSS figures are 0 unless
# spark.executor.processTreeMetrics.enabled=true.
PEAK_METRICS = ("JVMHeapMemory", "JVMOffHeapMemory", "OnHeapExecutionMemory", "OffHeapExecutionMemory",
                "ProcessTreeJVMRSSMemory", "ProcessTreePythonRSSMemory", "ProcessTreeOtherRSSMemory")
# Fixed task-duration histogram bins (upper edges, ms; the last bin is open): memory per stage stays constant.
DURATION_BINS_MS = (10, 30, 100, 300, 1_000, 3_000, 10_000, 30_000, 100_000, 300_000)


@dataclass
class Running:
    """Per-task numbers of one stage attempt, kept only while it runs (compact arrays, not dicts)."""

    name: str = ""
    submitted: int | None = None
    run_ms: array = field(default_factory=lambda: array("q"))
    duration_ms: array = field(default_factory=lambda: array("q"))
    shuffle_read: array = field(default_factory=lambda: array("q"))
    input_read: array = field(default_factory=lambda: array("q"))
    gc_ms: float = 0.0
    all_run_ms: float = 0.0
    memory_spilled: int = 0
    disk_spilled: int = 0
    failures: Counter = field(default_factory=Counter)
    failed_tasks: set = field(default_factory=set)
    executors_lost: set = field(default_factory=set)
    completed: int | None = None
    histogram: list = field(default_factory=lambda: [0] * (len(DURATION_BINS_MS) + 1))
    totals: list = field(default_factory=lambda: [0, 0, 0, 0])  # input, output, shuffle read and write bytes
    peaks: dict = field(default_factory=dict)  # executor id -> {metric: peak}
    heap_peak: int = 0  # the largest JVMHeapMemory in the task-end executor metrics
    shuffle_join: bool = False  # reads two shuffles zipped together: a sort-merge (or shuffled hash) join
    shuffle_write_max: int = 0  # the largest task's shuffle bytes written (one map output)
    output_max: int = 0  # the largest task's output bytes written
    input_total: int = 0
    shuffle_read_total: int = 0


@dataclass
class StageSummary:
    """What the checks need from one stage attempt, O(1) in its number of tasks."""

    stage: int
    attempt: int
    name: str
    tasks: int
    wall_s: float | None
    failed: str | None
    run: tuple[float, float, int]  # max, median, index of max (ms)
    shuffle_read: tuple[float, float, int]
    input_read: tuple[float, float, int]
    median_duration_ms: float
    run_s: float
    gc_s: float
    memory_spilled: int
    disk_spilled: int
    failures: Counter  # (reason, exception, message) -> failed attempts
    failed_tasks: set
    executors_lost: set
    # For the HTML report, --suggest and the comparison (tools/doctor/report_html.py, suggest.py, compare.py):
    submitted_ms: int | None = None
    completed_ms: int | None = None
    duration_quantiles: tuple[float, ...] = ()  # successful tasks' durations (ms): min, p25, median, p75, max
    duration_histogram: tuple[int, ...] = ()  # successful tasks per DURATION_BINS_MS bin
    input_bytes: int = 0  # every task attempt's bytes, failed ones too (what the run did; *_total: successes)
    output_bytes: int = 0
    shuffle_read_bytes: int = 0
    shuffle_write_bytes: int = 0
    executor_peaks: dict[str, dict[str, int]] = field(default_factory=dict)  # executor -> metric -> peak
    # Added in round 2 (issue 20); defaults keep older constructors working.
    run_second: float = 0.0  # the second longest successful task run (ms): one outlier alone is no skew
    shuffle_nonzero: tuple[int, float] = (0, 0.0)  # tasks that read any shuffle data, their median bytes
    input_nonzero: tuple[int, float] = (0, 0.0)
    heap_peak: int = 0  # JVMHeapMemory peak over the stage's task-end executor metrics, 0 if never sampled
    settings: dict = field(default_factory=dict)  # JOB_SETTINGS of the job that ran it, as run
    execution_id: int | None = None  # spark.sql.execution.id of that job
    shuffle_join: bool = False  # the stage zips two shuffled inputs (ZippedPartitionsRDD2): a shuffled join
    shuffle_write_max: int = 0
    output_max: int = 0
    input_total: int = 0  # bytes read by its successful tasks (what the checks judge per task)
    shuffle_read_total: int = 0


def _quantile(ordered: list, q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default), on an already sorted list."""
    if not ordered:
        return 0.0
    pos = (len(ordered) - 1) * q
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def merge_peaks(into: dict[str, dict[str, int]], executor: str, metrics: dict[str, Any] | None) -> None:
    if not metrics:
        return
    mine = into.get(executor)
    if mine is None:
        mine = into[executor] = {}
    get, have = metrics.get, mine.get
    for name in PEAK_METRICS:
        value = get(name, 0)
        if value > have(name, -1):
            mine[name] = value


def with_extras(summary: StageSummary, run: Running) -> StageSummary:
    """The fields the report, the suggestion and the comparison read, from what the stage attempt gathered."""
    ordered = sorted(run.duration_ms)
    summary.submitted_ms, summary.completed_ms = run.submitted, run.completed
    summary.duration_quantiles = tuple(_quantile(ordered, q) for q in (0, 0.25, 0.5, 0.75, 1)) if ordered else ()
    summary.duration_histogram = tuple(run.histogram)
    summary.input_bytes, summary.output_bytes, summary.shuffle_read_bytes, summary.shuffle_write_bytes = run.totals
    summary.executor_peaks = run.peaks
    return summary


@dataclass
class ExecutorWork:
    """What one executor's tasks did over the application (Dr. Elephant's executor distributions)."""

    tasks: int = 0
    run_ms: int = 0
    input_bytes: int = 0
    shuffle_read: int = 0
    shuffle_write: int = 0
    heap_peak: int = 0


@dataclass
class CachedRdd:
    """A persisted RDD (a cached DataFrame's InMemoryRelation among them) as completed stages reported it."""

    name: str
    jobs: set = field(default_factory=set)  # "query N" or "job N" that used it
    partitions: int = 0


def median(values: array) -> float:
    ordered = sorted(values)
    n = len(ordered)
    if n == 0:
        return 0.0
    mid = n // 2
    return ordered[mid] if n % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def nonzero_median(values: array) -> tuple[int, float]:
    kept = array("q", (v for v in values if v))
    return (len(kept), median(kept))


def second_largest(values: array) -> float:
    if len(values) < 2:
        return 0.0
    top = sorted(values)
    return top[-2]


def max_median(values: array) -> tuple[float, float, int]:
    if not values:
        return (0.0, 0.0, -1)
    top = max(values)
    return (top, median(values), values.index(top))
