"""SQL plan metrics of each query (SQL execution), folded when the query ends, in memory bounded by its plan.

Spark 4.0.4 writes no metric values into its SQL events. The plan in ``SparkListenerSQLExecutionStart`` and each
``SparkListenerSQLAdaptiveExecutionUpdate`` (AQE's re-plans) names every node's metrics by accumulator id. The values
arrive later: per task in ``SparkListenerTaskEnd``'s "Accumulables" (metadata "sql"), and from the driver in
``SparkListenerDriverAccumUpdates``. These are added up here by accumulator id, for the few metrics the checks read:

- files read (FileSourceScanLike's driver metrics "number of files read" and "size of files read");
- files written (BasicWriteJobStatsTracker's "number of written files" and "written output");
- the size of each broadcast (BroadcastExchangeExec's driver metric "data size");
- the two sides of each sort-merge join: the "data size" of the first shuffle Exchange under each child.

Metric names as in the spark-sql_2.13-4.0.4.jar classes named. ``SparkListenerSQLExecutionEnd`` closes a query:
its figures become one `QuerySummary` and its accumulator ids are forgotten.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SQL = "org.apache.spark.sql.execution.ui."
EXECUTION_START = SQL + "SparkListenerSQLExecutionStart"
ADAPTIVE_UPDATE = SQL + "SparkListenerSQLAdaptiveExecutionUpdate"
DRIVER_ACCUM = SQL + "SparkListenerDriverAccumUpdates"
EXECUTION_END = SQL + "SparkListenerSQLExecutionEnd"
SQL_EVENTS = {EXECUTION_START, ADAPTIVE_UPDATE, DRIVER_ACCUM}  # EXECUTION_END is read by log_summary

_FILE_METRICS = {"number of files read": "files_read", "size of files read": "bytes_read",
                 "number of written files": "files_written", "written output": "bytes_written"}


@dataclass
class QuerySummary:
    """One SQL execution's file, broadcast and join figures."""

    execution: int
    description: str
    files_read: int = 0
    bytes_read: int = 0
    files_written: int = 0
    bytes_written: int = 0
    broadcasts: list[int] = field(default_factory=list)  # bytes of each broadcast table
    joins: list[tuple[int, int]] = field(default_factory=list)  # (smaller, larger) side of each sort-merge join


@dataclass
class _Query:
    description: str
    roles: dict[int, tuple[str, Any]] = field(default_factory=dict)  # accumulator id -> (role, key)


class SqlMetrics:
    """Adds up the plan metrics the checks read, query by query."""

    def __init__(self) -> None:
        self.queries: list[QuerySummary] = []
        self._open: dict[int, _Query] = {}
        self._values: dict[int, int] = {}  # accumulator id -> value so far
        self._owner: dict[int, int] = {}  # accumulator id -> execution id

    def feed(self, event: dict[str, Any]) -> None:
        kind = event["Event"]
        if kind in (EXECUTION_START, ADAPTIVE_UPDATE):
            execution = int(event.get("executionId", -1))
            query = self._open.setdefault(execution, _Query(str(event.get("description") or "")))
            plan = event.get("sparkPlanInfo")
            if plan:
                # AQE re-planned: a join it turned into a broadcast join is gone; what the new plan still has
                # keeps the values counted so far
                forgotten = self._forget(query, ("join_side", "broadcast")) if kind == ADAPTIVE_UPDATE else []
                self._register(execution, query, plan)
                for acc_id in forgotten:
                    if acc_id not in self._owner:
                        self._values.pop(acc_id, None)
        elif kind == DRIVER_ACCUM:
            for update in event.get("accumUpdates") or ():
                if len(update) == 2 and update[0] in self._owner:
                    self._values[update[0]] = self._values.get(update[0], 0) + int(update[1])

    def task_accumulables(self, accumulables: list[dict[str, Any]]) -> None:
        """A task's SQL metric updates, for the accumulators some open query reads."""
        owner, values = self._owner, self._values
        if not owner:
            return
        for acc in accumulables:
            acc_id = acc.get("ID")
            if acc_id in owner:
                try:
                    values[acc_id] = values.get(acc_id, 0) + int(acc.get("Update") or 0)
                except (TypeError, ValueError):
                    continue

    def end(self, execution: int) -> None:
        query = self._open.pop(execution, None)
        if query is None:
            return
        summary = QuerySummary(execution, query.description)
        broadcasts: dict[int, int] = {}
        sides: dict[int, dict[int, int]] = {}
        owned = [a for a, e in self._owner.items() if e == execution]
        for acc_id in owned:
            self._owner.pop(acc_id, None)
        values = {a: self._values.pop(a, 0) for a in {*owned, *query.roles}}
        for acc_id, (role, key) in query.roles.items():
            value = values[acc_id]
            if role in ("files_read", "bytes_read", "files_written", "bytes_written"):
                setattr(summary, role, getattr(summary, role) + value)
            elif role == "broadcast":
                broadcasts[acc_id] = value
            elif role == "join_side":
                join, side = key
                sides.setdefault(join, {})[side] = sides.get(join, {}).get(side, 0) + value
        summary.broadcasts = sorted(v for v in broadcasts.values() if v)
        for join in sorted(sides):
            if len(sides[join]) == 2:
                small, large = sorted(sides[join].values())
                summary.joins.append((small, large))
        self.queries.append(summary)

    def _forget(self, query: _Query, roles: tuple[str, ...]) -> list[int]:
        forgotten = []
        for acc_id in [a for a, (role, _) in query.roles.items() if role in roles]:
            del query.roles[acc_id]
            self._owner.pop(acc_id, None)
            forgotten.append(acc_id)
        return forgotten

    def _claim(self, execution: int, query: _Query, acc_id: Any, role: str, key: Any = None) -> None:
        if isinstance(acc_id, int):
            query.roles[acc_id] = (role, key)
            self._owner[acc_id] = execution
            self._values.setdefault(acc_id, 0)

    def _register(self, execution: int, query: _Query, node: dict[str, Any]) -> None:
        name = node.get("nodeName", "")
        metrics = {m.get("name"): m.get("accumulatorId") for m in node.get("metrics") or ()}
        for metric, role in _FILE_METRICS.items():
            if metric in metrics:
                self._claim(execution, query, metrics[metric], role)
        if name == "BroadcastExchange" and "data size" in metrics:
            self._claim(execution, query, metrics["data size"], "broadcast")
        children = node.get("children") or []
        if name == "SortMergeJoin" and len(children) == 2:
            join = metrics.get("number of output rows")
            for side, child in enumerate(children):
                exchange = _first_exchange(child)
                if exchange is not None and join is not None:
                    self._claim(execution, query, exchange, "join_side", (join, side))
        for child in children:
            self._register(execution, query, child)


def _first_exchange(node: dict[str, Any]) -> int | None:
    """The "data size" accumulator of the first shuffle Exchange under a join's child, not crossing another join."""
    if node.get("nodeName") == "Exchange":
        for m in node.get("metrics") or ():
            if m.get("name") == "data size":
                return m.get("accumulatorId")
        return None
    if "Join" in node.get("nodeName", ""):
        return None
    for child in node.get("children") or ():
        found = _first_exchange(child)
        if found is not None:
            return found
    return None
