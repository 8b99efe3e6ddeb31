"""The scripts rule (policy/script_rules.py) in process: what counts as an unbounded fetch, what bounds one, aliases,
and the exact message a user reads (where the rows land and the fix). Sources are parsed, never run."""

from __future__ import annotations

import pytest
from script_rules import check_scripts, unbounded_collects
from spark_submit_conf import UNKNOWN
from spec_values import UndecidedError, UnreadableError

FIX = ("Fix: write the result out, or bound it first (.limit(n), .take(n), .head(n), .show(n)); for a result that is "
       "small by construction, say so with a `# policy: allow-collect` comment on that line.")


@pytest.mark.parametrize(("source", "where"), [
    ("rows = df.collect()", "df.collect() brings every row of an unbounded DataFrame into the driver."),
    ("rdd.collectAsMap()", "rdd.collectAsMap() brings every row of an unbounded DataFrame into the driver."),
    ("p = df.toPandas()", "df.toPandas() brings every row of an unbounded DataFrame into the driver's Python "
                          "process, copied again into pandas."),
    ("p = ps.to_pandas()", "ps.to_pandas() brings every row of an unbounded DataFrame into the driver's Python "
                           "process, copied again into pandas."),
    ("t = df.toArrow()", "df.toArrow() brings every row of an unbounded DataFrame into the driver's Python process "
                         "as one Arrow table."),
])
def test_the_message_says_where_the_rows_land_and_the_fix(source: str, where: str) -> None:
    found = unbounded_collects(source, "etl.py")
    assert [f.message() for f in found] == [f"etl.py:1: {where} {FIX}"]


@pytest.mark.parametrize(("source", "action"), [
    ("c = df.collect\nrows = c()", "collect"),
    ("t = df.toPandas\nt()", "toPandas"),
    ("a = b = df.toArrow\nb()", "toArrow"),
])
def test_an_alias_of_a_fetch_is_a_fetch(source: str, action: str) -> None:
    found = unbounded_collects(source, "etl.py")
    assert [(f.line, f.action, f.code) for f in found] == [(source.count("\n") + 1, action, source.rsplit("\n")[-1]
                                                           .split("= ")[-1])]


@pytest.mark.parametrize("source", [
    "import gc\nc = gc.collect\nc()",  # an imported module's function, not a DataFrame's
    "from gc import collect as c\nc()",
    "c = df.limit(5).collect\nc()",  # bounded before the alias
    "c, d = df.collect, 1\nc()",  # a tuple target is not tracked (not an alias we can see)
    "c = df.collect\nc(5)",  # called with arguments: not DataFrame.collect()
    "c = df.count\nc()",  # not a fetch
    "import pkg.sub\npkg.collect()",  # `import pkg.sub` binds pkg
    "import numpy as np\nnp.toPandas()",
])
def test_aliases_and_receivers_that_are_not_unbounded_fetches_pass(source: str) -> None:
    assert unbounded_collects(source, "etl.py") == []


def test_an_alias_after_an_imported_one_is_still_tracked() -> None:
    source = "import gc\nc = gc.collect\nd = df.collect\nrows = d()\nc()\n"
    assert [(f.line, f.action) for f in unbounded_collects(source, "etl.py")] == [(4, "collect")]


