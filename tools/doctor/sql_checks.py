"""The doctor's checks on SQL plan metrics (tools/doctor/sql_summary.py): small_files, broadcast, join_strategy.

Thresholds, where each comes from, and the Spark keys the advice names: docs/observability.md ("The checks").
"""

from __future__ import annotations

from tools.doctor.finding import Finding, size, size_bytes
from tools.doctor.log_summary import Analysis

# small_files: DataFlint's small-files alerts, an average under 3 MB over more than 100 files; 128 MB is the target.
SMALL_FILE_BYTES = 3 * 1024**2
SMALL_FILES_MIN = 100
FILE_TARGET_BYTES = 128 * 1024**2
# broadcast: DataFlint warns of a broadcast table above 1 GB: built on the driver, copied to every executor.
LARGE_BROADCAST_BYTES = 1024**3
# join_strategy: DataFlint's sort-merge join that could have been a broadcast: (smaller side below, larger side
# above). The first row holds whatever the larger side: under 10 MiB, AQE would have broadcast it if allowed to.
BROADCASTABLE = ((10 * 1024**2, 0), (100 * 1024**2, 10 * 1024**3), (1000 * 1024**2, 300 * 1024**3),
                 (5 * 1024**3, 1024**4))


def check_small_files(a: Analysis, out: list[Finding]) -> None:
    for q in a.sql.queries:
        for way, files, total in (("read", q.files_read, q.bytes_read), ("written", q.files_written,
                                                                         q.bytes_written)):
            if files <= SMALL_FILES_MIN or total / files >= SMALL_FILE_BYTES:
                continue
            average = total / files
            target = max(1, -(-total // FILE_TARGET_BYTES))
            evidence = {"query": q.execution, "description": q.description, "direction": way, "files": files,
                        "bytes": total, "average_bytes": round(average), "suggested_files": target}
            if way == "read":
                advice = (f"{files:,} files of {size(average)} on average: opening and listing each costs more than "
                          f"reading it. Compact them into files of ~128 MiB ({target:,} here) where they are "
                          "written; meanwhile Spark packs small files into tasks up to spark.sql.files."
                          "maxPartitionBytes, counting spark.sql.files.openCostInBytes per file.")
            else:
                advice = (f"{files:,} files of {size(average)} on average were written. Write fewer, larger files "
                          f"(~128 MiB, {target:,} here): coalesce() or repartition() before the write, or with AQE "
                          "use rebalance() and spark.sql.adaptive.advisoryPartitionSizeInBytes; partitionBy on a "
                          "many-valued column multiplies the files.")
            out.append(Finding("small_files", "warning", None, evidence, advice,
                               f"query {q.execution}: {files:,} files {way}, {size(average)} on average"))


def check_broadcast(a: Analysis, out: list[Finding]) -> None:
    for q in a.sql.queries:
        big = [b for b in q.broadcasts if b > LARGE_BROADCAST_BYTES]
        if not big:
            continue
        threshold = a.properties.get("spark.sql.autoBroadcastJoinThreshold", "10MB")
        evidence = {"query": q.execution, "description": q.description, "broadcast_bytes": big,
                    "auto_broadcast_threshold": threshold}
        advice = (f"A {size(max(big))} table was broadcast: the driver collects and builds it, then every executor "
                  "holds a copy. Lower spark.sql.autoBroadcastJoinThreshold (now "
                  f"{threshold}) and spark.sql.adaptive.autoBroadcastJoinThreshold, or drop the broadcast() hint, "
                  "so a join this size is a sort-merge join; keep spark.driver.memory well above the table if it "
                  "must be broadcast.")
        out.append(Finding("broadcast", "warning", None, evidence, advice,
                           f"query {q.execution}: broadcast of {size(max(big))}"))


def check_join_strategy(a: Analysis, out: list[Finding]) -> None:
    threshold = a.properties.get("spark.sql.autoBroadcastJoinThreshold")
    disabled = threshold is not None and threshold.strip().startswith("-")
    for q in a.sql.queries:
        for small, large in q.joins:
            if not any(small < s and large > g for s, g in BROADCASTABLE):
                continue
            evidence = {"query": q.execution, "description": q.description, "smaller_side_bytes": small,
                        "larger_side_bytes": large, "auto_broadcast_threshold": threshold or "10MB (default)"}
            now = size_bytes(threshold, 10 * 1024**2) if threshold and not disabled else None
            setting = ("Broadcast joins are off (spark.sql.autoBroadcastJoinThreshold=-1): " if disabled else
                       f"spark.sql.autoBroadcastJoinThreshold is {size(now)}: " if now is not None else "")
            advice = (f"A sort-merge join shuffled and sorted both sides, but one side was only {size(small)} "
                      f"(the other {size(large)}): broadcasting it would skip the shuffle of the larger side. "
                      + setting + ("r" if setting else "R") + f"aise spark.sql.autoBroadcastJoinThreshold above "
                      f"{size(small)} (and "
                      "spark.sql.adaptive.autoBroadcastJoinThreshold, AQE's own) or hint broadcast() on the small "
                      "side; keep it well under the executors' and the driver's memory.")
            out.append(Finding("join_strategy", "warning", None, evidence, advice,
                               f"query {q.execution}: sort-merge join of {size(small)} with {size(large)}: "
                               "the small side could be broadcast"))
