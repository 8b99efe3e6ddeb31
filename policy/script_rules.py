"""The shipped scripts' rule: `collect()` or `toPandas()` on a DataFrame that was not bounded first.

The scripts ConfigMap's data is parsed with `ast`, never executed. `take`, `head` and `show` fetch a bounded
number of rows themselves and are not flagged; a `collect()`/`toPandas()` passes when its chain goes through
`limit(n)`, a global aggregation or `summary`/`describe`, when its receiver is an imported name (`gc.collect()`),
or when its line is marked `# policy: allow-collect`. Standard library only, like the rest of the pack.
"""

from __future__ import annotations

import ast
import io
import tokenize
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

ALLOW_COLLECT = "policy: allow-collect"
_UNBOUNDED_ACTIONS = frozenset({"collect", "toPandas"})
_ROW_MULTIPLYING = frozenset({"join", "crossJoin", "union", "unionAll", "unionByName"})
_GROUPING = frozenset({"groupBy", "groupby", "rollup", "cube", "groupingSets"})
_SMALL_BY_CONSTRUCTION = frozenset({"summary", "describe"})


@dataclass(frozen=True)
class Step:
    name: str
    has_args: bool


def _chain(expr: ast.expr) -> list[Step]:
    """Method and attribute names from the action back to the chain's root (`df.where(c).limit(5)` gives
    limit, where)."""
    steps: list[Step] = []
    while True:
        if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute):
            steps.append(Step(expr.func.attr, bool(expr.args or expr.keywords)))
            expr = expr.func.value
        elif isinstance(expr, ast.Attribute):
            steps.append(Step(expr.attr, False))
            expr = expr.value
        elif isinstance(expr, ast.Subscript):
            expr = expr.value
        else:
            return steps


def is_bounded(receiver: ast.expr) -> bool:
    """True when the chain visibly caps its rows: a `limit(n)`, a global aggregate (`agg` not right after a
    grouping with keys) or `summary`/`describe`, with no join or union between it and the action."""
    steps = _chain(receiver)
    for index, step in enumerate(steps):
        if step.name in _ROW_MULTIPLYING:
            return False
        if step.name == "limit" or step.name in _SMALL_BY_CONSTRUCTION:
            return True
        if step.name == "agg":
            before = steps[index + 1] if index + 1 < len(steps) else None
            return before is None or before.name not in _GROUPING or not before.has_args
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

    def message(self) -> str:
        where = "the driver's Python process, copied again into pandas" if self.action == "toPandas" else "the driver"
        return (
            f"{self.file}:{self.line}: {self.code} brings every row of an unbounded DataFrame into {where}. Fix: "
            f"write the result out, or bound it first (.limit(n), .take(n), .head(n), .show(n)); for a result that "
            f"is small by construction, say so with a `# {ALLOW_COLLECT}` comment on that line."
        )


def unbounded_collects(source: str, file: str = "<script>") -> list[CollectFinding]:
    """`X.collect()` / `X.toPandas()` calls whose receiver is not visibly bounded (see `is_bounded`).

    Any receiver counts as a DataFrame (or RDD), except a name bound by an import in the same file (so
    `gc.collect()` passes). A variable bounded on another line (`small = df.limit(5)`) cannot be seen;
    mark such lines with `# policy: allow-collect`. The source is parsed with `ast`, never executed."""
    tree = ast.parse(source, filename=file)
    imported = _imported_names(tree)
    comments = _comments(source)
    found = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        if node.func.attr not in _UNBOUNDED_ACTIONS or node.args or node.keywords:
            continue
        receiver = node.func.value
        if isinstance(receiver, ast.Name) and receiver.id in imported:
            continue
        if is_bounded(receiver):
            continue
        lines = range(node.lineno, (node.end_lineno or node.lineno) + 1)
        if any(ALLOW_COLLECT in comments.get(line, "") for line in lines):
            continue
        code = ast.unparse(node)
        found.append(CollectFinding(file, node.lineno, code if len(code) <= 80 else code[:77] + "...",
                                    node.func.attr))
    return sorted(found, key=lambda f: (f.file, f.line))


def check_scripts(data: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:
    """Every `*.py` in the scripts ConfigMap, parsed (never run): unbounded collect()/toPandas() calls."""
    found: list[str] = []
    for name in sorted(data):
        if not str(name).endswith(".py"):
            continue
        source = data[name]
        try:
            findings = unbounded_collects(str(source), str(name))
        except SyntaxError as exc:
            found.append(f"{name}:{exc.lineno}: does not parse as Python ({exc.msg}); the rule cannot check it.")
            continue
        found.extend(f.message() for f in findings)
    return found