@pytest.mark.parametrize(("source", "flagged"), [
    ("df.limit(5).join(other, 'k').collect()", True),  # a join after the limit multiplies the rows again
    ("df.join(other, 'k').limit(5).collect()", False),
    ("df.limit(5).crossJoin(other).collect()", True),
    ("df.limit(5).unionByName(other).toPandas()", True),
    ("df.groupBy('k').count().collect()", True),  # one row per key
    ("df.groupBy().count().collect()", False),  # no keys: one row
    ("df.rollup('k').sum('x').collect()", True),
    ("df.cube().max('x').collect()", False),
    ("df.groupby('k').agg(F.sum('x')).collect()", True),
    ("df.describe().collect()", False),
    ("df.summary('count').toPandas()", False),
    ("df.select(F.max('x'), F.min('y').alias('m')).collect()", False),
    ("df.select(F.sum(F.col('x')).cast('long').name('s')).collect()", False),
    ("df.select(max('x')).collect()", False),  # the function imported bare
    ("df.select('x', F.max('y')).collect()", True),  # a plain column: one row per input row
    ("df.select(F.collect_list('x')).collect()", True),  # one row, but as large as the data
    ("df.select(F.upper('x')).collect()", True),
    ("df.select((lambda c: c)('x')).collect()", True),  # a call of neither a name nor an attribute
    ("df.select().collect()", True),  # no columns: not an aggregate
    ("frames['sales'].limit(10).collect()", False),  # subscripts are part of the chain
    ("frames['sales'].collect()", True),
    ("df.where('x > 1').select(F.count('x')).toPandas()", False),
])
def test_what_bounds_a_chain(source: str, flagged: bool) -> None:
    assert bool(unbounded_collects(source, "etl.py")) is flagged


def test_a_multi_line_fetch_is_marked_on_any_of_its_lines_and_shown_from_its_first() -> None:
    source = "rows = (df.where('x > 1')\n        .collect())\n"
    found = unbounded_collects(source, "etl.py")
    assert [(f.line, f.code) for f in found] == [(1, "df.where('x > 1')")]
    assert unbounded_collects(source.replace(".collect())", ".collect())  # policy: allow-collect"), "etl.py") == []
    assert len(unbounded_collects(source.replace(".collect())", ".collect())  # allow"), "etl.py")) == 1


def test_long_code_is_cut_to_80_characters() -> None:
    receiver = "d" * 90
    found = unbounded_collects(f"{receiver}.collect()", "etl.py")
    assert [f.code for f in found] == ["d" * 77 + "..."]
    exact = "e" * 70 + ".collect()"  # 80 characters: shown whole
    assert [f.code for f in unbounded_collects(exact, "etl.py")] == [exact]


@pytest.mark.parametrize("source", [
    'name = "é→"; rows = df.collect()',  # ast's offsets are UTF-8 bytes
    'a = "\x1c"\nrows = df.collect()',  # str.splitlines() would split here, Python does not
    'a = "\x0c"; rows = df.collect()',
])
def test_the_code_shown_is_the_call_whatever_comes_before_it(source: str) -> None:
    assert [f.code for f in unbounded_collects(source, "etl.py")] == ["df.collect()"]


def test_findings_are_sorted_by_line() -> None:
    source = "a = [df.collect(), other.toPandas()]\nb = x.collect()\n"
    assert [(f.line, f.action) for f in unbounded_collects(source, "etl.py")] == [
        (1, "collect"), (1, "toPandas"), (2, "collect")]


# --- the ConfigMap check ---------------------------------------------------------------------------------------


def test_each_file_and_kind_is_reported_once_with_the_other_lines() -> None:
    source = "".join(f"r{i} = df{i}.collect()\n" for i in range(12)) + "p = df.toPandas()\nq = df2.toPandas()\n"
    found = check_scripts({"etl.py": source}, {})
    assert found == [
        "etl.py:1: df0.collect() brings every row of an unbounded DataFrame into the driver (12 such collect() calls "
        f"in this file; also at lines 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, ...). {FIX}",
        "etl.py:13: df.toPandas() brings every row of an unbounded DataFrame into the driver's Python process, copied "
        f"again into pandas (2 such toPandas() calls in this file; also at lines 14). {FIX}",
    ]


def test_eleven_calls_list_all_ten_other_lines_without_an_ellipsis() -> None:
    source = "".join(f"r{i} = df{i}.collect()\n" for i in range(11))
    [message] = check_scripts({"etl.py": source}, {})
    assert "(11 such collect() calls in this file; also at lines 2, 3, 4, 5, 6, 7, 8, 9, 10, 11)." in message


def test_files_are_checked_in_name_order_and_only_python_files() -> None:
    data = {"b.py": "x.collect()", "a.py": "y.collect()", "notes.txt": "z.collect()", "c.pyc": "w.collect()"}
    assert [m.split(":", 1)[0] for m in check_scripts(data, {})] == ["a.py", "b.py"]


