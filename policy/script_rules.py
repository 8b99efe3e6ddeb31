"""The shipped scripts' rule: fetching every row of a DataFrame that was not bounded first into the driver.

Every `*.py` entry of a ConfigMap is parsed with `ast`, never executed. The unbounded fetches are `collect()`,
`toPandas()`, `toArrow()` (Spark 4.0), `collectAsMap()` (RDDs) and `to_pandas()` (pandas-on-Spark, e.g.
`df.pandas_api().to_pandas()`), also through an alias (`c = df.collect; c()`). `take`, `head` and `show` fetch a
bounded number of rows themselves and are not flagged; a fetch passes when its chain goes through `limit(n)`, a
global aggregation (`agg`, or `select` of aggregate functions only, or `groupBy()` without keys then `count`,
`sum`, ...) or `summary`/`describe`, when its receiver is an imported name (`gc.collect()`), or when its line is
marked `# policy: allow-collect`. Standard library only, like the rest of the pack.
"""

from __future__ import annotations

import ast
import io
import tokenize
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from spark_submit_conf import Unknown
from spec_values import UndecidedError, UnreadableError

ALLOW_COLLECT = "policy: allow-collect"
_UNBOUNDED_ACTIONS = frozenset({"collect", "toPandas", "toArrow", "collectAsMap", "to_pandas"})
# pyspark.sql.functions that fold every row into one value (collect_list/collect_set do not bound the size).
_AGGREGATE_FUNCTIONS = frozenset({
    "max", "min", "sum", "count", "avg", "mean", "countDistinct", "count_distinct", "approx_count_distinct",
    "sumDistinct", "sum_distinct", "first", "last", "stddev", "stddev_samp", "stddev_pop", "variance", "var_samp",
    "var_pop", "max_by", "min_by", "percentile_approx", "median", "mode", "any_value", "bool_and", "bool_or",
    "every", "some", "count_if", "kurtosis", "skewness", "corr", "covar_pop", "covar_samp", "product",
})
_GROUPED_SHORTCUTS = frozenset({"agg", "count", "sum", "max", "min", "avg", "mean"})
_ROW_MULTIPLYING = frozenset({"join", "crossJoin", "union", "unionAll", "unionByName"})
_GROUPING = frozenset({"groupBy", "groupby", "rollup", "cube", "groupingSets"})
_SMALL_BY_CONSTRUCTION = frozenset({"summary", "describe"})


@dataclass(frozen=True)
class Step:
    name: str
    has_args: bool
    args: tuple[ast.expr, ...] = ()


def _chain(expr: ast.expr) -> list[Step]:
    """Method and attribute names from the action back to the chain's root (`df.where(c).limit(5)` gives
    limit, where)."""
    steps: list[Step] = []
    while True:
        if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute):
            steps.append(Step(expr.func.attr, bool(expr.args or expr.keywords), tuple(expr.args)))
            expr = expr.func.value
        elif isinstance(expr, ast.Attribute):
            steps.append(Step(expr.attr, False))
            expr = expr.value
        elif isinstance(expr, ast.Subscript):
            expr = expr.value
        else:
            return steps


def _is_aggregate_call(expr: ast.expr) -> bool:
    """`F.max('x')`, `max('x')`, `F.sum(c).alias('s')`: an aggregate function, possibly renamed."""
    while (isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute)
           and expr.func.attr in ("alias", "name", "cast")):
        expr = expr.func.value
    if not isinstance(expr, ast.Call):
        return False
    func = expr.func
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
    return name in _AGGREGATE_FUNCTIONS


def is_bounded(receiver: ast.expr) -> bool:
    """True when the chain visibly caps its rows: a `limit(n)`, a global aggregate (`agg` not right after a
    grouping with keys, a `select` of aggregate functions only, `groupBy()` without keys then `count()` and the
    like) or `summary`/`describe`, with no join or union between it and the action."""
    steps = _chain(receiver)
    for index, step in enumerate(steps):
        if step.name in _ROW_MULTIPLYING:
            return False
        if step.name == "limit" or step.name in _SMALL_BY_CONSTRUCTION:
            return True
        before = steps[index + 1] if index + 1 < len(steps) else None
        if step.name in _GROUPED_SHORTCUTS and before is not None and before.name in _GROUPING:
            return not before.has_args
        if step.name == "agg":
            return True  # not after a grouping: a global aggregate
        if step.name == "select" and step.args and all(_is_aggregate_call(a) for a in step.args):
            return True
    return False


def _comments(source: str) -> dict[int, str]:
    comments: dict[int, str] = {}
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type == tokenize.COMMENT:
                comments[token.start[0]] = token.string
    except (tokenize.TokenError, SyntaxError):
        pass
    return comments


