"""Right-sizing: `sparkstack doctor LOG --suggest APP` turns a run's measured peaks into the settings to paste under
``sparkstack:applications.<APP>`` in ``Pulumi.<stack>.yaml`` (the keys of infra/config.py's ApplicationConfig).

Every figure comes from the event log (tools/doctor/log_summary.py) and every margin is stated next to it, so a
reader can redo the arithmetic. A log too short to tell (no finished stage, under MIN_RUN_S of task time, no
executor memory metrics) is refused, naming why, rather than answered with defaults dressed up as measurements.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from tools.doctor.log_summary import Analysis

MIB = 1024**2
HEAP_MARGIN = 1.25  # measured heap peak x 1.25: JVMHeapMemory is sampled (spark.executor.metrics.pollingInterval)
ROUND_MIB = 256  # sizes are rounded up to a multiple of this, so small changes in a run do not change the answer
MIN_EXECUTOR_MIB = 512  # above Spark 4.0.4's 450 MiB minimum (UnifiedMemoryManager), checked by infra/values.py
MIN_DRIVER_MIB = 2048  # the policy pack's spark-driver-memory default (policy/sparkstack_rules.py)
OOM_RAISE = 1.5  # a run that died of OOM measured less than it needed: at least the run's memory x 1.5
MIN_OVERHEAD_MIB = 384  # Spark's own floor for memoryOverhead (KubernetesConf / ResourceProfile, 4.0.4)
MIN_OVERHEAD_FRACTION = 0.2  # the policy pack's pyspark-memory-overhead default
TARGET_STAGE_S = 60.0  # slots enough that the stage with the most task time takes about a minute
MAX_CORES_PER_EXECUTOR = 5
TARGET_PARTITION_BYTES = 128 * MIB  # the usual target per shuffle partition (and spark.sql.files.maxPartitionBytes)
MIN_RUN_S = 10.0  # below this much task time a run's peaks and task times say little about the next one
APP_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_SIZE = re.compile(r"(\d+)([kmgtp]?)(b?)", re.IGNORECASE)


class CannotSuggestError(Exception):
    """The log is too short (or too thin) to size from; the message says why and what would do."""


@dataclass
class Suggestion:
    app: str
    settings: dict[str, Any]
    reasons: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"application": self.app, "settings": self.settings, "reasons": self.reasons}


def spark_mib(value: str | None, default_mib: int) -> int:
    """A Spark memory setting in MiB as spark.*.memory reads it (no unit means MiB, JavaUtils.byteStringAsMb)."""
    match = _SIZE.fullmatch((value or "").strip())
    if not match:
        return default_mib
    number, unit = int(match.group(1)), match.group(2).lower() or ("b" if match.group(3) else "m")
    return number * {"b": 1, "k": 1024, "m": MIB, "g": 1024 * MIB, "t": 1024**2 * MIB, "p": 1024**3 * MIB}[unit] // MIB


def _size(mib: float, floor: int) -> int:
    return max(floor, math.ceil(mib / ROUND_MIB) * ROUND_MIB)


def _spark_size(mib: int) -> str:
    return f"{mib // 1024}g" if mib % 1024 == 0 else f"{mib}m"


def _local(a: Analysis) -> bool:
    return a.spark_conf.get("spark.master", "").startswith("local")


def _executor_cores(a: Analysis) -> int:
    if _local(a):
        return a.cores() or 1
    cores = [c for c in a.executor_cores.values() if c] or [int(a.spark_conf.get("spark.executor.cores", "1") or 1)]
    return max(cores)


def _peak(a: Analysis, metric: str, executors: set[str] | None) -> tuple[int, str | None]:
    best, who = 0, None
    for executor, peaks in a.executor_peaks.items():
        if (executors is None or executor in executors) and peaks.get(metric, 0) > best:
            best, who = peaks[metric], executor
    return best, who


def suggest(a: Analysis, app: str, oom: bool = False) -> Suggestion:
    """The settings for APP from one run; raises CannotSuggestError when the log cannot tell."""
    finished = [s for s in a.stages if s.completed_ms is not None and not s.failed]
    run_s = sum(s.run_s for s in a.stages)
    if not finished:
        raise CannotSuggestError("the log has no finished stage, so there is nothing to size from; run the application "
                            "to its end (or past its first stages) and pass that log")
    if run_s < MIN_RUN_S:
        raise CannotSuggestError(f"the log holds {run_s:.1f} s of task time in {len(a.stages)} stage(s), under the "
                            f"{MIN_RUN_S:.0f} s needed to tell peaks from start-up noise; pass the log of a run on "
                            "real data")
    local = _local(a)
    workers = None if local else {e for e in a.executor_peaks if e != "driver"}
    heap, heap_on = _peak(a, "JVMHeapMemory", workers)
    if heap <= 0:
        raise CannotSuggestError("the log holds no executor memory metrics (JVMHeapMemory in the task end events); it "
                            "was written by a Spark older than 3.0 or by hand")
    reasons: list[str] = []
    conf = a.spark_conf
    run_exec_mib = spark_mib(conf.get("spark.driver.memory" if local else "spark.executor.memory"), 1024)
    where = "the driver JVM (local mode: it runs the tasks)" if local else f"executor {heap_on}"
    mem = _size(heap / MIB * HEAP_MARGIN, MIN_EXECUTOR_MIB)
    reasons.append(f"executor.memory {_spark_size(mem)}: heap peak {heap / MIB:,.0f} MiB (JVMHeapMemory, {where}) "
                   f"x {HEAP_MARGIN} margin, rounded up to {ROUND_MIB} MiB, at least {MIN_EXECUTOR_MIB} MiB")
    spilled = sum(s.memory_spilled + s.disk_spilled for s in a.stages)
    if spilled and mem < run_exec_mib:
        mem = _size(run_exec_mib, MIN_EXECUTOR_MIB)
        reasons.append(f"executor.memory kept at the run's {_spark_size(run_exec_mib)}: stages spilled "
                       f"{spilled / MIB:,.0f} MiB, so less execution memory would spill more")
    if oom:
        raised = _size(run_exec_mib * OOM_RAISE, MIN_EXECUTOR_MIB)
        if raised > mem:
            mem = raised
            reasons.append(f"executor.memory {_spark_size(mem)}: the run died of OutOfMemoryError, so its peaks "
                           f"understate the need: the run's {_spark_size(run_exec_mib)} x {OOM_RAISE}")
    cores = min(MAX_CORES_PER_EXECUTOR, max(1, _executor_cores(a)))
    reasons.append(f"executor.cores {cores}: the run's task slots per executor (at most {MAX_CORES_PER_EXECUTOR}); "
                   "the peaks were measured with that many tasks sharing a heap")
    executor: dict[str, Any] = {"cores": cores, "memory": _spark_size(mem)}
    rss = sum(_peak(a, m, workers)[0] for m in ("ProcessTreeJVMRSSMemory", "ProcessTreePythonRSSMemory",
                                               "ProcessTreeOtherRSSMemory"))
    if rss > 0:
        outside = max(0.0, (rss - heap) / MIB)
        overhead = _size(max(outside * HEAP_MARGIN, MIN_OVERHEAD_MIB, mem * MIN_OVERHEAD_FRACTION), MIN_OVERHEAD_MIB)
        executor["memoryOverhead"] = _spark_size(overhead)
        reasons.append(f"executor.memoryOverhead {_spark_size(overhead)}: process-tree RSS peak {rss / MIB:,.0f} MiB "
                       f"minus the heap peak, x {HEAP_MARGIN}, at least {MIN_OVERHEAD_MIB} MiB and "
                       f"{MIN_OVERHEAD_FRACTION:.0%} of memory")
    else:
        reasons.append("executor.memoryOverhead not set: the log has no process-tree memory "
                       "(spark.executor.processTreeMetrics.enabled is off), so Spark's own 40 % for PySpark stays")
    driver_heap = a.executor_peaks.get("driver", {}).get("JVMHeapMemory", 0)
    run_driver_mib = spark_mib(conf.get("spark.driver.memory"), 1024)
    if driver_heap:
        driver_mib = _size(driver_heap / MIB * HEAP_MARGIN, MIN_DRIVER_MIB)
        reasons.append(f"driver.memory {_spark_size(driver_mib)}: driver heap peak {driver_heap / MIB:,.0f} MiB x "
                       f"{HEAP_MARGIN}, at least {MIN_DRIVER_MIB} MiB (the policy pack's spark-driver-memory)")
    else:
        driver_mib = _size(run_driver_mib, MIN_DRIVER_MIB)
        reasons.append(f"driver.memory {_spark_size(driver_mib)}: the driver's peak is not in the log (set "
                       "spark.eventLog.logStageExecutorMetrics=true to record it); the run's setting, at least "
                       f"{MIN_DRIVER_MIB} MiB")
    slots = max(min(s.tasks, math.ceil(s.run_s / TARGET_STAGE_S)) for s in a.stages) or 1
    busiest = max(a.stages, key=lambda s: s.run_s)
    executors = max(1, math.ceil(slots / cores))
    settings: dict[str, Any] = {"driver": {"cores": 1, "memory": _spark_size(driver_mib)}, "executor": executor}
    why_slots = (f"{slots} slot(s): stage {busiest.stage} has {busiest.run_s:,.1f} s of task time in "
                 f"{busiest.tasks} task(s), about {TARGET_STAGE_S:.0f} s of wall time per stage at most, never more "
                 "slots than tasks")
    if conf.get("spark.dynamicAllocation.enabled", "true" if local else "false") == "false" and not local:
        executor["instances"] = executors
        settings["dynamicAllocation"] = {"enabled": False}
        reasons.append(f"executor.instances {executors}: {why_slots}; the run had dynamic allocation off")
    else:
        settings["dynamicAllocation"] = {"enabled": True, "initialExecutors": 1, "minExecutors": 1,
                                         "maxExecutors": executors}
        reasons.append(f"dynamicAllocation.maxExecutors {executors}: {why_slots}; minExecutors 1 keeps one warm")
    shuffle = max((s.shuffle_write_bytes for s in a.stages), default=0)
    if shuffle:
        partitions = max(math.ceil(shuffle / TARGET_PARTITION_BYTES), 2 * executors * cores)
        spark_conf = {"spark.sql.shuffle.partitions": str(partitions)}
        text = (f"spark.sql.shuffle.partitions {partitions}: the largest shuffle wrote {shuffle / MIB:,.1f} MiB; "
                f"{TARGET_PARTITION_BYTES // MIB} MiB per partition, at least 2 per slot")
        if conf.get("spark.sql.adaptive.enabled", "true") != "false":
            spark_conf["spark.sql.adaptive.advisoryPartitionSizeInBytes"] = f"{TARGET_PARTITION_BYTES // MIB}m"
            text += f"; AQE coalesces toward {TARGET_PARTITION_BYTES // MIB} MiB (Spark's default is 64 MiB)"
        settings["sparkConf"] = spark_conf
        reasons.append(text)
    return Suggestion(app, settings, reasons)


def _yaml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return f'"{value}"' if str(value).isdigit() else str(value)


def render_yaml(s: Suggestion, source: str) -> str:
    """The block to merge under sparkstack:applications.<APP>, the reasons as comments above it."""
    lines = [f"# sparkstack doctor --suggest {s.app}, from {source}",
             f"# Merge under sparkstack:applications.{s.app} in Pulumi.<stack>.yaml (keys not shown stay as they are).",
             *(f"# - {reason}" for reason in s.reasons),
             f"{s.app}:"]

    def emit(mapping: dict[str, Any], indent: int) -> None:
        for key, value in mapping.items():
            if isinstance(value, dict):
                lines.append(" " * indent + f"{key}:")
                emit(value, indent + 2)
            else:
                lines.append(" " * indent + f"{key}: {_yaml_value(value)}")

    emit(s.settings, 2)
    return "\n".join(lines)