def test_a_file_that_cannot_be_read_or_analysed_is_a_note() -> None:
    deep = "rows = df" + ".where('x')" * 3000 + ".collect()\n"  # past the parser's recursion limit
    found = check_scripts({"a.py": UNKNOWN, "b.py": 42, "c.py": "def (:\n", "d.py": "x = 1\x00\n", "e.py": deep}, {})
    assert isinstance(found[0], UndecidedError) and found[0].field == "data.a.py" and not found[0].silent
    assert isinstance(found[1], UnreadableError)
    assert (found[1].field, found[1].value) == ("data.b.py", 42)
    assert found[1].reason == "is not text (unknown until apply, or not a string), so the rule cannot parse it"
    assert found[2] == "c.py:1: does not parse as Python (invalid syntax); the rule cannot check it."
    assert found[3] == ("d.py: does not parse as Python (source code string cannot contain null bytes); the rule "
                        "cannot check it.")
    assert isinstance(found[4], UnreadableError)
    assert (found[4].field, found[4].value, found[4].reason) == (
        "data.e.py", f"{len(deep)} characters", "cannot be analysed (RecursionError)")
    assert len(found) == 5


def test_a_byte_order_mark_is_ignored() -> None:
    assert [f.line for f in unbounded_collects("\ufeffrows = df.collect()\n", "etl.py")] == [1]


# pyspark.sql.functions that fold a group of rows into one value (their docstrings in the pyspark 4.0.4 wheel say
# "Aggregate function" or "... for a group of rows"); each must exist in the pyspark of .venv, so a typo fails.
AGGREGATES = ["any_value", "approx_count_distinct", "avg", "bool_and", "bool_or", "corr", "count", "countDistinct",
              "count_distinct", "count_if", "covar_pop", "covar_samp", "every", "first", "kurtosis", "last", "max",
              "max_by", "mean", "median", "min", "min_by", "mode", "percentile_approx", "product", "skewness", "some",
              "stddev", "stddev_pop", "stddev_samp", "sum", "sumDistinct", "sum_distinct", "var_pop", "var_samp",
              "variance"]


@pytest.mark.parametrize("function", AGGREGATES)
def test_a_select_of_any_aggregate_function_is_one_row(function: str) -> None:
    from pyspark.sql import functions

    assert callable(getattr(functions, function))
    assert unbounded_collects(f"df.select(F.{function}('x')).collect()", "etl.py") == []


@pytest.mark.parametrize("shortcut", ["agg", "count", "sum", "max", "min", "avg", "mean"])
def test_grouped_data_shortcuts_bound_only_without_keys(shortcut: str) -> None:
    from pyspark.sql.group import GroupedData

    assert callable(getattr(GroupedData, shortcut))
    assert unbounded_collects(f"df.groupBy().{shortcut}('x').collect()", "etl.py") == []
    assert len(unbounded_collects(f"df.groupBy('k').{shortcut}('x').collect()", "etl.py")) == 1


@pytest.mark.parametrize(("method", "kind"), [
    ("join", "multiplying"), ("crossJoin", "multiplying"), ("union", "multiplying"), ("unionAll", "multiplying"),
    ("unionByName", "multiplying"), ("groupBy", "grouping"), ("groupby", "grouping"), ("rollup", "grouping"),
    ("cube", "grouping"), ("groupingSets", "grouping"), ("summary", "small"), ("describe", "small")])
def test_dataframe_methods_that_change_the_row_count(method: str, kind: str) -> None:
    from pyspark.sql import DataFrame

    assert callable(getattr(DataFrame, method))
    if kind == "multiplying":  # undoes a limit before it
        assert len(unbounded_collects(f"df.limit(5).{method}(other).collect()", "etl.py")) == 1
    elif kind == "grouping":  # with keys: one row per key, even through a shortcut
        assert len(unbounded_collects(f"df.{method}('k').count().collect()", "etl.py")) == 1
        assert unbounded_collects(f"df.{method}().count().collect()", "etl.py") == []
    else:
        assert unbounded_collects(f"df.{method}().collect()", "etl.py") == []