def _imported_names(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.asname or alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            names.update(alias.asname or alias.name for alias in node.names)
    return names


@dataclass(frozen=True)
class CollectFinding:
    file: str
    line: int
    code: str
    action: str

    def message(self, more_lines: tuple[int, ...] = ()) -> str:
        where = ("the driver's Python process, copied again into pandas" if self.action in ("toPandas", "to_pandas")
                 else "the driver's Python process as one Arrow table" if self.action == "toArrow" else "the driver")
        also = ""
        if more_lines:
            shown = ", ".join(str(n) for n in more_lines[:10]) + (", ..." if len(more_lines) > 10 else "")
            also = f" ({len(more_lines) + 1} such {self.action}() calls in this file; also at lines {shown})"
        return (
            f"{self.file}:{self.line}: {self.code} brings every row of an unbounded DataFrame into {where}{also}. "
            f"Fix: write the result out, or bound it first (.limit(n), .take(n), .head(n), .show(n)); for a result "
            f"that is small by construction, say so with a `# {ALLOW_COLLECT}` comment on that line."
        )


def _aliases(tree: ast.AST, imported: set[str]) -> dict[str, tuple[str, ast.expr]]:
    """Names bound to a bound fetch method (`c = df.collect`): name -> (action, receiver)."""
    aliases: dict[str, tuple[str, ast.expr]] = {}
    for node in ast.walk(tree):
        if (isinstance(node, ast.Assign) and isinstance(node.value, ast.Attribute)
                and node.value.attr in _UNBOUNDED_ACTIONS):
            receiver = node.value.value
            if isinstance(receiver, ast.Name) and receiver.id in imported:
                continue
            for target in node.targets:
                if isinstance(target, ast.Name):
                    aliases[target.id] = (node.value.attr, receiver)
    return aliases


def _code(source: str, node: ast.expr) -> str:
    """The call as written, its first line (no `ast.unparse`: it recurses, and a long chain exhausts it).
    `ast.get_source_segment` reads the node's offsets as UTF-8 bytes and splits lines as Python does, which slicing
    `str.splitlines()` by column does not (a non-ASCII character before the call, a \x1c in a string)."""
    text = (ast.get_source_segment(source, node) or "").split("\n", 1)[0].strip()
    return text if len(text) <= 80 else text[:77] + "..."


def unbounded_collects(source: str, file: str = "<script>") -> list[CollectFinding]:
    """Unbounded fetches (see the module docstring) whose receiver is not visibly bounded (see `is_bounded`).

    Any receiver counts as a DataFrame (or RDD), except a name bound by an import in the same file (so
    `gc.collect()` passes). A variable bounded on another line (`small = df.limit(5)`) cannot be seen;
    mark such lines with `# policy: allow-collect`. The source is parsed with `ast`, never executed; a UTF-8
    byte-order mark at its start is ignored, as Python ignores it."""
    source = source.removeprefix("\ufeff")
    tree = ast.parse(source, filename=file)
    imported = _imported_names(tree)
    aliases = _aliases(tree, imported)
    comments = _comments(source)
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or node.args or node.keywords:
            continue
        if isinstance(node.func, ast.Attribute) and node.func.attr in _UNBOUNDED_ACTIONS:
            action, receiver = node.func.attr, node.func.value
            if isinstance(receiver, ast.Name) and receiver.id in imported:
                continue
        elif isinstance(node.func, ast.Name) and node.func.id in aliases:
            action, receiver = aliases[node.func.id]
        else:
            continue
        if is_bounded(receiver):
            continue
        span = range(node.lineno, (node.end_lineno or node.lineno) + 1)
        if any(ALLOW_COLLECT in comments.get(line, "") for line in span):
            continue
        found.append(CollectFinding(file, node.lineno, _code(source, node), action))
    return sorted(found, key=lambda f: (f.file, f.line))


def check_scripts(data: Mapping[str, Any], config: Mapping[str, Any]) -> list[Any]:
    """Every `*.py` entry of a ConfigMap, parsed (never run): one message per file and kind of fetch (the first
    call site, with the count and the other lines). A file that cannot be checked is a note, not a violation."""
    found: list[Any] = []
    for name in sorted(data, key=str):
        if not str(name).endswith(".py"):
            continue
        source = data[name]
        if isinstance(source, Unknown):
            found.append(UndecidedError(f"data.{name}"))
            continue
        if not isinstance(source, str):
            found.append(UnreadableError(f"data.{name}", source, "is not text (unknown until apply, or not a "
                                                                   "string), so the rule cannot parse it"))
            continue
        try:
            findings = unbounded_collects(source, str(name))
        except SyntaxError as exc:
            where = f"{name}:{exc.lineno}" if exc.lineno else str(name)  # a null byte has no line
            found.append(f"{where}: does not parse as Python ({exc.msg}); the rule cannot check it.")
            continue
        except (RecursionError, MemoryError, ValueError) as exc:
            found.append(UnreadableError(f"data.{name}", f"{len(source)} characters",
                                         f"cannot be analysed ({type(exc).__name__})"))
            continue
        by_action: dict[str, list[CollectFinding]] = {}
        for finding in findings:
            by_action.setdefault(finding.action, []).append(finding)
        for group in by_action.values():
            found.append(group[0].message(tuple(f.line for f in group[1:])))
    return found
